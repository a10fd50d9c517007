#!/usr/bin/env python3
"""Replay benchmark: for every reproducer in the corpus, N replays (default
1000) compared with the first one, bit for bit (verdict signature, decision
list, raw trace), the replays per second, and the reproducer's minimized
size (threads, servers, requests, preemptions: the file's "minimized.after"
when it has one, else counted from the file).

    python bench/bench_replay.py [DIR_OR_FILE ...] [--runs 1000]

Replays run with the trace on, as `qfuzz repro` does.  These machines are
noisy: replays/s is a rate in this run, not a constant."""
from __future__ import annotations

import argparse
import hashlib
import platform
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def fingerprint(ex: Any) -> bytes:
    return hashlib.sha256(ex.verdict.signature.encode() + b"\0" + bytes(ex.decisions) + b"\0" + ex.raw_trace).digest()


def size(rep: Any) -> dict[str, Any]:
    after = (rep.minimized or {}).get("after") or {}
    w = rep.workload
    return {
        "threads": after.get("threads", w.get("threads")),
        "servers": after.get("servers", len(w.get("servers", []))),
        "requests": after.get("requests", len(w.get("requests", []))),
        "preemptions": after.get("preemptions", "?"),
        "from": "minimized.after" if after else "file",
    }


def bench(rep: Any, runs: int) -> tuple[int, float, str, int]:
    """(identical replays, replays/s, first verdict signature, decisions)."""
    first = rep.replay()
    want = fingerprint(first)
    identical = 1
    start = time.perf_counter()
    for _ in range(runs - 1):
        identical += fingerprint(rep.replay()) == want
    rate = (runs - 1) / (time.perf_counter() - start) if runs > 1 else float("nan")
    return identical, rate, first.verdict.signature, len(first.decisions)


def main() -> int:
    from harness.errors import QfuzzError
    from harness.reproducer import load
    from harness.inputs import expand

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("paths", nargs="*", default=[str(ROOT / "corpus" / "haproxy_queue")])
    ap.add_argument("--runs", type=int, default=1000, help="replays per reproducer (default 1000)")
    args = ap.parse_args()
    if args.runs < 1:
        ap.error("--runs must be at least 1")
    try:
        reps = [load(p) for p in expand(args.paths)]
    except QfuzzError as exc:
        print(f"bench_replay: {exc}", file=sys.stderr)
        return 2

    print(f"# bench_replay  {time.strftime('%Y-%m-%d %H:%M:%S %Z')}  {platform.node()}  python {platform.python_version()}"
          f"  {len(reps)} reproducers x {args.runs} replays")
    width = max([len("reproducer")] + [len(rep.path.name) for rep in reps])
    print(f"{'reproducer':<{width}} {'identical':>11} {'replays/s':>9}  {'thr srv req pre':>15}  {'dec':>4}  verdict")
    all_identical = True
    for rep in reps:
        identical, rate, signature, ndec = bench(rep, args.runs)
        s = size(rep)
        same = "" if signature == rep.signature else f"  (stored: {rep.signature})"
        all_identical &= identical == args.runs and signature == rep.signature
        print(f"{rep.path.name:<{width}} {identical:>5}/{args.runs:<5} {rate:>9.0f}  "
              f"{s['threads']:>3} {s['servers']:>3} {s['requests']:>3} {s['preemptions']:>3}  {ndec:>4}  "
              f"{signature}{same}{'' if s['from'] == 'minimized.after' else '  (size from the file)'}")
    print("all replays identical to the first and to the stored verdict" if all_identical
          else "NOT ALL IDENTICAL: see the rows above")
    return 0 if all_identical else 1


if __name__ == "__main__":
    sys.exit(main())
