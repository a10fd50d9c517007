#!/usr/bin/env python3
"""Parallel scaling: executions/s of one worker process vs N (default: every
core), each pinned to its own CPU, on the same campaign work (pre-fix, PCT,
the workload mix, minimization off).  Prints the ratio, measured in one run."""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import time


def work(cpu: int, seed: int, seconds: float, out: "mp.Queue[int]") -> None:
    from harness.engines.campaign import Campaign
    from harness.pinning import set_cpu
    from harness.targets import get

    set_cpu(cpu)
    r = Campaign(get("haproxy_queue"), "pre-fix", "pct", seed=seed, minimize_seconds=0).run(seconds=seconds)
    out.put(r.executions)


def measure(jobs: int, seconds: float) -> float:
    ctx = mp.get_context("fork")
    cpus = sorted(os.sched_getaffinity(0))
    out: "mp.Queue[int]" = ctx.Queue()
    procs = [ctx.Process(target=work, args=(cpus[i % len(cpus)], i, seconds, out)) for i in range(jobs)]
    for p in procs:
        p.start()
    total = sum(out.get() for _ in procs)
    for p in procs:
        p.join()
    return total / seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--jobs", type=int, default=len(os.sched_getaffinity(0)))
    args = ap.parse_args()
    print(f"qfuzz parallel benchmark, {time.strftime('%Y-%m-%d %H:%M')}, {len(os.sched_getaffinity(0))} CPUs, "
          f"{args.seconds:g} s per measurement")
    one = measure(1, args.seconds)
    many = measure(args.jobs, args.seconds)
    again = measure(1, args.seconds)  # the machine may have changed under us: bracket the N-job figure
    base = (one + again) / 2
    print(f"1 job:  {one:10,.0f} exec/s (again after: {again:,.0f})")
    print(f"{args.jobs} jobs: {many:10,.0f} exec/s")
    print(f"ratio {args.jobs} jobs / 1 job: {many / base:.2f}x")


if __name__ == "__main__":
    main()
