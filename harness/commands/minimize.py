"""qfuzz minimize: shrink a reproducer to what its failure needs."""
from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from ..errors import QfuzzError
from .common import positive_float, positive_int

HELP = "shrink a reproducer"


def add_arguments(mn: argparse.ArgumentParser) -> None:
    mn.add_argument("file")
    mn.add_argument("-o", "--output", help="where to write it (default: next to the input, *.min.json)")
    mn.add_argument("--time", type=positive_float, default=5.0, help="seconds to spend at most (default 5)")
    mn.add_argument("--effort", type=positive_int, default=20000,
                    help="fresh schedules to try per smaller workload (default 20000)")


def run(args: argparse.Namespace, console: Console) -> int:
    from ..minimizer import minimize
    from ..reproducer import from_execution, load, write_new

    rep = load(args.file)
    ex = rep.replay(trace=False)
    if ex.verdict.signature != rep.signature:
        raise QfuzzError(f"{args.file}: does not reproduce its stored failure ({rep.signature}); nothing to minimize")
    m = minimize(ex, seconds=args.time, effort=args.effort)
    out = Path(args.output) if args.output else Path(args.file).with_suffix(".min.json")
    small = from_execution(m.execution, found=rep.found)
    small.minimized = {"before": m.before.to_json(), "after": m.after.to_json()}
    console.print(f"before: {m.before}")
    console.print(f"after:  {m.after}   ({m.runs} replays, {m.seconds:.2f} s)")
    if not write_new(out, small.dumps()):
        raise QfuzzError(f"{out}: already exists; choose another -o")
    console.print(f"written: {out}")
    return 0
