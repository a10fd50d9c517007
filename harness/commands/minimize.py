"""qfuzz minimize: shrink reproducers (or libFuzzer crash files, with
--target and --variant) to what their failure needs."""
from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from ..errors import QfuzzError
from ..minimizer import EFFORT
from .common import positive_float, positive_int, writable_dir, writable_file

HELP = "shrink reproducers and crash files"


def add_arguments(mn: argparse.ArgumentParser) -> None:
    mn.add_argument("files", nargs="+", help="reproducers, libFuzzer crash files, or directories of them")
    mn.add_argument("-o", "--output", help="where to write: a file for one input, a directory for several "
                                           "(default: next to each input, NAME.min.json)")
    mn.add_argument("--time", type=positive_float, default=5.0, help="seconds to spend on each, at most (default 5)")
    mn.add_argument("--effort", type=positive_int, default=EFFORT,
                    help=f"fresh schedules to try per smaller workload (default {EFFORT})")
    mn.add_argument("--target", help="the target of libFuzzer crash files (raw bytes)")
    mn.add_argument("--variant", help="the variant of libFuzzer crash files")
    mn.add_argument("--workload", help="for crash files of a run with a pinned workload: that file")


def run(args: argparse.Namespace, console: Console) -> int:
    from ..inputs import expand, load
    from ..minimizer import minimize
    from ..reproducer import from_execution, write_new

    paths = expand(args.files)
    workload = Path(args.workload) if args.workload else None
    inputs = [load(p, args.target, args.variant, workload) for p in paths]  # all checked first
    for inp in inputs:
        if inp.reproducer is None:
            raise QfuzzError(f"{inp.path}: a {inp.kind} reproducer has no schedule to shrink; replay it with qfuzz repro")
    out = Path(args.output) if args.output else None
    # where each result goes, checked before any work (a bad -o is one line and exit 2)
    if out is not None and len(inputs) > 1:
        writable_dir(out, "-o")
        dests = [out / f"{inp.path.stem}.min.json" for inp in inputs]
    else:
        dests = [out or inp.path.with_name(f"{inp.path.stem}.min.json") for inp in inputs]
    for d in dests:
        writable_file(d, "-o" if out is not None else "output")
    if out is not None and len(inputs) > 1:
        out.mkdir(parents=True, exist_ok=True)
    for inp, target in zip(inputs, dests):
        rep = inp.reproducer
        if rep is None:
            raise QfuzzError(f"{inp.path}: has no schedule to shrink")
        ex = rep.replay(trace=False)
        if ex.verdict.ok or (inp.kind == "reproducer" and ex.verdict.signature != rep.signature):
            raise QfuzzError(f"{inp.path}: does not reproduce its failure ({rep.signature}); nothing to minimize")
        m = minimize(ex, seconds=args.time, effort=args.effort)
        small = from_execution(m.execution, found=rep.found)
        small.minimized = {"before": m.before.to_json(), "after": m.after.to_json()}
        console.print(f"{inp.path}: {ex.verdict.signature}")
        console.print(f"  before: {m.before}")
        console.print(f"  after:  {m.after}   ({m.runs} replays, {m.seconds:.2f} s)")
        if not write_new(target, small.dumps()):
            raise QfuzzError(f"{target}: already exists; choose another -o")
        console.print(f"  written: {target}")
    return 0
