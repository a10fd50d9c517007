"""What a stress failure leaves behind: the events around it (decoded from
the threads' ring buffers), a JSON stress report written atomically and
never over another one, and a swim-lane view for the console."""
from __future__ import annotations

import json
import os
import platform
import struct
from dataclasses import asdict, dataclass
from itertools import count
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from rich import box
from rich.console import Group
from rich.table import Table
from rich.text import Text

from .. import __version__
from ..corpus import slug
from ..execution import EVENT_KINDS, CriticalEvent, TraceEvent, Verdict
from ..reproducer import now_iso, write_new
from ..swimlane import describe_value
from ..target import Target

if TYPE_CHECKING:
    from .model_engine import Settings, StressFailure, StressResult

REPORT_FORMAT = "qfuzz-stress-report"
REPORT_VERSION = 1
CONTEXT = 10  # events kept before and after each critical event
TAIL = 16  # events kept before the verdict
MAX_BETWEEN = 160  # events between the two critical events kept in full up to this many
HIDDEN = {"TIMER", "IDLE"}  # left out of the console view (kept in the report)


@dataclass(frozen=True)
class StressEvent:
    us: float  # microseconds since the round's time 0
    time: int  # in workload time units
    thread: int
    request: Optional[int]
    kind: str  # op, note, timer, block, fail
    label: str
    description: str
    value: int
    stamp: int  # what qf_step() returned just after it: 16 ns ticks since time 0
    mark: str = ""  # "A" or "B": one of the verdict's two critical events
    gap: bool = False  # events were left out just before this one

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["us"] = round(self.us, 3)
        return d

    def trace_event(self) -> TraceEvent:
        return TraceEvent(self.stamp, self.time, self.thread, self.kind, self.label, self.description, self.request,
                          self.value, ())


def decode_events(target: Target, raw: bytes, fmt: str, scale_us: float) -> list[StressEvent]:
    out = []
    for ns, label, value, request, thread, kind, _pad in struct.iter_unpack(fmt, raw):
        ident, desc = target.label(label)
        out.append(
            StressEvent(
                us=ns / 1000, time=max(0, int(ns // (scale_us * 1000))), thread=thread,
                request=request if request >= 0 else None,
                kind=EVENT_KINDS[kind] if kind < len(EVENT_KINDS) else str(kind), label=ident, description=desc,
                value=value, stamp=min(max(ns >> 4, 0), 0x7FFFFFFF),
            )
        )
    return out


def _locate(events: list[StressEvent], crit: Optional[CriticalEvent]) -> Optional[int]:
    """The event a critical event names: the thread's operation with that
    stamp, or the note with the critical label that follows it closely."""
    if crit is None:
        return None
    for i in range(len(events) - 1, -1, -1):
        e = events[i]
        if e.thread == crit.thread and e.kind == "op" and e.stamp == crit.step:
            if e.label == crit.label:
                return i
            seen = 0
            for j in range(i + 1, len(events)):  # the target notes the decision right after the check
                if events[j].thread != crit.thread:
                    continue
                if events[j].label == crit.label:
                    return j
                seen += 1
                if seen >= 3:
                    break
            return i
    return None


def select_events(events: list[StressEvent], verdict: Verdict) -> list[StressEvent]:
    """The events around the critical events and just before the verdict."""
    if not events:
        return []
    marks = {}
    for name, crit in zip("AB", verdict.critical):
        i = _locate(events, crit)
        if i is not None:
            marks[i] = name
    keep: set[int] = set()
    if marks:
        lo, hi = min(marks), max(marks)
        if hi - lo <= MAX_BETWEEN:
            keep.update(range(lo, hi + 1))
        for i in marks:
            keep.update(range(i - CONTEXT, i + CONTEXT + 1))
    keep.update(range(len(events) - TAIL, len(events)))
    out = []
    prev = None
    for i in sorted(k for k in keep if 0 <= k < len(events)):
        e = events[i]
        mark = marks.get(i, "")
        gap = (prev is not None and i != prev + 1) or (prev is None and i > 0)
        if mark or gap:
            e = StressEvent(**{**asdict(e), "mark": mark, "gap": gap})
        out.append(e)
        prev = i
    return out


# -- the report file ----------------------------------------------------------------


def report_json(
    target: Target, variant: str, settings: Settings, f: StressFailure, so_far: StressResult
) -> dict[str, Any]:
    return {
        "format": REPORT_FORMAT,
        "version": REPORT_VERSION,
        "qfuzz": __version__,
        "target": target.name,
        "variant": variant,
        "date": now_iso(),
        "host": {"node": platform.node(), "cpus": os.cpu_count(), "python": platform.python_version()},
        "settings": settings.to_json(),
        "found": {
            "round": f.round,
            "seconds": round(f.seconds, 3),
            "round_seconds": round(f.round_seconds, 6),
            "rounds": so_far.rounds,
            "requests": so_far.requests,
        },
        "verdict": f.verdict.to_json(),
        "workload": f.workload.to_json(),
        "events": [e.to_json() for e in f.events],
        "notes": (
            "times: 'time' in workload units, 'us' in microseconds since the round's time 0; the verdict's "
            "critical 'step' values are qf_step() stamps (16 ns ticks since time 0), matched by the events' 'stamp'; "
            "events marked 'gap' follow left-out ones"
        ),
    }


def write_report(root: Path, target: Target, variant: str, settings: Settings, f: StressFailure,
                 so_far: StressResult) -> Path:
    """Write the report under root/<target>/, atomically, never over an existing file."""
    text = json.dumps(report_json(target, variant, settings, f, so_far), indent=1) + "\n"
    stamp = now_iso().replace(":", "").replace("-", "").replace("+0000", "Z")
    base = f"stress-{stamp}-{slug(f.signature)}"
    for k in count(1):
        path = root / target.name / (f"{base}.json" if k == 1 else f"{base}-{k}.json")
        if write_new(path, text):
            return path
    raise AssertionError("unreachable")


# -- the console view ---------------------------------------------------------------------


def summary(f: StressFailure, target: Target) -> list[Text]:
    v = f.verdict
    lines = [
        Text.assemble((v.kind, "bold red"), f" in round {f.round} ({f.seconds:.2f} s into the run): {v.detail}"),
        Text(f"signature {v.signature}", style="dim"),
    ]
    roles = target.roles(v)  # the target's words for A and B (the generic layer has none)
    for name, crit, role in zip("AB", v.critical, roles):
        if not crit:
            continue
        at = next((e for e in f.events if e.mark == name), None)
        if crit.thread < 0:  # an invariant, checked at a quiescent point
            where = ""
        elif at:
            where = f"  thread {crit.thread} at {at.us:.1f} us (t={at.time})"
        else:
            where = f"  thread {crit.thread} (its event is no longer in the ring)"
        lines.append(Text.assemble((f"  {name}", "bold magenta"), f"{where}  {crit.description}",
                                   (f"  ({role})" if role else "", "dim")))
    if v.kind == "STUCK":
        lines.append(Text(f"  stranded from t={v.stranded_at}, timed out at t={v.failed_at}", style="yellow"))
    text = json.dumps(f.workload.to_json(), separators=(",", ":"))
    lines.append(Text(f"  workload {text if len(text) <= 600 else text[:600] + ' ...'}", style="dim"))
    return lines


def render(f: StressFailure, target: Target) -> Group:
    """The failure's events as swim lanes: one column per thread, real time down."""
    threads = max([e.thread for e in f.events] + [int(f.workload.data.get("threads", 1)) - 1]) + 1
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    table.add_column("", width=1, no_wrap=True)
    table.add_column("us", justify="right", no_wrap=True)
    table.add_column("t", justify="right", no_wrap=True)
    for t in range(threads):
        table.add_column(f"thread {t}", min_width=24, ratio=1)
    for e in f.events:
        if e.label in HIDDEN and not e.mark:
            continue
        if e.gap:
            table.add_row("", "...", "", *[""] * threads)
        text = Text()
        if e.request is not None:
            text.append(f"r{e.request} ", style="bold")
        if e.kind == "fail":
            text.append(f"{f.verdict.kind}", style="bold red")
        elif e.kind == "block":
            text.append(f"waits for lock {e.value}", style="yellow")
        else:
            text.append(e.description + describe_value(e.trace_event()), style="italic" if e.kind == "note" else "")
        if e.mark:
            text.stylize("bold red")
            text.append(f"  <-- {e.mark}", style="bold magenta")
        cells: list[Any] = [""] * threads
        cells[e.thread] = text
        table.add_row("", f"{e.us:.1f}", str(e.time), *cells)
    return Group(*summary(f, target), table)
