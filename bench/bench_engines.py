#!/usr/bin/env python3
"""Time and executions to the first failure, per engine, over many seeds.

    python bench/bench_engines.py                      # everything, 10 seeds, 60 s cap
    python bench/bench_engines.py --seeds 5 --cases seed-backend --engines random,atheris

Cases (haproxy_queue):
  seed-backend  pre-fix, workload seed-roundrobin pinned, first STUCK:backend-queue:*
  seed-server   pre-fix, workload seed-hash pinned,       first STUCK:server-queue:*
  deep-trylock  seed-fix, workloads from each engine's own mix, first STUCK:*:*:PSQ_TRYLOCK
                (b11495652: a releaser's trylock loses to another holder of the server
                queue lock after the queuer's own re-check, and nobody dequeues again)
  deep-livelock seed-fix, workloads from each engine's own mix, first LIVELOCK:*:BALANCE_AGAIN:*
                (GH #2711: balance_again spins while nothing can take the request)
  deep-pinned   seed-fix, DEEP_WORKLOAD pinned (below), first STUCK:*:*:PSQ_TRYLOCK: the
                trylock residual where it needs three ordered preemptions

Engines: random, pct, pos (seeded campaigns), atheris (libFuzzer with the
interleaving features), atheris-blind (the same, features off), hypothesis.
Each (engine, case, seed) is one search capped at --cap seconds; a search
that hits the cap is a miss (printed as such; its median counts it as
infinite).  atheris runs fuzz/fuzz_haproxy_queue.py in a subprocess (time
measured inside it, from its first input; process start-up is printed
apart).  Prints figures only: no assertion on timings.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parent.parent
ENTRY = ROOT / "fuzz" / "fuzz_haproxy_queue.py"
TARGET = "haproxy_queue"


@dataclass(frozen=True)
class Case:
    name: str
    variant: str
    workload: Optional[str]  # a seed workload name, "deep", or None: the engine's own mix
    pattern: str


# The trylock residual in its smallest form (found by atheris, then minimized):
# two slots released at t=40 while two requests wait; the first release hands
# its slot on, the picked stream's owner holds the queue lock when the second
# release's trylock comes.  It needs three ordered preemptions: random finds
# it 0 times in 20,000 runs, PCT 4.
DEEP_WORKLOAD = {
    "threads": 3,
    "servers": [{"maxconn": 2}],
    "backend": {"balance": "hash", "timeout_queue": 50},
    "requests": [
        {"at": 20, "thread": 0, "duration": 0},
        {"at": 0, "thread": 1, "duration": 40},
        {"at": 20, "thread": 1, "duration": 20},
        {"at": 20, "thread": 2, "duration": 40},
    ],
}


def workload_of(case: Case) -> Optional[dict]:
    from harness.targets import get

    if case.workload is None:
        return None
    return DEEP_WORKLOAD if case.workload == "deep" else get(TARGET).seed_workloads()[case.workload]


CASES = {
    c.name: c
    for c in (
        Case("seed-backend", "pre-fix", "seed-roundrobin", "STUCK:backend-queue:*"),
        Case("seed-server", "pre-fix", "seed-hash", "STUCK:server-queue:*"),
        Case("deep-trylock", "seed-fix", None, "STUCK:*:*:PSQ_TRYLOCK"),
        Case("deep-livelock", "seed-fix", None, "LIVELOCK:*:BALANCE_AGAIN:*"),
        Case("deep-pinned", "seed-fix", "deep", "STUCK:*:*:PSQ_TRYLOCK"),
    )
}
ENGINES = ("random", "pct", "pos", "atheris", "atheris-blind", "hypothesis")


@dataclass
class Outcome:
    engine: str
    case: str
    seed: int
    seconds: Optional[float]  # None: not found within the cap
    executions: int
    startup: float = 0.0  # atheris: process start until its first input


def _claim() -> int:
    """This worker's CPU (held for its life; an atheris child of it runs there
    while the worker waits)."""
    from harness.engines.cpuclaim import claim_cpu

    return claim_cpu()


def seeded(engine: str, case: Case, seed: int, cap: float) -> Outcome:
    import fnmatch

    from harness.engines.campaign import Campaign
    from harness.targets import get

    _claim()
    t = get(TARGET)
    w = t.workload(workload_of(case)) if case.workload else None
    c = Campaign(t, case.variant, engine, seed=seed, workload=w, minimize_seconds=0)
    hit: list = []

    def stop(f) -> bool:  # type: ignore[no-untyped-def]
        if fnmatch.fnmatchcase(f.signature, case.pattern):
            hit.append(f)
            return True
        return False

    r = c.run(seconds=cap, stop=stop)
    if hit:
        return Outcome(engine, case.name, seed, hit[0].first_seconds, hit[0].first_execution)
    return Outcome(engine, case.name, seed, None, r.executions)


def hypothesis(case: Case, seed: int, cap: float) -> Outcome:
    from harness.engines.hypothesis_engine import search
    from harness.targets import get

    _claim()
    t = get(TARGET)
    w = workload_of(case)
    knobs = {} if w else {"max_events": 3, "cookies": True, "pokes": True}  # as near the variant's "all" mix as the strategy goes
    r = search(t, case.variant, seconds=cap, seed=seed, workload=w, matching=case.pattern, stop_at_first=True, **knobs)
    for f in r.found.values():
        return Outcome("hypothesis", case.name, seed, f.first_seconds, f.first_examples)
    return Outcome("hypothesis", case.name, seed, None, r.examples)


FOUND = re.compile(r"found after (\d+) executions in ([0-9.]+) s")
DONE = re.compile(r"Done (\d+) runs")


def atheris(case: Case, seed: int, cap: float, features: str) -> Outcome:
    engine = "atheris" if features != "0" else "atheris-blind"
    with tempfile.TemporaryDirectory(prefix="qfuzz-bench-") as tmp:
        args = [sys.executable, str(ENTRY), f"-seed={seed + 1}", f"-max_total_time={int(cap)}", f"-artifact_prefix={tmp}/",
                f"--variant={case.variant}", "--corpus=", f"--crash-on={case.pattern}", "--minimize-time=0"]
        if case.workload:
            path = Path(tmp) / "workload.json"
            path.write_text(json.dumps(workload_of(case)))
            args.append(f"--workload={path}")
        env = {**os.environ, "QFUZZ_FEATURES": features, "QFUZZ_CPU": str(_claim())}
        started = time.monotonic()
        p = subprocess.run(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp,
                           timeout=cap + 60)
        wall = time.monotonic() - started
    m = FOUND.search(p.stdout)
    if p.returncode == 77 and m:
        seconds = float(m.group(2))
        return Outcome(engine, case.name, seed, seconds, int(m.group(1)), startup=max(0.0, wall - seconds))
    d = DONE.search(p.stdout)
    if p.returncode != 0:
        raise RuntimeError(f"atheris exited {p.returncode} without a matching failure:\n{p.stdout[-3000:]}")
    return Outcome(engine, case.name, seed, None, int(d.group(1)) if d else 0)


def measure(engine: str, case_name: str, seed: int, cap: float, mask: str) -> Outcome:
    case = CASES[case_name]
    if engine in ("random", "pct", "pos"):
        return seeded(engine, case, seed, cap)
    if engine == "hypothesis":
        return hypothesis(case, seed, cap)
    if engine == "atheris":
        return atheris(case, seed, cap, mask)
    if engine == "atheris-blind":
        return atheris(case, seed, cap, "0")
    raise SystemExit(f"unknown engine {engine}")


LIBFUZZER_STATS = re.compile(r"^#(\d+)\s+\w+\s+cov: (\d+) ft: (\d+)")
SHADOW_STATS = re.compile(r"^qfuzz shadow: #(\d+) cov: (\d+)")


def ft_growth(seconds: float, variant: str) -> None:
    """libFuzzer's cov:/ft: over time with the features on; with them off,
    the same counters computed unseen by libFuzzer (their union: cov only)."""
    marks = [m for m in (1, 2, 5, 10, 20, 30, 45, 60, 120, 300) if m <= seconds]
    rows: dict[str, list[tuple[float, int, int, int]]] = {}
    for mode, features in (("on", "1"), ("off", "0")):
        with tempfile.TemporaryDirectory(prefix="qfuzz-ft-") as tmp:
            env = {**os.environ, "QFUZZ_FEATURES": features, "QFUZZ_SHADOW_FEATURES": "1"}
            args = [sys.executable, str(ENTRY), "-seed=1", f"-max_total_time={int(seconds)}", f"--variant={variant}",
                    "--corpus=", "--keep-going"]
            p = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=tmp)
            start, seen = time.monotonic(), []
            assert p.stderr is not None
            for line in p.stderr:
                m = LIBFUZZER_STATS.match(line)
                if m:
                    seen.append((time.monotonic() - start, int(m.group(1)), int(m.group(2)), int(m.group(3))))
                m = SHADOW_STATS.match(line)
                if m:
                    seen.append((time.monotonic() - start, int(m.group(1)), int(m.group(2)), 0))
            p.wait()
            rows[mode] = seen
    print(f"# interleaving coverage over {seconds:g} s, {variant}, decoded workloads, every failure kept going")
    print(f"{'t (s)':>6} {'on: execs':>11} {'cov':>6} {'ft':>6}   {'off: execs':>11} {'cov (unseen)':>12}")
    for t in marks:
        on = [r for r in rows["on"] if r[0] <= t][-1:] or [(0, 0, 0, 0)]
        off = [r for r in rows["off"] if r[0] <= t][-1:] or [(0, 0, 0, 0)]
        print(f"{t:>6} {on[0][1]:>11,} {on[0][2]:>6,} {on[0][3]:>6,}   {off[0][1]:>11,} {off[0][2]:>12,}")


def throughput(seconds: float) -> None:
    """Sustained executions per second of the atheris engine on each seed
    workload (pinned, every failure kept going), one process on one CPU."""
    from harness.targets import get

    print(f"# atheris throughput, {seconds:g} s per run, one process (its executions pinned to one CPU)")
    print(f"{'workload':16} {'features':>8} {'runs':>10} {'exec/s':>8}")
    for name, w in get(TARGET).seed_workloads().items():
        for features in ("1", "0"):
            with tempfile.TemporaryDirectory(prefix="qfuzz-tp-") as tmp:
                path = Path(tmp) / "workload.json"
                path.write_text(json.dumps(w))
                args = [sys.executable, str(ENTRY), "-seed=1", f"-max_total_time={int(seconds)}", "--variant=pre-fix",
                        f"--workload={path}", "--corpus=", "--keep-going"]
                p = subprocess.run(args, env={**os.environ, "QFUZZ_FEATURES": features}, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True, cwd=tmp)
            m = re.search(r"Done (\d+) runs in (\d+) second", p.stdout)
            runs, secs = (int(m.group(1)), int(m.group(2))) if m else (0, 1)
            print(f"{name:16} {'on' if features == '1' else 'off':>8} {runs:>10,} {runs / max(1, secs):>8,.0f}")


def median(values: list[float]) -> float:
    return statistics.median(values) if values else math.inf


def fmt(x: float, unit: str = "") -> str:
    if math.isinf(x):
        return "miss"
    return f"{x:.3g}{unit}" if x < 100 else f"{x:,.0f}{unit}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--cap", type=float, default=60.0, help="seconds per search (default 60)")
    ap.add_argument("--engines", default=",".join(ENGINES))
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--parallel", type=int, default=len(os.sched_getaffinity(0)), help="searches at once (one per CPU)")
    ap.add_argument("--features", default="1", help="atheris feature mask (QFUZZ_FEATURES; 1 = the default set)")
    ap.add_argument("--json", help="also write every outcome to this file")
    ap.add_argument("--ft-growth", type=float, metavar="SECONDS",
                    help="instead: libFuzzer's cov/ft growth with the features on and off")
    ap.add_argument("--variant", default="pre-fix", help="variant for --ft-growth (default pre-fix)")
    ap.add_argument("--throughput", type=float, metavar="SECONDS",
                    help="instead: sustained atheris exec/s on the seed workloads, features on and off")
    args = ap.parse_args()
    if args.ft_growth:
        ft_growth(args.ft_growth, args.variant)
        return 0
    if args.throughput:
        throughput(args.throughput)
        return 0
    engines = [e for e in args.engines.split(",") if e]
    cases = [c for c in args.cases.split(",") if c]
    for e in engines:
        if e not in ENGINES:
            ap.error(f"unknown engine {e!r} (engines: {', '.join(ENGINES)})")
    for c in cases:
        if c not in CASES:
            ap.error(f"unknown case {c!r} (cases: {', '.join(CASES)})")

    print(f"# bench_engines {time.strftime('%Y-%m-%d %H:%M:%S %Z')} on {platform.node()}, "
          f"{os.cpu_count()} CPUs, Python {platform.python_version()}, load {os.getloadavg()[0]:.1f}")
    print(f"# {args.seeds} seeds, cap {args.cap:g} s per search, {args.parallel} at once, atheris features {args.features}")
    jobs = [(e, c, s) for c in cases for e in engines for s in range(args.seeds)]
    outcomes: list[Outcome] = []
    with ProcessPoolExecutor(max_workers=args.parallel) as pool:
        futs = [pool.submit(measure, e, c, s, args.cap, args.features) for e, c, s in jobs]
        for f in futs:
            o = f.result()
            outcomes.append(o)
            t = f"{o.seconds:.3f} s" if o.seconds is not None else f"MISS ({args.cap:g} s)"
            print(f"  {o.case:13} {o.engine:14} seed {o.seed:2}: {t:>14}  {o.executions:>10,} executions", flush=True)

    print()
    print(f"{'case':13} {'engine':14} {'found':>6} {'median s':>9} {'median execs':>13} {'exec/s':>8}")
    table: dict[tuple[str, str], float] = {}
    for c in cases:
        for e in engines:
            os_ = [o for o in outcomes if o.case == c and o.engine == e]
            found = [o for o in os_ if o.seconds is not None]
            secs = median([o.seconds if o.seconds is not None else math.inf for o in os_])
            execs = median([o.executions if o.seconds is not None else math.inf for o in os_])
            rate = sum(o.executions for o in found) / max(1e-9, sum(o.seconds or 0 for o in found)) if found else 0
            table[(c, e)] = secs
            print(f"{c:13} {e:14} {len(found):>3}/{len(os_):<2} {fmt(secs):>9} {fmt(execs):>13} {rate:>8,.0f}")
    for c in cases:
        a, b = table.get((c, "atheris")), table.get((c, "atheris-blind"))
        if a is not None and b is not None:
            ratio = "inf (blind never found it)" if math.isinf(b) and not math.isinf(a) else (
                f"{b / a:.1f}x" if not math.isinf(a) else "n/a (features missed too)")
            note = " (blind misses counted at the cap: a lower bound)" if math.isinf(b) else ""
            if math.isinf(b) and not math.isinf(a):
                ratio = f">= {args.cap / a:.0f}x"
            print(f"{c}: atheris without features / with features, median time to first failure: {ratio}{note}")
    starts = [o.startup for o in outcomes if o.engine.startswith("atheris") and o.seconds is not None]
    if starts:
        print(f"atheris process start-up (not counted above): median {statistics.median(starts):.2f} s")
    if args.json:
        Path(args.json).write_text(json.dumps([o.__dict__ for o in outcomes], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
