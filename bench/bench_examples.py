#!/usr/bin/env python3
"""The futex worker pool (examples/worker_pool.c, built out of tree from a
copy), its lost wake-up (-DVARIANT=1): executions and milliseconds to the
first one per strategy, median over --seeds campaign seeds (each capped at
--cap seconds, minimization off while timing: it is not search), then the
size of the reproducer the minimizer makes of one finding.  Then the same
for the lost wake-ups injected into the real codes of harness.realcode
(libuv's thread pool, liburcu's call_rcu; fetched from Debian's source
packages, skipped with the reason when they cannot be), with PCT, plus the
time a campaign takes to find and minimize one.  Then the examples' bugs
PCT used to miss (the bounded buffer's `if` consumer, the ticket lock's
double ticket): executions to the first failure of that signature per
strategy, capped at --example-runs, with PCT both on its measured run
length (the default) and on the generic k = 200 it used before.  Prints
Markdown tables; the load average goes beside every figure because the
machine is shared.

    python bench/bench_examples.py [--seeds 10] [--cap 20] [--args "2 2 2"] [--no-realcode] [--example-runs 3000]
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from harness import realcode
from harness.engines.campaign import Campaign
from harness.errors import QfuzzError
from harness.minimizer import minimize
from harness.program import load

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
EXAMPLE = EXAMPLES / "worker_pool.c"
STRATEGIES = ("random", "pct", "pos")
# (file, buggy macro, main()'s arguments, the failure's signature pattern)
HARD_BUGS = [
    ("bounded_buffer.c", "-DVARIANT=1", "1 2 2 1", "FAIL:assert:*"),
    ("ticket_lock.c", "-DVARIANT=1", "2 2", "FAIL:assert:*"),
]
ROWS = [("random", {}), ("pct", {}), ("pct", {"k": 200}), ("pos", {})]  # pct k=200: the estimate before


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def first_lost_wakeup(target, strategy: str, seed: int, cap: float):
    c = Campaign(target, "buggy", strategy, seed=seed, minimize_seconds=0)
    r = c.run(seconds=cap, stop=lambda f: f.kind == "STUCK")
    stuck = [f for f in r.findings.values() if f.kind == "STUCK"]
    return (stuck[0].first_execution, stuck[0].first_seconds, stuck[0]) if stuck else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--cap", type=float, default=20.0, help="seconds per campaign before it counts as not found")
    ap.add_argument("--args", default="2 2 2", help="main()'s arguments: WORKERS PRODUCERS JOBS")
    ap.add_argument("--minimize-time", type=float, default=5.0)
    ap.add_argument("--no-realcode", action="store_true", help="only the worker pool")
    ap.add_argument("--example-runs", type=int, default=3000, help="executions per seed for the hard example bugs")
    opts = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / EXAMPLE.name
        shutil.copyfile(EXAMPLE, src)
        target = load([str(src)], args=[opts.args], variants=["buggy=-DVARIANT=1", "fixed=-DVARIANT=0"])
        t0 = time.monotonic()
        target.native_index("buggy")  # build (or take from the cache) and load before any clock starts
        print(f"worker_pool.c -DVARIANT=1, args {opts.args}: built and loaded in {time.monotonic() - t0:.2f} s; "
              f"{os.cpu_count()} cpus, load {loadavg()}\n")

        print(f"| strategy | found | median executions | median ms | min-max ms | load before/after |")
        print(f"|---|---|---|---|---|---|")
        sample = None
        for strategy in STRATEGIES:
            before = loadavg()
            hits = [first_lost_wakeup(target, strategy, seed, opts.cap) for seed in range(opts.seeds)]
            found = [h for h in hits if h]
            if strategy == "pct" and found:
                sample = found[0][2]
            if not found:
                print(f"| {strategy} | 0/{opts.seeds} | - | - | - | {before} / {loadavg()} |")
                continue
            execs = statistics.median(h[0] for h in found)
            ms = [h[1] * 1000 for h in found]
            print(f"| {strategy} | {len(found)}/{opts.seeds} | {execs:g} | {statistics.median(ms):.1f} | "
                  f"{min(ms):.1f}-{max(ms):.1f} | {before} / {loadavg()} |")

        if sample is None:
            print("\nno lost wake-up found with pct: nothing to minimize")
        else:
            report_minimized(sample, opts.minimize_time)
        if not opts.no_realcode:
            bench_realcode(Path(tmp), opts)
        bench_hard_bugs(Path(tmp), opts)


def bench_hard_bugs(tmp: Path, opts: argparse.Namespace) -> None:
    import fnmatch

    print(f"\n| example bug | strategy | found in {opts.example_runs} runs | median executions | load before/after |")
    print("|---|---|---|---|---|")
    for name, macro, args, pattern in HARD_BUGS:
        src = tmp / name
        shutil.copyfile(EXAMPLES / name, src)
        target = load([str(src)], args=[args], variants=[f"buggy={macro}"])
        target.native_index("buggy")
        for strategy, params in ROWS:
            before = loadavg()
            hits = []
            for seed in range(opts.seeds):
                c = Campaign(target, "buggy", strategy, seed=seed, params=params, minimize_seconds=0)
                r = c.run(runs=opts.example_runs, stop=lambda f: fnmatch.fnmatchcase(f.signature, pattern))
                hits += [f.first_execution for f in r.findings.values() if fnmatch.fnmatchcase(f.signature, pattern)][:1]
            label = strategy + (f" k={params['k']}" if "k" in params else " (measured k)" if strategy == "pct" else "")
            med = f"{statistics.median(hits):g}" if hits else "-"
            print(f"| {name} {macro} {args} | {label} | {len(hits)}/{opts.seeds} | {med} | {before} / {loadavg()} |")


def report_minimized(sample, seconds: float) -> None:
    m = minimize(sample.execution, seconds=seconds)
    ex = m.execution
    args = ex.workload.data["args"]
    counts = [*args, *["1"] * (3 - len(args))]  # every count the program is not given is 1
    print(f"\nminimized in {m.seconds:.2f} s ({m.runs} runs, load {loadavg()}): {ex.verdict.signature}; "
          f"args {' '.join(args) or '(none)'} = {counts[0]} worker(s), {counts[1]} producer(s), "
          f"{counts[2]} job(s) each; {ex.nthreads} threads, {ex.steps} steps, {len(ex.decisions)} decisions, "
          f"{ex.preemptions} preemption(s) (before: {m.before})")


def bench_realcode(tmp: Path, opts: argparse.Namespace) -> None:
    print("\n| real code | injection | found (pct) | median executions | median ms | find + minimize s | minimized | load |")
    print("|---|---|---|---|---|---|---|---|")
    for code in realcode.CODES.values():
        for inj in code.injections:
            try:
                prog = realcode.prepare(code.name, tmp / "realcode", inj.name)
            except QfuzzError as exc:
                print(f"| {code.name} | {inj.name} | skipped: {exc} | | | | | |")
                continue
            target = load([str(s) for s in prog.sources], cflags=" ".join(prog.cflags), args=[code.args])
            variant = next(iter(target.variants))
            target.native_index(variant)  # build and load outside the clocks
            hits = []
            for seed in range(opts.seeds):
                c = Campaign(target, variant, "pct", seed=seed, minimize_seconds=0)
                r = c.run(seconds=opts.cap, stop=lambda f: f.kind == "STUCK")
                hits += [(f.first_execution, f.first_seconds) for f in r.findings.values() if f.kind == "STUCK"][:1]
            t0 = time.monotonic()
            c = Campaign(target, variant, "pct", seed=0, minimize_seconds=opts.minimize_time)
            r = c.run(seconds=opts.cap, stop=lambda f: f.kind == "STUCK")
            took = time.monotonic() - t0
            stuck = [f for f in r.findings.values() if f.kind == "STUCK"]
            small = "-"
            if stuck:
                ex = stuck[0].execution
                small = f"args {' '.join(ex.workload.data['args']) or '(defaults)'}, {ex.preemptions} preemption(s)"
            if hits:
                print(f"| {code.name} | {inj.name} | {len(hits)}/{opts.seeds} | {statistics.median(h[0] for h in hits):g} | "
                      f"{statistics.median(h[1] * 1000 for h in hits):.1f} | {took:.2f} | {small} | {loadavg()} |")
            else:
                print(f"| {code.name} | {inj.name} | 0/{opts.seeds} | - | - | {took:.2f} | {small} | {loadavg()} |")


if __name__ == "__main__":
    main()
