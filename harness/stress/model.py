"""qfuzz stress TARGET (a model target such as haproxy_queue): the target's C
code on free-running threads in real time, the way the seed bug was seen in
the wild.  Rounds of workloads run until --time; every stuck request (or
other failure) is printed with the events around it and saved as a stress
report.  Exit status: 1 if anything failed, 0 if not, 2 on bad input."""
from __future__ import annotations

import argparse
import sys
from typing import Callable, NoReturn, Optional

from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from ..errors import QfuzzError
from .model_engine import MAX_THREADS, Settings, StressFailure, StressResult, stress

__all__ = ["main", "stress", "Settings", "StressFailure", "StressResult"]

PROG = "qfuzz stress"
DEFAULT_TIME = 10.0
DEFAULT_REPORTS = "reports"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit 2
        self.exit(2, f"{PROG}: error: {message}\n")


def _number(kind: Callable[[str], float], lo: float, hi: Optional[float] = None, *,
            open_lo: bool = False) -> Callable[[str], float]:
    """An argparse type: a number of `kind` in lo..hi (above lo with open_lo)."""

    def parse(s: str) -> float:
        try:
            v = kind(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{s!r} is not {'an integer' if kind is int else 'a number'}") from None
        if (v <= lo if open_lo else v < lo) or (hi is not None and v > hi):
            bound = f"above {lo:g}" if open_lo else f"at least {lo:g}"
            raise argparse.ArgumentTypeError(f"{s!r} must be {bound}" + (f" and at most {hi:g}" if hi is not None else ""))
        return v

    return parse


def build_parser() -> _Parser:
    d = Settings()
    p = _Parser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("target", help="a model target (qfuzz list shows them)")
    p.add_argument("--variant", required=True)
    p.add_argument("--time", type=_number(float, 0, open_lo=True), default=DEFAULT_TIME,
                   help=f"seconds to run (default {DEFAULT_TIME:g})")
    p.add_argument("--threads", type=_number(int, 1, MAX_THREADS),
                   help="deal each workload's requests over this many threads (default: the workload's own)")
    p.add_argument("--noise", type=_number(float, 0, 1), default=d.noise,
                   help=f"probability that a schedule point first spins a while (default {d.noise:g})")
    p.add_argument("--noise-us", type=_number(float, 0), default=d.noise_us,
                   help=f"the longest such spin, in microseconds (default {d.noise_us:g})")
    p.add_argument("--seed", type=int, default=d.seed, help="workload mix and noise seed (default 0)")
    p.add_argument("--workload", help="a workload JSON file (default: the target's seed workloads and its mix)")
    p.add_argument("--scale", type=_number(float, 0, open_lo=True), default=d.scale_us, metavar="US",
                   help=f"real microseconds per unit of workload time (default {d.scale_us:g})")
    p.add_argument("--hang", type=_number(float, 0, open_lo=True), default=d.hang, metavar="S",
                   help=f"CPU seconds one task may use before it is DEADLOCK or LIVELOCK (default {d.hang:g})")
    p.add_argument("--report", default=DEFAULT_REPORTS, metavar="DIR",
                   help=f"stress reports go to DIR/TARGET/ (default {DEFAULT_REPORTS})")
    p.add_argument("--no-events", action="store_true", help="do not print the events around the first STUCK of each path")
    return p


def main(argv: list[str], console: Console) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error, already printed on one line (2)
        return exc.code if isinstance(exc.code, int) else 2
    try:
        return _run(args, console)
    except QfuzzError as exc:
        sys.stderr.write(f"{PROG}: error: {exc}\n")
        return 2


def _run(args: argparse.Namespace, console: Console) -> int:
    from .. import __version__
    from ..reproducer import load_workload
    from ..targets import get

    target = get(args.target)
    variant = target.variant(args.variant)
    workload = load_workload(args.workload, target.name) if args.workload else None
    mix = f"workload {args.workload}" if args.workload else "its seed workloads and workload mix"
    console.print(
        f"qfuzz {__version__}: stress {target.name} variant [bold]{variant.name}[/] on free-running threads, {mix}, "
        f"{args.time:g} s, threads {args.threads or 'as in each workload'}, noise {args.noise:g} (up to "
        f"{args.noise_us:g} us), 1 time unit = {args.scale:g} us, seed {args.seed}"
    )
    status = Text()

    def tick(r: StressResult) -> None:
        other = len(r.failures) - r.stuck
        status.plain = (
            f"rounds {r.rounds:,}   requests {r.requests:,}   req/s {r.requests_per_second:,.0f}   "
            f"STUCK {r.stuck}" + (f"   other failures {other}" if other else "") + f"   {r.seconds:.1f}/{args.time:g} s"
        )
        live.refresh()

    def new(f: StressFailure) -> None:
        if f.new:
            known = variant.explains(f.kind, f.path, *f.verdict.labels)
            line = Text.assemble(
                ("NEW ", "bold red"), (f.signature, "bold"), f"  after {f.seconds:.2f} s (round {f.round:,})  ",
                (f"known: {known.why}" if known else "UNEXPECTED on this variant", "dim" if known else "bold yellow"),
            )
            live.console.print(line)
            if f.report:
                live.console.print(f"    stress report: {f.report}")

    with Live(status, console=console, refresh_per_second=4, transient=True) as live:
        result = stress(
            target, variant.name, args.time, args.threads, args.noise, args.seed, workload,
            noise_us=args.noise_us, scale_us=args.scale, hang=args.hang, report_dir=args.report,
            on_tick=tick, on_failure=new,
        )
    first = f" (first after {result.first_failure_seconds:.2f} s)" if result.first_failure_seconds is not None else ""
    console.print(
        f"done: {result.rounds:,} rounds, {result.requests:,} requests in {result.seconds:.1f} s "
        f"({result.requests_per_second:,.0f} requests/s); STUCK {result.stuck}, failures {len(result.failures)}{first}"
    )
    if result.wedged:
        console.print("[bold yellow]a thread never reached a schedule point after the verdict: stopped early, this "
                      "process can run no more rounds (a data race in the target can do this: docs/stress.md)[/]")
    if not result.failures:
        return 0
    groups = result.by_signature()
    table = Table(title="failures", title_justify="left", box=None, header_style="dim")
    for col in ("signature", "count", "first at", "expected", "stress report"):
        table.add_column(col)
    for sig, fs in groups.items():
        known = variant.explains(fs[0].kind, fs[0].path, *fs[0].verdict.labels)
        table.add_row(sig, str(len(fs)), f"{fs[0].seconds:.2f} s (round {fs[0].round:,})",
                      known.why.split(":")[0] if known else "UNEXPECTED", str(fs[0].report or "-"))
    console.print(table)
    if not args.no_events:
        from .model_report import render

        shown: set[str] = set()
        for fs in groups.values():
            key = f"{fs[0].kind}:{fs[0].path}"
            if key not in shown and fs[0].events and fs[0].kind == "STUCK":
                shown.add(key)
                console.rule(fs[0].signature)
                console.print(render(fs[0], target))
    return 1
