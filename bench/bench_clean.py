#!/usr/bin/env python3
"""The false-positive control and the fully fixed model under a large
budget: --executions per variant (default 1,000,000) spread over the
strategies, on every core, with the default (generic) mix.  Every failure
is printed with its attribution by differential (harness/attribution.py: the
fix that removes it, or the F-number of docs/findings.md that the fixed
model's expectations give it, or "new") and the variant's explanation, or
UNEXPLAINED.  coarse must show none at all.  A long run goes in slices:
--executions 200000 with --seed 1, 2, ... covers other schedules and
workloads each time."""
from __future__ import annotations

import argparse
import collections
import multiprocessing as mp
import os
import time


def work(cpu: int, variant: str, strategy: str, mix_seed: int, runs: int, out: "mp.Queue") -> None:
    from harness.engines.campaign import Campaign
    from harness.pinning import set_cpu
    from harness.targets import get

    set_cpu(cpu)
    t = get("haproxy_queue")
    r = Campaign(t, variant, strategy, seed=mix_seed, minimize_seconds=0).run(runs=runs)
    v = t.variant(variant)
    found = {}
    for f in r.findings.values():
        why = v.explains(f.kind, f.path, *f.execution.verdict.labels)
        label = f.attribution.label if f.attribution else "not attributed"
        found[f.signature] = (f.count, f"{label}; " + (why.why if why else "UNEXPLAINED"))
    out.put((variant, strategy, r.executions, r.seconds, found))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--executions", type=int, default=1_000_000)
    ap.add_argument("--variants", default="coarse,fixed")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    cpus = sorted(os.sched_getaffinity(0))
    ctx = mp.get_context("fork")
    print(f"qfuzz clean-variant benchmark, {time.strftime('%Y-%m-%d %H:%M')}, {len(cpus)} CPUs, "
          f"{args.executions:,} executions per variant over random, pct, pos and every mix")
    for variant in args.variants.split(","):
        jobs = [(s, i) for i, s in enumerate(("random", "pct", "pos"))]
        per = -(-args.executions // len(jobs))  # at least --executions in all
        out: mp.Queue = ctx.Queue()
        procs = []
        results = []
        for n, (strategy, i) in enumerate(jobs):
            p = ctx.Process(target=work, args=(cpus[n % len(cpus)], variant, strategy, args.seed * 10 + i, per, out))
            procs.append(p)
        # at most one process per CPU at a time
        running: list = []
        for p in procs:
            while len(running) >= len(cpus):
                results.append(out.get())
                running = [q for q in running if q.is_alive()]
            p.start()
            running.append(p)
        while len(results) < len(procs):
            results.append(out.get())
        total = sum(r[2] for r in results)
        secs = max(r[3] for r in results)
        sigs: dict = collections.defaultdict(lambda: [0, ""])
        for _, _, _, _, found in results:
            for sig, (count, why) in found.items():
                sigs[sig][0] += count
                sigs[sig][1] = why
        print(f"\n{variant}: {total:,} executions in {secs:.0f} s, {len(sigs)} distinct failure signature(s)")
        for sig, (count, why) in sorted(sigs.items()):
            print(f"   {count:8,}  {sig}  [{why}]")
        if not sigs:
            print("   none")


if __name__ == "__main__":
    main()
