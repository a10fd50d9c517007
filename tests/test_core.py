"""The native core: real pinned pthreads, one at a time, deterministic replay."""
from __future__ import annotations

import os
import random

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
    assert a.decisions[:4] == bytes([1, 0, 1, 1])[: len(a.decisions[:4])]
    b = harness.run(HQ, "pre-fix", w, harness.Bytes(b"", fallback_random=False))
    assert b.preemptions == 0


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


def test_threads_are_real_pinned_pthreads_from_a_reused_pool():
    w = {"threads": 4, "servers": [{"maxconn": 1}],
         "requests": [{"at": 0, "thread": t, "duration": 5} for t in range(4)]}
    harness.run(HQ, "fixed", w, harness.RandomWalk(seed=1), cpu=0)
    pool = set(os.listdir("/proc/self/task"))
    harness.run(HQ, "fixed", w, harness.RandomWalk(seed=2), cpu=0)
    assert set(os.listdir("/proc/self/task")) == pool  # reused, not recreated
    # at least one pool thread per execution thread (part of the pool may exist
    # from an earlier test in this process: programs of test_runtime grow it too)
    assert len(pool - {str(os.getpid())}) >= 4
    for tid in pool - {str(os.getpid())}:
        try:
            if os.sched_getaffinity(int(tid)) == {0}:
                break
        except OSError:
            continue
    else:
        pytest.fail("no execution thread is pinned to CPU 0")


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
