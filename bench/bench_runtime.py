#!/usr/bin/env python3
"""Runtime benchmark (native/rt): unmodified programs under the core.

1. executions/s of an unmodified 2-thread futex worker pool
   (bench/programs/worker_pool.c), in-process segment reset vs one forked
   child per execution;
2. the cost of one schedule point of the instrumented path (an atomic
   fetch-add in bench/programs/atomic_counter.c) next to the qf.h path on
   the same logic (targets/pingpong's qf_add), with a thread switch at every
   point and with none;
0. (first) `qfuzz fuzz prog.c --engine hypothesis`'s examples/s on the worker pool:
   the search in process against the crash-isolated search in a worker
   child (harness/program/isolated_search.py), the same examples in both.

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


def bare_forks(seconds: float, cpu: int) -> float:
    import os

    keep = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
        n += 1
    os.sched_setaffinity(0, keep)
    return n / (time.perf_counter() - start)


def per_point_ns(index: int, wl: bytes, decisions: bytes, cpu: int, repeat: int = 5) -> tuple[float, int]:
    best, steps = float("inf"), 0
    for _ in range(repeat):
        t = time.perf_counter()
        r = core.run(index, 0, wl, REPLAY, data=decisions, cpu=cpu, trace=0, features=1, budget=10**8)
        dt = time.perf_counter() - t
        assert r["kind"] == 0, r["detail"]
        best, steps = min(best, dt / r["steps"] * 1e9), r["steps"]
    return best, steps


def hypothesis_rates(examples: int, cache: Path) -> None:
    """Section 0, run first: the isolated search forks workers, which must not
    inherit a process whose executions already started the core's threads."""
    import os

    from harness.engines.hypothesis_engine import search
    from harness.program import load
    from harness.program.isolated_search import run_search

    os.environ["QFUZZ_CACHE"] = str(cache)
    t = load([str(HERE / "programs" / "worker_pool.c")], args=["1"])
    v = next(iter(t.variants))
    t.so_path(v)  # built before either clock starts

    def keep(f, minimize):  # noqa: ANN001  a clean program: never called
        raise AssertionError(f"the worker pool failed: {f.signature}")

    start = time.perf_counter()
    iso = run_search(t, v, seconds=None, examples=examples, seed=0, workload=None, keep=keep,
                     crashes_dir=cache / "crashes")
    isolated = iso.examples / (time.perf_counter() - start)
    la1 = loadavg()
    start = time.perf_counter()
    r = search(t, v, seconds=None, examples=examples, seed=0)
    inproc = r.examples / (time.perf_counter() - start)
    la2 = loadavg()
    assert not r.found and not iso.findings and not iso.crashes and not iso.error
    print(f"\n0. hypothesis engine, worker pool (1 job), {examples:,} examples, seed 0")
    print(f"   in process {inproc:7,.0f} examples/s (load {la2})   in a worker child {isolated:7,.0f} examples/s"
          f" (load {la1}, {iso.workers} worker)   ratio {inproc / isolated:.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=2.0, help="per executions/s figure")
    ap.add_argument("--rounds", type=int, default=100_000, help="additions per thread in the per-point figure")
    ap.add_argument("--examples", type=int, default=2000, help="hypothesis examples per figure (section 0)")
    args = ap.parse_args()
    cpu = default_cpu()
    print(f"qfuzz runtime benchmark, {time.strftime('%Y-%m-%d %H:%M')}, executions pinned to CPU {cpu}", flush=True)
    with tempfile.TemporaryDirectory() as cache:
        hypothesis_rates(args.examples, Path(cache))
        pool = core.load_program(str(build([HERE / "programs" / "worker_pool.c"], cache=Path(cache))))
        counter = core.load_program(str(build([HERE / "programs" / "atomic_counter.c"], cache=Path(cache))))

    print("\n1. unmodified 2-thread futex worker pool (1 job), PCT, trace off")
    wl = argv("1")
    seg, steps, sw = exec_rate(pool["index"], wl, args.seconds, cpu, 0)
    la1 = loadavg()
    forked, _, _ = exec_rate(pool["index"], wl, args.seconds / 2, cpu, 1)
    la2 = loadavg()
    print(f"   segment reset {seg:9,.0f} exec/s (load {la1})   fork per execution {forked:7,.0f} exec/s (load {la2})"
          f"   ratio {seg / forked:.1f}x   ({steps} schedule points, {sw:.1f} switches per execution)")
    print(f"   for scale, a bare fork + _exit + waitpid of this process: {bare_forks(args.seconds / 2, cpu):7,.0f}/s"
          f" (load {loadavg()})")
    pp = [i for i, (name, _) in enumerate(core.targets()) if name == "pingpong"][0]
    base, base_steps, base_sw = exec_rate(pp, struct.pack("<i", max(1, steps // 2)), args.seconds, cpu, 0)
    print(f"   for scale, the qf.h pingpong target: {base:9,.0f} exec/s ({base_steps} points, {base_sw:.1f} switches;"
          f" load {loadavg()})")

    print(f"\n2. one schedule point, 2 threads x {args.rounds:,} additions, best of 7 interleaved runs")
    pp_wl = struct.pack("<i", args.rounds)
    prog_wl = argv(str(args.rounds))
    for what, dec in (("a switch at every point", b"\x01"), ("no switch", b"\x00")):
        decisions = dec * (2 * args.rounds + 64)
        qf = rt = float("inf")
        for _ in range(7):  # interleaved, best of 7 each: the machine's load moves under us
            q, n_qf = per_point_ns(pp, pp_wl, decisions, cpu, repeat=1)
            i, n_rt = per_point_ns(counter["index"], prog_wl, decisions, cpu, repeat=1)
            qf, rt = min(qf, q), min(rt, i)
        print(f"   {what:24s} qf.h (pingpong qf_add) {qf:7.1f} ns   instrumented (atomic_fetch_add) {rt:7.1f} ns"
              f"   ratio {rt / qf:.2f}x   (steps {n_qf} vs {n_rt}, load {loadavg()})")


if __name__ == "__main__":
    main()
