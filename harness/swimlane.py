"""The swim-lane trace: one column per thread, steps and virtual time flowing
down, the two critical events and the failure window marked, and the key
counters beside each step.  Every word about what the events mean comes
from the target's descriptor (Target.roles, .window, .wait); a program
target's rows also name their call site, `function (file:line)`."""
from __future__ import annotations

import re
from typing import Optional

from rich import box
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from .execution import Execution, TraceEvent

HIDDEN_LABELS = {"TIMER", "RUN"}  # shown only in the full trace
OUTPUT_LINES = 5  # of a program's output, under the verdict


def describe_value(e: TraceEvent, target: object = None) -> str:
    d = e.description
    if e.kind != "op":
        return ""
    said = target.value_text(e.label, e.value) if target is not None else None  # type: ignore[attr-defined]
    if said is not None:
        return said
    if "trylock" in d or "CAS" in d:
        return " ok" if e.value else " FAILED"
    if "xchg" in d:
        return f" (was {e.value})"
    if re.search(r"\bread\b", d):  # the word: "thread" is no read
        return f" = {e.value}"
    if any(op in d for op in ("++", "--", "+=", "-=")):
        return f" -> {e.value}"
    return ""


def summary(ex: Execution) -> list[Text]:
    """The verdict in a few lines: what failed, the critical events, the wait."""
    v = ex.verdict
    lines = []
    if v.ok:
        lines.append(Text(f"OK on {ex.variant}: no failure ({ex.steps} steps)", style="bold green"))
        return lines
    lines.append(Text.assemble((f"{v.kind}", "bold red"), f" on {ex.variant}: {v.detail}"))
    lines.append(Text(f"signature {v.signature}", style="dim"))
    roles = ex.target.roles(v)
    for name, crit, role in zip("AB", v.critical, roles):
        if crit:
            lines.append(
                Text.assemble(
                    (f"  {name}", "bold magenta"),
                    f"  step {crit.step:<4} thread {crit.thread}  {crit.description}",
                    (f"  {site}" if (site := site_of(ex, crit)) else "", "cyan"),
                    (f"  ({role})" if role else "", "dim"),
                )
            )
    wait = ex.target.wait(ex)
    if wait is not None:
        lines.append(Text(f"  {wait.line}", style="yellow"))
    out = ex.output.decode("utf-8", "replace").splitlines()
    if out:  # a program's own last words
        shown = out[-OUTPUT_LINES:]
        lines.append(Text(f"  program output{' (last lines)' if len(out) > len(shown) else ''}:", style="dim"))
        lines += [Text("    " + "".join(c if c.isprintable() else "?" for c in line), style="dim") for line in shown]
    return lines


def site_of(ex: Execution, crit: object) -> str:
    """The call site of a critical event's trace record ("" when the target has none)."""
    step, label = getattr(crit, "step", None), getattr(crit, "label", None)
    for e in ex.trace:
        if e.step == step and e.label == label:
            return e.site
    return ""


def render(ex: Execution, *, full: bool = False, width: Optional[int] = None) -> Group:
    v = ex.verdict
    crit = {(c.step, c.label): name for name, c in zip("AB", v.critical) if c}
    marked = ex.target.window(v) is not None
    window_from = max((c.step for c in v.critical if c), default=None) if marked else None
    names = ex.counter_names
    threads = ex.nthreads

    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, expand=False)
    table.add_column("", width=1, no_wrap=True)
    table.add_column("step", justify="right", no_wrap=True)
    table.add_column("t", justify="right", no_wrap=True)
    for t in range(threads):
        table.add_column(f"thread {t}", no_wrap=False, min_width=24, ratio=1)
    table.add_column("  ".join(n for n in names), no_wrap=True, style="dim")

    prev: Optional[tuple[int, ...]] = None
    last_fn: dict[Optional[int], str] = {}
    for e in ex.trace:
        if not full and e.label in HIDDEN_LABELS:
            continue
        if e.kind == "clock":
            table.add_row("", "", str(e.time), *([Text("·" * 3 + f" clock -> t={e.time}", style="cyan")] + [""] * (threads - 1)), "")
            continue
        mark = crit.get((e.step, e.label))
        in_window = window_from is not None and e.step >= window_from
        text = Text()
        if e.request is not None:
            text.append(f"r{e.request} ", style="bold")
        fn, sep, rest = e.description.partition(": ")
        if sep and last_fn.get(e.thread) == fn:
            text.append("  " + rest + describe_value(e, ex.target))  # same function as the row above
        else:
            text.append(e.description + describe_value(e, ex.target))
        if e.site:
            text.append(f"  {e.site}", style="cyan")
        last_fn[e.thread] = fn if sep else ""
        style = ""
        if mark:
            text.append(f"  <-- {mark}", style="bold magenta")
            style = "bold red"
        elif e.kind == "fail":
            text = Text(f"{v.kind}: {v.detail}", style="bold red")
        elif e.kind == "block":
            text = Text(f"waits for lock {e.value}", style="yellow")
        elif e.kind == "note":
            style = "italic"
        cells: list = [""] * threads
        cells[e.thread if e.thread is not None else 0] = Text(text.plain, style=style) if style and not mark else text
        if mark:
            cells[e.thread if e.thread is not None else 0].stylize("bold red", 0, len(text.plain) - 7)
        counters = Text()
        for i, (n, c) in enumerate(zip(names, e.counters)):
            if i:
                counters.append(" " * 2)
            changed = prev is not None and prev[i] != c
            counters.append(str(c).rjust(len(n)), style="bold yellow" if changed else "dim")
        prev = e.counters
        gutter = Text("┃", style="red") if in_window else Text("")
        table.add_row(gutter, str(e.step), str(e.time), *cells, counters)
    return Group(*summary(ex), table)


def print_trace(ex: Execution, console: Optional[Console] = None, *, full: bool = False) -> None:
    console = console or make_console()
    console.print(render(ex, full=full))


def make_console() -> Console:
    """A console wide enough for swim-lanes, also when writing to a pipe or file."""
    c = Console(highlight=False)
    if not c.is_terminal:
        c = Console(highlight=False, width=max(c.width, 200))
    return c
