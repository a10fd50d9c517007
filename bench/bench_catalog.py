#!/usr/bin/env python3
"""Catalog benchmark: for every catalog bug, the median executions and
seconds to find it per strategy (over --seeds campaign seeds, each capped at
--cap seconds and, with --runs, at that many executions), and its stored
reproducer's size.  Prints a Markdown table for docs/catalog.md.  A cell's
median is over every seed, a miss counting as more than the cap ("> cap"
when half the seeds or more missed).
Minimization is off while timing (it is not search).  --compare-mix also
runs every cell on the generic mix's round-3 shares first (GENERIC_ROUND3 in
targets/haproxy_queue/__init__.py), so before and after share one run and
its load."""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

from harness.commands.common import positive_int
from harness.corpus import Corpus
from harness.engines.campaign import Campaign
from harness.targets import get

HERE = os.path.dirname(os.path.abspath(__file__))


def time_to_find(target, bug, strategy: str, seed: int, cap: float, runs: int | None = None,
                 fixed: int | None = None) -> tuple[int, float] | None:
    def hit(f):
        return bug.pattern.matches(f.kind, f.path, *f.execution.verdict.labels)

    c = Campaign(target, bug.variant, strategy, seed=seed, minimize_seconds=0, attribute=False, fixed_schedules=fixed)
    r = c.run(seconds=cap, runs=runs, stop=hit)
    found = [f for f in r.findings.values() if hit(f)]
    return (found[0].first_execution, found[0].first_seconds) if found else None


def size(target, bug) -> str:
    corpus = Corpus(os.path.join(HERE, "..", "corpus"), target.name)
    best = None
    for rep in corpus.reproducers():
        labels = [c["label"] if c else "-" for c in rep.verdict["critical"]]
        if rep.variant == bug.variant and bug.pattern.matches(rep.kind, rep.verdict["path"], *labels):
            if best is None or rep.size() < best.size():
                best = rep
    if best is None:
        return "none stored"
    after = (best.minimized or {}).get("after", {})
    w = best.workload
    return (f"{w['threads']} thr, {len(w['servers'])} srv, {len(w['requests'])} req, {len(w['events'])} ev, "
            f"{after.get('preemptions', '?')} preempt")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--cap", type=float, default=60.0)
    ap.add_argument("--strategies", default="pct,random,pos")
    ap.add_argument("--only", help="one commit id, or several separated by commas")
    ap.add_argument("--runs", type=int, help="also cap each campaign at this many executions")
    ap.add_argument("--fixed-schedules", type=positive_int, metavar="N",
                    help="N schedules per workload instead of the power schedule (16: the campaigns before 2026-12)")
    ap.add_argument("--compare-mix", action="store_true",
                    help="each cell also on the generic mix's round-3 shares, first (before | after)")
    args = ap.parse_args()
    target = get("haproxy_queue")
    mix_module = sys.modules[type(target).__module__]
    now = mix_module.GENERIC
    strategies = args.strategies.split(",")
    with open("/proc/loadavg") as f:
        load = " ".join(f.read().split()[:3])
    print(f"qfuzz catalog benchmark, {time.strftime('%Y-%m-%d %H:%M')}, {platform.machine()}, "
          f"{len(os.sched_getaffinity(0))} CPUs, load average {load}; {args.seeds} seeds per cell, cap {args.cap:g} s; "
          f"mix {target.default_mix}; one core per campaign; "
          + (f"{args.fixed_schedules} schedules per workload" if args.fixed_schedules else "the power schedule")
          + (f"; each campaign also capped at {args.runs:,} executions" if args.runs else "")
          + ("; cells: round-3 shares → now" if args.compare_mix else "") + "\n")
    head = "| bug | date | oracle | variant | reproducer | " + " | ".join(
        f"{s}: median executions / seconds (found)" for s in strategies) + " |"
    print(head)
    print("|" + "---|" * (5 + len(strategies)))
    for bug in target.bugs:
        if args.only and bug.commit not in args.only.split(","):
            continue
        cells = []
        for s in strategies:
            parts = []
            for shares in ((mix_module.GENERIC_ROUND3, now) if args.compare_mix else (now,)):
                mix_module.GENERIC = shares
                hits = [h for h in (time_to_find(target, bug, s, seed, args.cap, args.runs, args.fixed_schedules)
                                    for seed in range(args.seeds)) if h]
                # the median over every seed, a miss counting as more than the cap (a median of the
                # hits alone would make a cell that misses most seeds look fast)
                if len(hits) * 2 > args.seeds:
                    inf = [float("inf")] * (args.seeds - len(hits))
                    parts.append(f"{statistics.median([h[0] for h in hits] + inf):,.0f} / "
                                 f"{statistics.median([h[1] for h in hits] + inf):.2f} s ({len(hits)}/{args.seeds})")
                elif hits:
                    parts.append(f"> cap ({len(hits)}/{args.seeds})")
                else:
                    parts.append(f"not found (0/{args.seeds})")
            mix_module.GENERIC = now
            cells.append(" → ".join(parts))
        print(f"| {bug.commit} | {bug.date} | {bug.oracle} | {bug.variant} | {size(target, bug)} | "
              + " | ".join(cells) + " |", flush=True)
    with open("/proc/loadavg") as f:
        print(f"\nload average at the end: {' '.join(f.read().split()[:3])}")


if __name__ == "__main__":
    main()
