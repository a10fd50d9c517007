"""The haproxy_queue model and its oracles: each variant shows what it must."""
from __future__ import annotations

import random

import pytest

import harness
from harness.schedulers import make
from support import HQ, SEED_PATH, SEEDS, first_failure


@pytest.mark.parametrize("seed_name", sorted(SEEDS))
def test_pre_fix_is_stuck_on_both_paths(seed_name):
    ex = first_failure("pre-fix", SEEDS[seed_name])
    assert ex is not None, "PCT did not find the seed bug in 2000 executions"
    assert ex.verdict.path == SEED_PATH[seed_name]
    v = ex.verdict
    assert v.request is not None and v.server == 0
    assert v.failed_at - v.stranded_at <= HQ.workload(SEEDS[seed_name]).data["backend"]["timeout_queue"]
    a, b = v.critical
    assert a and b and a.thread != b.thread  # the queuer and the releaser


def test_server_fix_closes_the_server_path_only():
    assert first_failure("server-fix", SEEDS["seed-roundrobin"]).verdict.path == "backend-queue"
    for strategy in ("random", "pct", "pos"):
        assert first_failure("server-fix", SEEDS["seed-hash"], strategy, runs=1500) is None


@pytest.mark.parametrize("seed_name", sorted(SEEDS))
def test_seed_fix_closes_both_seed_paths(seed_name):
    for strategy in ("random", "pct", "pos"):
        assert first_failure("seed-fix", SEEDS[seed_name], strategy, runs=1500) is None


def test_a_legitimate_overload_times_out_but_is_never_stuck():
    # one server busy for the whole window: the queued requests must time out (503 sQ), not be flagged
    w = HQ.workload({
        "threads": 3, "servers": [{"maxconn": 1}], "backend": {"balance": "roundrobin", "timeout_queue": 50},
        "requests": [{"at": 0, "thread": 0, "duration": 500}]
        + [{"at": 5 + i, "thread": 1 + i % 2, "duration": 10} for i in range(4)],
    })
    for variant in ("pre-fix", "fixed", "coarse"):
        for strategy in ("random", "pct", "pos"):
            for seed in range(150):
                ex = harness.run(HQ, variant, w, make(strategy, seed))
                assert ex.verdict.ok, ex.verdict
                timeouts = [e.request for e in ex.trace if e.label == "TIMEOUT"]
                assert sorted(timeouts) == [1, 2, 3, 4]


def test_a_stranded_request_rescued_by_a_later_arrival_is_not_stuck():
    # the backend-path race strands request 1, but a later request is served (leastconn has no
    # skip-LB shortcut) and its release dequeues request 1 before its timeout: only delayed
    w = HQ.workload({
        "threads": 2, "servers": [{"maxconn": 1}], "backend": {"balance": "leastconn", "timeout_queue": 100},
        "requests": [{"at": 0, "thread": 0, "duration": 10}, {"at": 10, "thread": 1, "duration": 0},
                     {"at": 30, "thread": 0, "duration": 5}],
    })
    seen_stranded = 0
    for seed in range(3000):
        ex = harness.run(HQ, "pre-fix", w, harness.PCT(seed=seed))
        assert ex.verdict.kind != "STUCK"
        seen_stranded += any(e.label == "QUEUED" for e in ex.trace) and any(
            e.label == "PICKED" and e.time == 35 for e in ex.trace)
    assert seen_stranded  # the race did happen, and the rescue came from the later request


def test_coarse_stays_clean_over_thousands_of_varied_executions(fuzz_time):
    import time

    rnd = random.Random(2026)
    until = time.monotonic() + fuzz_time  # pytest --fuzz-time S runs longer
    i = pre_fix_failures = 0
    while i < 300 or time.monotonic() < until:
        w = HQ.workload(HQ.generate(rnd))  # the generic mix: every field of the format, jitter on
        for strategy in ("random", "pct", "pos"):
            for seed in range(4):
                ex = harness.run(HQ, "coarse", w, make(strategy, i * 10 + seed), trace=False)
                assert ex.verdict.ok, (w.data, strategy, ex.verdict)
        # the positive control: the same workloads do fail where the bugs are
        pre_fix_failures += harness.run(HQ, "pre-fix", w, make("pos", i), trace=False).failed
        i += 1
    assert pre_fix_failures >= 10


def test_every_failure_on_a_buggy_variant_is_a_known_bug_of_that_tree():
    # known by differential (harness/attribution.py): a fix of that tree removes it, or it is a documented finding
    from harness.attribution import attribute

    rnd = random.Random(7)
    variant = HQ.variant("pre-fix")
    tree_fixes = {name for bit, name in HQ.fixes().items() if variant.bits & bit}
    seen: dict[str, str] = {}
    for i in range(200):
        w = HQ.workload(HQ.generate(rnd))
        for seed in range(5):
            ex = harness.run(HQ, "pre-fix", w, harness.PCT(seed=seed), trace=False)
            if ex.failed and ex.verdict.signature not in seen:
                a = attribute(ex)
                seen[ex.verdict.signature] = a.label
                assert set(a.removed_by) <= tree_fixes
                # removed by one fix, by the fixes together ("several fixes"), or a documented finding
                assert a.finding != "new", (ex.verdict.signature, w.data, a)
    assert len(seen) >= 5, seen  # failures were found, so the check above ran
    assert any("5541d4995" in label for sig, label in seen.items() if sig.startswith("STUCK")), seen
