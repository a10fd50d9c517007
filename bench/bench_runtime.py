#!/usr/bin/env python3
"""Runtime benchmark (native/rt): unmodified programs under the core.

1. executions/s of an unmodified 2-thread futex worker pool
   (bench/programs/worker_pool.c), in-process segment reset vs one forked
   child per execution;
2. the cost of one schedule point of the instrumented path (an atomic
   fetch-add in bench/programs/atomic_counter.c) next to the qf.h path on
   the same logic (targets/pingpong's qf_add), with a thread switch at every
   point and with none.

Every figure is measured in this one run (the machine is shared: compare
the ratios; the load average is printed beside them)."""
from __future__ import annotations

import argparse
import struct
import tempfile
import time
from pathlib import Path

from harness.native import core
from harness.pinning import default_cpu
from harness.program.build import build

HERE = Path(__file__).resolve().parent
PCT, REPLAY = 1, 4


def loadavg() -> str:
    return Path("/proc/loadavg").read_text().split(" ", 3)[0]


def argv(*args: str) -> bytes:
    b = b"".join(a.encode() + b"\0" for a in ("prog", *args))
    return struct.pack("<i", len(args) + 1) + b + b"\0" * (-len(b) % 4)


def exec_rate(index: int, wl: bytes, seconds: float, cpu: int, fork: int) -> tuple[float, int, float]:
    """executions/s, schedule points and thread switches per execution"""
    n, start, steps, switches = 0, time.perf_counter(), 0, 0
    while time.perf_counter() - start < seconds:
        for _ in range(50):
            r = core.run(index, 0, wl, PCT, seed=n, cpu=cpu, trace=0, features=1, fork=fork)
            assert r["kind"] == 0, r["detail"]
            steps += r["steps"]
            switches += r["switches"]
            n += 1
    return n / (time.perf_counter() - start), steps // n, switches / n


def per_point_ns(index: int, wl: bytes, decisions: bytes, cpu: int, repeat: int = 5) -> tuple[float, int]:
    best, steps = float("inf"), 0
    for _ in range(repeat):
        t = time.perf_counter()
        r = core.run(index, 0, wl, REPLAY, data=decisions, cpu=cpu, trace=0, features=1, budget=10**8)
        dt = time.perf_counter() - t
        assert r["kind"] == 0, r["detail"]
        best, steps = min(best, dt / r["steps"] * 1e9), r["steps"]
    return best, steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=2.0, help="per executions/s figure")
    ap.add_argument("--rounds", type=int, default=100_000, help="additions per thread in the per-point figure")
    args = ap.parse_args()
    cpu = default_cpu()
    with tempfile.TemporaryDirectory() as cache:
        pool = core.load_program(str(build([HERE / "programs" / "worker_pool.c"], cache=Path(cache))))
        counter = core.load_program(str(build([HERE / "programs" / "atomic_counter.c"], cache=Path(cache))))
    print(f"qfuzz runtime benchmark, {time.strftime('%Y-%m-%d %H:%M')}, executions pinned to CPU {cpu}")

    print("\n1. unmodified 2-thread futex worker pool (1 job), PCT, trace off")
    wl = argv("1")
    seg, steps, sw = exec_rate(pool["index"], wl, args.seconds, cpu, 0)
    la1 = loadavg()
    forked, _, _ = exec_rate(pool["index"], wl, args.seconds / 2, cpu, 1)
    la2 = loadavg()
    print(f"   segment reset {seg:9,.0f} exec/s (load {la1})   fork per execution {forked:7,.0f} exec/s (load {la2})"
          f"   ratio {seg / forked:.1f}x   ({steps} schedule points, {sw:.1f} switches per execution)")
    pp = [i for i, (name, _) in enumerate(core.targets()) if name == "pingpong"][0]
    base, base_steps, base_sw = exec_rate(pp, struct.pack("<i", max(1, steps // 2)), args.seconds, cpu, 0)
    print(f"   for scale, the qf.h pingpong target: {base:9,.0f} exec/s ({base_steps} points, {base_sw:.1f} switches;"
          f" load {loadavg()})")

    print(f"\n2. one schedule point, 2 threads x {args.rounds:,} additions, best of 5")
    pp_wl = struct.pack("<i", args.rounds)
    prog_wl = argv(str(args.rounds))
    for what, dec in (("a switch at every point", b"\x01"), ("no switch", b"\x00")):
        decisions = dec * (2 * args.rounds + 64)
        qf, n_qf = per_point_ns(pp, pp_wl, decisions, cpu)
        rt, n_rt = per_point_ns(counter["index"], prog_wl, decisions, cpu)
        print(f"   {what:24s} qf.h (pingpong qf_add) {qf:7.1f} ns   instrumented (atomic_fetch_add) {rt:7.1f} ns"
              f"   ratio {rt / qf:.2f}x   (steps {n_qf} vs {n_rt}, load {loadavg()})")


if __name__ == "__main__":
    main()
