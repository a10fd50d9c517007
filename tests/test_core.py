"""The native core: real pinned pthreads, one at a time, deterministic replay."""
from __future__ import annotations

import random
import subprocess
import sys

import pytest

import harness
from harness.schedulers import make
from support import HQ, SEEDS


def mix(n: int, seed: int = 1):
    rnd = random.Random(seed)
    return [HQ.workload(HQ.generate(rnd)) for _ in range(n)]


@pytest.mark.parametrize("strategy", ["random", "pct", "pos"])
def test_replaying_the_decisions_gives_the_identical_execution(strategy):
    for i, w in enumerate(mix(40)):
        for variant in ("pre-fix", "fixed"):
            ex = harness.run(HQ, variant, w, make(strategy, i))
            again = harness.run(HQ, variant, w, harness.Replay(ex.decisions))
            assert again.raw_trace == ex.raw_trace
            assert again.decisions == ex.decisions
            assert again.verdict == ex.verdict


def test_same_seed_same_execution_and_different_seeds_differ():
    w = HQ.workload(SEEDS["seed-roundrobin"])
    runs = [harness.run(HQ, "pre-fix", w, harness.PCT(seed=s)) for s in range(30)]
    assert harness.run(HQ, "pre-fix", w, harness.PCT(seed=7)).raw_trace == runs[7].raw_trace
    assert len({r.raw_trace for r in runs}) > 5  # seeds really steer the schedule


def test_zero_decisions_mean_no_preemption():
    for w in mix(20, seed=2):
        ex = harness.run(HQ, "pre-fix", w, harness.Replay(b""))
        assert ex.preemptions == 0
        assert set(ex.decisions) <= {0}
    ex = harness.run(HQ, "pre-fix", w, harness.Replay(b"\x01" * 200))
    assert ex.preemptions > 0


def test_bytes_strategy_reads_its_decisions_from_the_input():
    w = HQ.workload(SEEDS["seed-hash"])
    a = harness.run(HQ, "pre-fix", w, harness.Bytes(b"\x01\x00\x01\x01", fallback_random=False))
    assert len(a.decisions) > 4 and a.decisions[:4] == bytes([1, 0, 1, 1])  # 2 threads: every byte is a choice
    assert a.preemptions >= 1
    b = harness.run(HQ, "pre-fix", w, harness.Bytes(b"", fallback_random=False))
    assert b.preemptions == 0 and set(b.decisions) == {0}


def test_step_budget_gives_livelock():
    ex = harness.run(HQ, "fixed", SEEDS["seed-roundrobin"], harness.PCT(), budget=10)
    assert ex.verdict.kind == "LIVELOCK"
    assert ex.steps == 11


def test_virtual_clock_only_moves_to_timers():
    w = {"threads": 1, "servers": [{"maxconn": 1}], "requests": [{"at": 7, "thread": 0, "duration": 30}]}
    ex = harness.run(HQ, "fixed", w, harness.PCT())
    assert ex.verdict.ok
    assert ex.end_time == 37
    assert [e.time for e in ex.trace if e.kind == "clock"] == [7, 37]


POOL_PROBE = """
import os, sys, harness
w = {"threads": 4, "servers": [{"maxconn": 1}],
     "requests": [{"at": 0, "thread": t, "duration": 5} for t in range(4)]}
before = set(os.listdir("/proc/self/task"))
harness.run("haproxy_queue", "fixed", w, harness.RandomWalk(seed=1), cpu=0)
pool = set(os.listdir("/proc/self/task"))
harness.run("haproxy_queue", "fixed", w, harness.RandomWalk(seed=2), cpu=0)
again = set(os.listdir("/proc/self/task"))
pinned = [t for t in pool - before if os.sched_getaffinity(int(t)) == {0}]
print(len(pool - before), int(again == pool), len(pinned))
"""


def test_threads_are_real_pinned_pthreads_from_a_reused_pool():
    # a fresh process: in this one an earlier test may have made the pool already
    out = subprocess.run([sys.executable, "-P", "-c", POOL_PROBE], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    created, reused, pinned = map(int, out.stdout.split())
    assert created >= 4  # one pthread per workload thread
    assert reused == 1  # the second execution made none and lost none
    assert pinned >= 4  # every one of them on CPU 0


def test_core_handoff_alternates_threads_at_every_point():
    n = 1000
    ex = harness.run("pingpong", "default", {"rounds": n}, harness.Replay(b"\x01" * (2 * n + 8)))
    assert ex.verdict.ok
    ops = [e.thread for e in ex.trace if e.label == "ADD"]
    assert len(ops) == 2 * n
    assert sum(a != b for a, b in zip(ops, ops[1:])) == 2 * n - 1  # a switch between every two steps


def test_a_single_thread_execution_has_an_empty_decision_list_and_replays():
    w = {"threads": 1, "servers": [{"maxconn": 1}], "requests": [{"at": 0, "thread": 0, "duration": 3}]}
    ex = harness.run(HQ, "fixed", w, harness.PCT(seed=3))
    assert ex.decisions == b"" and ex.verdict.ok
    assert harness.run(HQ, "fixed", w, harness.Replay(ex.decisions)).raw_trace == ex.raw_trace


@pytest.mark.parametrize("strategy", ["random", "pct", "pos"])
def test_a_batch_of_schedules_runs_the_executions_one_by_one_would(strategy):
    # campaigns run a workload's schedules in one call into the core (runner.run_schedules):
    # the executions, their rare-feature hits and the one that fails must be those of
    # harness.run() one seed at a time, so a stored (engine, seed, execution) still re-finds it
    from harness.engines.energy import features_kept, zero_features
    from harness.runner import run_schedules

    variant = HQ.variant("pre-fix")
    failures = 0
    for i, w in enumerate(mix(12, seed=4)):
        base = 1000 * i + (1 << 63) - 3  # seeds wrap past 2^63, as schedule_seed's do
        with features_kept():
            zero_features()
            one_by_one, failed = [], None
            for j in range(20):
                ex = harness.run(HQ, variant, w, make(strategy, (base + j) % (1 << 63)), trace=False)
                one_by_one.append(min(ex.rare_hits, 255))
                if ex.failed:
                    failed = ex
                    break
        with features_kept():
            zero_features()
            told: list[tuple[int, object]] = []
            hits, ex, _ = run_schedules(HQ, variant, w, lambda s: make(strategy, s), base, 20,
                                        before=lambda j, k: told.append((j, k)),
                                        longest=-1 if strategy == "pct" else 0)  # PCT: the estimate as harness.run
        assert list(hits) == one_by_one
        assert told == [(j, None) for j in range(len(hits))]  # each told before it ran (k: not PCT's own)
        if failed is None:
            assert ex is None
            continue
        failures += 1
        assert ex.scheduler == failed.scheduler
        assert (ex.decisions, ex.verdict, ex.steps) == (failed.decisions, failed.verdict, failed.steps)
    assert failures  # pre-fix fails often enough that the early stop is checked


def test_a_batch_stops_at_its_deadline_after_one_execution():
    import time

    from harness.runner import run_schedules

    w = HQ.workload(SEEDS["seed-roundrobin"])
    hits, _, _ = run_schedules(HQ, HQ.variant("fixed"), w, lambda s: make("random", s), 0, 500,
                            deadline=time.monotonic() - 1)
    assert len(hits) == 1


def test_pct_in_a_campaign_spreads_its_change_points_over_the_longest_execution_so_far():
    # Shuttle's rule: k is the longest execution of this workload seen so far (the target's
    # estimate before the first); the batch must run what PCT with those k's runs one by one
    import dataclasses

    from harness.engines.energy import features_kept, zero_features
    from harness.runner import run_schedules

    variant = HQ.variant("pre-fix")
    checked = 0
    for i, w in enumerate(mix(10, seed=6)):
        with features_kept():
            zero_features()
            longest, one_by_one, failed, ks = 0, [], None, []
            for j in range(12):
                k = longest or HQ.estimate_steps(w.data)
                ks.append(k)
                ex = harness.run(HQ, variant, w, make("pct", 50 * i + j, k=k), trace=False)
                one_by_one.append(min(ex.rare_hits, 255))
                longest = max(longest, ex.steps)
                if ex.failed:
                    failed = ex
                    break
        with features_kept():
            zero_features()
            told: list[int] = []
            hits, ex, got = run_schedules(HQ, variant, w, lambda s: make("pct", s), 50 * i, 12,
                                          before=lambda j, k: told.append(k))
        assert (list(hits), got, told) == (one_by_one, longest, ks)  # told each k before it ran (a crash's input)
        if failed is not None:
            checked += 1
            assert ex.scheduler == failed.scheduler  # with its k: the scheduler alone replays it
            again = harness.run(HQ, variant, w, ex.scheduler, trace=False)
            assert (again.decisions, again.verdict) == (ex.decisions, ex.verdict)
            assert dataclasses.replace(ex.scheduler, k=None) == make("pct", ex.scheduler.seed)
    assert checked
