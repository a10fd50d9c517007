#!/usr/bin/env python3
"""Stress mode vs the controlled engines: seconds to the first STUCK on each
path of the seed bug (variant pre-fix; seed-roundrobin = the backend-queue
path, seed-hash = the server-queue path), over several seeds.

Controlled: a PCT campaign on the seed workload (the best controlled engine
on these paths, bench_core.py), minimization off.  Stress: free-running
rounds of the same workload (harness.stress.model), in each configuration
given with --stress (noise, and real microseconds per workload time unit),
each search in a fresh process.  Both count searching time only.  For each seed the two
run back to back, so that both see the same machine load; the ratio is of
the medians measured in this one run.  The target is controlled >= 100x
faster than stress.  A search that finds nothing within --cap counts as
--cap (the median is then a lower bound, shown with >=).  Prints figures;
asserts nothing."""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
from typing import Optional

from harness.engines.campaign import Campaign
from harness.stress.model import stress  # noqa: F401  (fail early if stress mode is not built; used by the child code below)
from harness.targets import get

HQ = get("haproxy_queue")
SEEDS = HQ.seed_workloads()
PATHS = {"backend-queue": "seed-roundrobin", "server-queue": "seed-hash"}


def controlled(path: str, seed: int, cap: float) -> Optional[float]:
    c = Campaign(HQ, "pre-fix", "pct", seed=seed, workload=HQ.workload(SEEDS[PATHS[path]]), corpus=None,
                 minimize_seconds=0)
    r = c.run(seconds=cap, stop=lambda f: f.kind == "STUCK" and f.path == path)
    f = next((f for f in r.findings.values() if f.kind == "STUCK" and f.path == path), None)
    return f.first_seconds if f else None


STRESS = """
import json, sys
from harness.stress.model import stress  # noqa: F401  (fail early if stress mode is not built; used by the child code below)
from harness.targets import get
hq = get("haproxy_queue")
path, wname, seed, cap, noise, scale = sys.argv[1], sys.argv[2], int(sys.argv[3]), *map(float, sys.argv[4:7])
r = stress(hq, "pre-fix", cap, noise=noise, seed=seed, workload=hq.seed_workloads()[wname], scale_us=scale,
           stop=lambda f: f.kind == "STUCK" and f.path == path)
f = next((f for f in r.failures if f.kind == "STUCK" and f.path == path), None)
print(json.dumps({"seconds": f.seconds if f else None, "rps": r.requests_per_second, "wedged": r.wedged}))
"""


def stressed(path: str, seed: int, cap: float, noise: float, scale_us: float) -> tuple[Optional[float], float, bool]:
    """One search in a fresh process: haproxy_queue's W.npc race (docs/stress.md) can wedge a process."""
    p = subprocess.run([sys.executable, "-c", STRESS, path, PATHS[path], str(seed), str(cap), str(noise), str(scale_us)],
                       capture_output=True, text=True, timeout=cap + 120)
    if p.returncode:
        raise SystemExit(f"stress search failed: {p.stderr.strip().splitlines()[-1:]}")
    out = json.loads(p.stdout.strip().splitlines()[-1])
    return out["seconds"], out["rps"], out["wedged"]


def median(xs: list[Optional[float]], cap: float) -> tuple[float, str]:
    vals = [cap if x is None else x for x in xs]
    m = statistics.median(vals)
    censored = sum(x is None for x in xs) * 2 >= len(xs)
    return m, (">=" if censored else "")


def config(s: str) -> tuple[float, float]:
    """NOISE,SCALE_US"""
    noise, scale = (float(x) for x in s.split(","))
    return noise, scale


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--cap", type=float, default=60.0, help="seconds before a search counts as a miss")
    ap.add_argument("--stress", type=config, action="append", metavar="NOISE,SCALE_US",
                    help="a stress configuration (repeatable; default 0.5,2 and 0.5,10 and 0,10)")
    args = ap.parse_args()
    configs = args.stress or [(0.5, 2.0), (0.5, 10.0), (0.0, 10.0)]
    load = os.getloadavg()
    print(f"bench_stress_vs_controlled  {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC  "
          f"{platform.node()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"load {load[0]:.1f} at start; {args.seeds} seeds, cap {args.cap:g} s")
    for path, wname in PATHS.items():
        ctl: list[Optional[float]] = []
        st: dict[tuple[float, float], list[Optional[float]]] = {c: [] for c in configs}
        rps: dict[tuple[float, float], list[float]] = {c: [] for c in configs}
        wedged: dict[tuple[float, float], int] = {c: 0 for c in configs}
        for seed in range(args.seeds):
            ctl.append(controlled(path, seed, args.cap))
            for c in configs:
                t, r, w = stressed(path, seed, args.cap, *c)
                st[c].append(t)
                rps[c].append(r)
                wedged[c] += w and t is None
        print(f"\n{path} ({wname}): seconds to the first STUCK, per seed")
        fmt = lambda xs: "  ".join("-" if x is None else f"{x:.4f}" for x in xs)  # noqa: E731
        cm, cflag = median(ctl, args.cap)
        print(f"  {'controlled: PCT campaign':38} median {cflag}{cm:9.4f} s   found {sum(x is not None for x in ctl)}"
              f"/{len(ctl)}   [{fmt(ctl)}]")
        best = None
        for c in configs:
            sm, sflag = median(st[c], args.cap)
            label = f"stress: noise {c[0]:g}, 1 unit = {c[1]:g} us"
            print(f"  {label:38} median {sflag}{sm:9.4f} s   found {sum(x is not None for x in st[c])}/{len(st[c])}"
                  f"   {statistics.mean(rps[c]):,.0f} requests/s   [{fmt(st[c])}]"
                  + (f"   ({wedged[c]} wedged by the W.npc race)" if wedged[c] else ""))
            if best is None or sm < best[0]:
                best = (sm, sflag, c)
        assert best is not None
        flag = ">=" if best[1] and not cflag else ("?" if cflag else "")
        print(f"  ratio, best stress / controlled (medians): {flag}{best[0] / cm:,.0f}x   (target: >= 100x)")


if __name__ == "__main__":
    main()
