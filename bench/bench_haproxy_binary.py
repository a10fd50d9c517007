#!/usr/bin/env python3
"""The real HAProxy next to the model, per configuration.

For each shape: STUCK per million requests and seconds to the first STUCK
on the real binary (`qfuzz stress haproxy_binary` machinery, one run of
--seconds), and the model's seconds to its first STUCK for the same shape
(harness.engines.campaign.Campaign on haproxy_queue/pre-fix, PCT, the seed
workload's request pattern on that many threads and servers).

Prints figures only: no timed asserts.  The machine's other load changes the
real figures a lot; say what else ran when quoting them.

    python bench/bench_haproxy_binary.py --seconds 60 --model-cap 30
"""
from __future__ import annotations

import argparse
import datetime
import os
import sys
import time
from pathlib import Path
from typing import Any, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.debs import ensure  # noqa: E402
from harness.engines.campaign import Campaign  # noqa: E402
from harness.stress.blackbox.run import run_once  # noqa: E402
from harness.targets.haproxy_binary import BLACKBOX  # noqa: E402
from harness.targets.haproxy_binary.config import StressConfig  # noqa: E402
from harness.targets.haproxy_binary.stack import find_haproxy, haproxy_version  # noqa: E402
from harness.targets import get  # noqa: E402

SHAPES: dict[str, dict[str, Any]] = {
    "server-queue (uri, 3 threads, 4 ka clients)": {"balance": "uri", "threads": 3, "conns": 4, "keepalive": True, "think_ms": 1},
    "server-queue (uri, 3 threads, 50 clients)": {"balance": "uri", "threads": 3, "conns": 50},
    "backend-queue (roundrobin, 3 threads, 2 ka clients)": {"balance": "roundrobin", "threads": 3, "conns": 2, "keepalive": True},
    "backend-queue (roundrobin, 2 threads, 4 clients)": {"balance": "roundrobin", "threads": 2, "conns": 4, "think_ms": 1},
    "control (uri, nbthread 1, 4 ka clients)": {"balance": "uri", "threads": 1, "conns": 4, "keepalive": True, "think_ms": 1},
    "control (roundrobin, nbthread 1, 2 ka clients)": {"balance": "roundrobin", "threads": 1, "conns": 2, "keepalive": True},
}
MODEL_BALANCE = {"uri": "hash", "source": "hash", "roundrobin": "roundrobin", "first": "first", "leastconn": "leastconn"}


def model_workload(cfg: StressConfig) -> dict[str, Any]:
    """The seed workload's pattern (arrivals meeting the previous end on a
    10-unit grid) on cfg's threads and servers."""
    times = [0, 10, 10, 20, 20, 30]
    return {
        "threads": cfg.threads,
        "servers": [{"maxconn": cfg.maxconn}] * cfg.servers,
        "backend": {"balance": MODEL_BALANCE[cfg.balance], "timeout_queue": 50},
        "requests": [{"at": at, "thread": i % cfg.threads, "duration": 10, "key": 0} for i, at in enumerate(times)],
    }


def model_first_stuck(cfg: StressConfig, cap: float, seed: int) -> tuple[Optional[float], int]:
    target = get("haproxy_queue")
    camp = Campaign(target, "pre-fix", "pct", seed=seed, workload=target.workload(model_workload(cfg)), minimize_seconds=0)
    res = camp.run(seconds=cap, stop=lambda f: f.kind == "STUCK")
    stuck = [f.first_seconds for f in res.findings.values() if f.kind == "STUCK"]
    return (min(stuck) if stuck else None), res.executions


def fmt(x: Optional[float]) -> str:
    return "-" if x is None else f"{x:.2f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60.0, help="real-binary load per shape")
    ap.add_argument("--model-cap", type=float, default=30.0, help="model campaign cap per shape")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", help="run shapes whose name contains this")
    args = ap.parse_args()
    ensure(["haproxy"])
    exe = find_haproxy()
    version = haproxy_version(exe)
    print(f"# {datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')}  haproxy {version}  "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}  real {args.seconds:g} s per shape")
    print(f"{'shape':52} {'requests':>9} {'req/s':>6} {'sQ':>5} {'STUCK':>6} {'legit':>6} {'unknown':>7} "
          f"{'STUCK/M':>8} {'real 1st s':>10} {'model 1st s':>11} {'model execs':>11}")
    for name, shape in SHAPES.items():
        if args.only and args.only not in name:
            continue
        cfg = StressConfig(**{**shape, "seconds": args.seconds, "seed": args.seed})
        t = time.monotonic()
        r = run_once(BLACKBOX, cfg, exe, version, stop_on_stuck=False)
        if cfg.threads > 1:
            m_first, m_execs = model_first_stuck(cfg, args.model_cap, args.seed)
        else:
            m_first, m_execs = None, 0  # one thread: the model cannot race either
        rate = r.requests / r.seconds if r.seconds else 0.0
        print(f"{name:52} {r.requests:9d} {rate:6.0f} {len(r.verdicts):5d} {r.stuck:6d} {r.legit:6d} {r.unknown:7d} "
              f"{r.stuck_per_million:8.0f} {fmt(r.first_stuck_seconds):>10} {fmt(m_first):>11} {m_execs:11d}"
              f"   ({time.monotonic() - t:.0f} s, max sample gap {r.max_sample_gap * 1000:.0f} ms)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
