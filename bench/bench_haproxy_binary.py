#!/usr/bin/env python3
"""The real HAProxy next to the model, per configuration.

For each shape: STUCK per million requests and seconds to the first STUCK
on the real binary (`qfuzz stress haproxy_binary` machinery, one run of
--seconds), and the model's seconds to its first STUCK for the same shape
(harness.engines.campaign.Campaign on haproxy_queue/pre-fix, PCT, the seed
workload's request pattern on that many threads and servers).

--ab: the A/B on real versions, all in one run: per version (--versions,
built from Debian's tarballs by targets/haproxy_binary/build.py; "debian" is
the installed package) and path, the same seeded shapes (the exploration's
seed shapes of that path, seed --seed) for --seconds each, and each shape's
nbthread 1 control: requests, STUCK, episodes, STUCK per million, episodes
per million with a 95% interval (harness/stress/blackbox/ab.py), requests
and seconds to the first STUCK.

--findings: every model finding with an admin or backup event (and F1) as a
timed real scenario (targets/haproxy_binary/scenario.py), --runs runs per
version: reproduced k of n, with the first real log line of a STUCK.

Prints figures only: no timed asserts.  The machine's other load changes the
real figures a lot; the load average is printed with every row.

    python bench/bench_haproxy_binary.py --seconds 60 --model-cap 30
    python bench/bench_haproxy_binary.py --ab --versions 2.6.12,3.0.11 --seconds 30
    python bench/bench_haproxy_binary.py --findings --versions debian,3.0.11 --runs 3
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


FINDINGS = {  # model reproducers whose failure is not a pure interleaving, and F1 (corpus/haproxy_queue/)
    # globs: the corpus is re-minimized from time to time, which changes the middle of the names
    "F1 (fixed)": "fixed--stuck-backend-queue-*-md_pxqlen-*.json",
    "F2 (fixed, lb_full)": "fixed--stuck-backend-queue-lb_full-adm_disable-*.json",
    "F2 (fixed, skip-LB)": "fixed--stuck-backend-queue-as_skiplb_full-adm_disable-*.json",
    "F4 (fixed)": "fixed--stuck-backend-queue-*-adm_enable-*.json",
    "6a78e6169 (revert)": "revert-6a78e6169--stuck-*.json",
    "a8694654b (revert)": "revert-a8694654b--*.json",
    "ca275d99c (revert)": "revert-ca275d99c--*.json",
}


def load1() -> str:
    return f"{os.getloadavg()[0]:.1f}"


def executables(versions: str) -> list[tuple[str, str]]:
    from harness.targets.haproxy_binary.build import binary

    out = []
    for v in versions.split(","):
        exe = binary(v.strip(), on_status=lambda m: print(f"# {m}", flush=True))
        out.append((haproxy_version(exe), exe))
    return out


def ab_main(args: argparse.Namespace) -> int:
    from harness.stress.blackbox.ab import Cell, per_million_ci
    from harness.targets.haproxy_binary import SEEDS, control

    print(f"# {datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')}  A/B, {args.seconds:g} s per "
          f"shape, seed {args.seed}, {os.cpu_count()} CPUs, load average {load1()}")
    print(f"{'version':24} {'path':14} {'threads':>7} {'runs':>4} {'requests':>9} {'STUCK':>6} {'episodes':>8} "
          f"{'unknown':>7} {'STUCK/M':>8} {'episodes/M (95%)':>22} {'1st STUCK: req / s':>19} {'load':>5}")
    for version, exe in executables(args.versions):
        for path, shapes in SEEDS.items():
            if args.path and args.path != path:
                continue
            for is_control in (False, True):
                cell, firsts = Cell(), []
                for k, shape in enumerate(shapes):
                    sh = control(shape) if is_control else shape
                    cfg = StressConfig(**{**sh, "seconds": args.seconds, "seed": args.seed * 1000 + k})
                    r = run_once(BLACKBOX, cfg, exe, version, stop_on_stuck=False)
                    cell.add(r.requests, r.stuck, len(r.episodes), r.unknown, r.seconds)
                    if r.stuck:
                        t = r.first_stuck_seconds or 0.0
                        firsts.append(f"{sum(e.date <= r.started + t for e in r.entries)} / {t:.1f}")
                lo, hi = per_million_ci(cell.episodes, cell.requests)
                print(f"{version:24} {path:14} {'1' if is_control else 'seed':>7} {cell.runs:4d} {cell.requests:9d} "
                      f"{cell.stuck:6d} {cell.episodes:8d} {cell.unknown:7d} {cell.stuck_per_million:8.0f} "
                      f"{cell.episodes_per_million:8.0f} ({lo:5.0f}-{hi:5.0f}) {(firsts[0] if firsts else '-'):>19} "
                      f"{load1():>5}", flush=True)
    return 0


def findings_main(args: argparse.Namespace) -> int:
    from harness.errors import QfuzzError
    from harness.reproducer import load as load_model
    from harness.targets.haproxy_binary import scenario

    corpus = Path(__file__).resolve().parent.parent / "corpus" / "haproxy_queue"
    print(f"# {datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')}  findings as timed "
          f"scenarios, {args.runs} run(s) each, {os.cpu_count()} CPUs, load average {load1()}")
    exes = executables(args.versions)
    for name, pattern in FINDINGS.items():
        files = sorted(corpus.glob(pattern))
        if not files:
            print(f"{name:22} (no reproducer {pattern})")
            continue
        rep = load_model(files[0])
        try:
            sc = scenario.from_model(rep.workload, rep.verdict)
        except QfuzzError as exc:
            print(f"{name:22} {rep.signature}: not mappable: {exc}")
            continue
        for version, exe in exes:
            shown, evidence = 0, ""
            for _ in range(args.runs):
                o = scenario.run_scenario(sc, exe, version)
                if o.reproduced(sc.expect_path):
                    shown += 1
                    v = next(v for v in o.result.verdicts if v.kind == "STUCK")
                    evidence = evidence or o.log_line(v.entry.line)
            print(f"{name:22} {version:24} reproduced {shown}/{args.runs}  load {load1()}  {evidence}", flush=True)
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60.0, help="real-binary load per shape")
    ap.add_argument("--model-cap", type=float, default=30.0, help="model campaign cap per shape")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", help="run shapes whose name contains this")
    ap.add_argument("--ab", action="store_true", help="the A/B table over --versions")
    ap.add_argument("--findings", action="store_true", help="model findings as timed scenarios over --versions")
    ap.add_argument("--versions", default="debian,2.6.12,3.0.11", help="comma-separated (default: %(default)s)")
    ap.add_argument("--path", help="--ab: only this path")
    ap.add_argument("--runs", type=int, default=3, help="--findings: runs per finding and version")
    args = ap.parse_args()
    if args.ab:
        return ab_main(args)
    if args.findings:
        return findings_main(args)
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
