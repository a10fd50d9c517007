#!/usr/bin/env python3
"""Core benchmark: executions/s per strategy on the seed workload, the core's
one-way hand-off cost next to a bare pinned futex ping-pong, and the
executions and seconds to the first STUCK per strategy and path on pre-fix.

Every figure is measured in this one run (these machines are noisy: compare
the ratios, not the absolute numbers)."""
from __future__ import annotations

import argparse
import platform
import statistics
import time

import harness
from harness.engines.campaign import Campaign
from harness.native import core
from harness.pinning import default_cpu
from harness.schedulers import make
from harness.targets import get

HQ = get("haproxy_queue")
SEEDS = HQ.seed_workloads()
PATHS = {"server-queue": "seed-hash", "backend-queue": "seed-roundrobin"}


def exec_rate(strategy: str, seconds: float, cpu: int) -> float:
    w = HQ.workload(SEEDS["seed-roundrobin"])
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(200):
            harness.run(HQ, "pre-fix", w, make(strategy, n), trace=False, cpu=cpu)
            n += 1
    return n / (time.perf_counter() - start)


def handoff_ns(cpu: int, rounds: int = 200_000) -> tuple[float, float]:
    bare = min(core.futex_pingpong(rounds, cpu) for _ in range(3))
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        ex = harness.run("pingpong", "default", {"rounds": rounds}, harness.Replay(b"\x01" * (2 * rounds + 8)),
                         trace=False, cpu=cpu)
        best = min(best, (time.perf_counter() - t) / ex.switches * 1e9)
    return bare, best


def first_stuck(strategy: str, path: str, seed: int, cap: float) -> tuple[int, float] | None:
    c = Campaign(HQ, "pre-fix", strategy, seed=seed, workload=HQ.workload(SEEDS[PATHS[path]]), minimize_seconds=0)
    r = c.run(seconds=cap, stop=lambda f: f.kind == "STUCK" and f.path == path)
    f = next((f for f in r.findings.values() if f.kind == "STUCK" and f.path == path), None)
    return (f.first_execution, f.first_seconds) if f else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=3.0, help="per exec/s measurement")
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--cap", type=float, default=30.0, help="seconds before a search counts as a miss")
    args = ap.parse_args()
    cpu = default_cpu()
    print(f"qfuzz {harness.__version__} core benchmark, {time.strftime('%Y-%m-%d %H:%M')}, "
          f"{platform.machine()}, {len(__import__('os').sched_getaffinity(0))} CPUs, executions pinned to CPU {cpu}")

    print("\n1. executions/s, seed workload (2 threads, 1 server, maxconn 1, 6 requests), pre-fix, trace off")
    for s in ("random", "pct", "pos"):
        print(f"   {s:7s} pinned {exec_rate(s, args.seconds, cpu):9,.0f}/s   unpinned {exec_rate(s, args.seconds / 3, -1):9,.0f}/s")

    bare, ours = handoff_ns(cpu)
    print("\n2. one-way hand-off between two threads on one CPU")
    print(f"   bare futex ping-pong {bare:7.0f} ns   qfuzz core (pingpong target, a switch at every point) "
          f"{ours:7.0f} ns   ratio {ours / bare:.2f}x")

    print(f"\n3. first STUCK on pre-fix, {args.seeds} seeds per cell (median; misses after {args.cap:g} s counted)")
    for path in PATHS:
        for s in ("random", "pct", "pos"):
            hits = [first_stuck(s, path, seed, args.cap) for seed in range(args.seeds)]
            found = [h for h in hits if h]
            if not found:
                print(f"   {path:14s} {s:7s} not found in {args.seeds} x {args.cap:g} s")
                continue
            execs = statistics.median(h[0] for h in found)
            secs = statistics.median(h[1] for h in found)
            print(f"   {path:14s} {s:7s} median {execs:8,.0f} executions  {secs * 1000:8.1f} ms   "
                  f"found {len(found)}/{args.seeds}")


if __name__ == "__main__":
    main()
