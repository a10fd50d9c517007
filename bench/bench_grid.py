#!/usr/bin/env python3
"""Grid benchmark: time to the first seed-path STUCK on pre-fix when the
generated arrivals sit on a 10 ms grid, on whole milliseconds, or on
continuous times (microseconds), each with and without timer jitter, in one
run.  A seed-path STUCK is a STUCK on the server (backend) queue that the
server (backend) half of 5541d4995 removes (harness/attribution.py); the
attribution's own executions are not counted.  Campaign conventions: PCT by
default, 16 schedules per generated workload, seeds 0..N-1; median executions
and seconds over seeds (a seed that misses counts as the cap), and executions
per find (all executions spent, misses included, over the seeds that found
it: the rate's estimate, far less noisy than a median of 7 when the count to
a find is roughly geometric); the ratios compare executions per find, which
the machine's load does not change.

    python bench/bench_grid.py [--seeds 5] [--cap 10] [--runs N] [--strategy pct]
"""
from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import time

from harness.attribution import attribute
from harness.engines.campaign import schedule_seed
from harness.engines.energy import Energy, features_kept, zero_features
from harness.runner import run_schedules
from harness.schedulers import make
from harness.targets import get

PATHS = {"server-queue": "5541d4995/server", "backend-queue": "5541d4995/backend"}
# (label, mix, grid, jitter: None = the generator's default window, 0 = off)
# every grid with and without jitter, on both mixes (the first row is the reference)
CONFIGS = (
    ("basic mix, 10 ms grid, no jitter (pre-fix's campaigns before 2026-12)", "basic", "10ms", 0),
    ("basic mix, 10 ms grid, jitter 10 ms", "basic", "10ms", 10),
    ("basic mix, 1 ms grid, no jitter", "basic", "1ms", 0),
    ("basic mix, 1 ms grid, jitter 10 ms", "basic", "1ms", None),
    ("basic mix, continuous (µs), no jitter", "basic", "continuous", 0),
    ("basic mix, continuous (µs), jitter 10 ms", "basic", "continuous", None),
    ("generic mix, 10 ms grid, no jitter", "generic", "10ms", 0),
    ("generic mix, 10 ms grid, jitter 10 ms", "generic", "10ms", 10),
    ("generic mix, 1 ms grid, no jitter", "generic", "1ms", 0),
    ("generic mix, 1 ms grid, jitter 10 ms (the default)", "generic", "1ms", None),
    ("generic mix, continuous (µs), no jitter", "generic", "continuous", 0),
    ("generic mix, continuous (µs), jitter 10 ms", "generic", "continuous", None),
)


def first_seed_paths(target, mix: str, grid: str, jitter, strategy: str, seed: int, cap: float,
                     max_runs: int | None = None) -> dict[str, tuple[int, float]]:
    """Path -> (executions, search seconds) of its first seed-path STUCK, within
    `cap` search seconds (and `max_runs` executions); "spent" -> what the
    search used in all."""
    found: dict[str, tuple[int, float]] = {}
    seen: set[tuple[str, str]] = set()  # (signature, workload) already attributed
    spent = 0.0  # attribution time, not search
    start = time.monotonic()
    i = n = longest = 0
    w = None
    energy = Energy()
    variant = target.variant("pre-fix")
    zero_features()
    while len(found) < len(PATHS) and time.monotonic() - start - spent < cap and (max_runs is None or i < max_runs):
        if w is None or energy.spent:  # as a seeded campaign draws them (harness/engines/campaign.py)
            rnd = random.Random(schedule_seed(seed, n))
            w, energy, n = target.workload(target.generate(rnd, mix, grid=grid, jitter=jitter)), Energy(), n + 1
            longest = 0
        count = energy.granted - energy.used if max_runs is None else min(energy.granted - energy.used, max_runs - i)
        hits, ex, longest = run_schedules(target, variant, w, lambda s: make(strategy, s), schedule_seed(seed, i),
                                          count, longest=longest)
        i += len(hits)
        for h in hits:
            energy.ran(h)
        if ex is None:
            continue
        v = ex.verdict
        if v.kind != "STUCK" or v.path not in PATHS or v.path in found:
            continue
        key = (v.signature, repr(w.data))
        if key in seen:
            continue
        seen.add(key)
        t0 = time.monotonic()
        with features_kept():
            removed = attribute(ex).removes(PATHS[v.path])
        spent += time.monotonic() - t0
        if removed:
            found[v.path] = (i, time.monotonic() - start - spent)
    found["spent"] = (i, time.monotonic() - start - spent)
    return found


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--cap", type=float, default=10.0, help="search seconds per seed and configuration")
    ap.add_argument("--runs", type=int, help="also cap each search at this many executions (figures that do not "
                    "depend on the machine's load)")
    ap.add_argument("--strategy", default="pct")
    args = ap.parse_args()
    target = get("haproxy_queue")
    with open("/proc/loadavg") as f:
        load = " ".join(f.read().split()[:3])
    print(f"qfuzz grid benchmark, {time.strftime('%Y-%m-%d %H:%M')}, {platform.machine()}, "
          f"{len(os.sched_getaffinity(0))} CPUs, load average {load}; pre-fix, {args.strategy}, "
          f"{args.seeds} seeds, cap {args.cap:g} s" + (f" and {args.runs:,} executions" if args.runs else "") + "\n")
    print("| arrivals | server queue: median executions / s, executions per find (found) | backend queue: the same |"
          " executions per find, ratio to the first row (server / backend) |")
    print("|---|---|---|---|")
    reference: dict[str, float] = {}
    for label, mix, grid, jitter in CONFIGS:
        runs = [first_seed_paths(target, mix, grid, jitter, args.strategy, s, args.cap, args.runs) for s in range(args.seeds)]
        cells, ratios = [], []
        for path in PATHS:
            hits = [r[path] for r in runs if path in r]
            execs = statistics.median([h[0] for h in hits] + [float("inf")] * (args.seeds - len(hits)))
            secs = statistics.median([h[1] for h in hits] + [args.cap] * (args.seeds - len(hits)))
            per_find = sum(r[path][0] if path in r else r["spent"][0] for r in runs) / max(1, len(hits))
            missed = len(hits) * 2 <= args.seeds
            cells.append(("> cap" if missed else f"{execs:,.0f} / {secs:.2f} s, {per_find:,.0f}") + f" ({len(hits)}/{args.seeds})")
            reference.setdefault(path, per_find if hits else float("inf"))
            ratios.append("-" if missed or reference[path] == float("inf") else f"{per_find / reference[path]:.1f}x")
        print(f"| {label} | {cells[0]} | {cells[1]} | {' / '.join(ratios)} |", flush=True)
    with open("/proc/loadavg") as f:
        print(f"\nload average at the end: {' '.join(f.read().split()[:3])}")


if __name__ == "__main__":
    main()
