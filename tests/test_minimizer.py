"""The minimizer: deterministic, at its fixpoint, memoized, budgeted in executions."""
from __future__ import annotations

import json

import pytest

import harness
import harness.minimizer as minimizer
from harness.minimizer import Size, minimize
from harness.reproducer import from_execution

from support import HQ, SEED_PATH, SEEDS, first_failure


@pytest.fixture(scope="module")
def seed_failures():
    """The seed bug on both of its paths, as a PCT search first meets it (not small)."""
    out = {}
    for name in sorted(SEED_PATH):
        ex = first_failure("pre-fix", SEEDS[name])
        assert ex is not None and ex.verdict.path == SEED_PATH[name]
        out[name] = ex
    return out


def _counting(monkeypatch):
    """Record every execution the minimizer runs: (workload, decisions asked, decisions recorded)."""
    calls = []
    real = minimizer.run

    def counted(target, variant, workload, scheduler, **kw):
        ex = real(target, variant, workload, scheduler, **kw)
        calls.append((json.dumps(ex.workload.data, sort_keys=True), bytes(scheduler.decisions).rstrip(b"\0"),
                      bytes(ex.decisions)))
        return ex

    monkeypatch.setattr(minimizer, "run", counted)
    return calls


def test_the_same_failure_minimized_twice_gives_the_identical_reproducer(seed_failures):
    for ex in seed_failures.values():
        a, b = minimize(ex), minimize(ex, seconds=30.0)
        assert a.stopped is None and b.stopped is None  # at the fixpoint, not cut by a budget
        assert from_execution(a.execution).dumps() == from_execution(b.execution).dumps()
        assert a.runs == b.runs


def test_the_result_is_a_fixpoint_and_smaller(seed_failures):
    for ex in seed_failures.values():
        m = minimize(ex)
        again = minimize(m.execution)
        assert again.execution.workload.data == m.execution.workload.data
        assert again.execution.decisions == m.execution.decisions
        assert m.after.preemptions <= m.before.preemptions  # preemptions never grow
        assert m.after.requests < m.before.requests and m.after.threads == 2
        assert m.execution.verdict.signature == ex.verdict.signature
        replay = harness.run(HQ, "pre-fix", m.execution.workload, harness.Replay(m.execution.decisions))
        assert replay.verdict.signature == ex.verdict.signature


def test_no_candidate_runs_twice_and_no_schedule_search_without_choice_points(seed_failures, monkeypatch):
    calls = _counting(monkeypatch)
    minimize(seed_failures["seed-hash"])
    final = calls.pop()  # the last run is the final replay with the trace on
    assert final in calls
    asked = [(w, d) for w, d, _ in calls]
    recorded = [(w, d.rstrip(b"\0")) for w, _, d in calls]
    assert len(set(asked)) == len(asked)  # failed candidates are memoized, not run again
    assert len(set(recorded)) == len(recorded)  # nor is one the core already ran under another list
    no_choice = {w for w, _, d in calls if not d}
    assert no_choice  # the seed bug's workload shrinks to some that have a single runnable thread
    for w in no_choice:
        assert sum(1 for x, _, _ in calls if x == w) == 1  # one execution is every schedule there


def test_a_budget_in_executions_stops_it_and_says_so(seed_failures):
    ex = seed_failures["seed-roundrobin"]
    m = minimize(ex, budget=20)
    assert m.stopped == "budget" and m.runs == 20  # every execution counts, the first replay included
    assert m.execution.verdict.signature == ex.verdict.signature  # a valid case, just not the smallest
    assert from_execution(minimize(ex, budget=20).execution).dumps() == from_execution(m.execution).dumps()


def test_the_wall_clock_safety_net_is_reported_when_hit(seed_failures, capsys):
    ex = seed_failures["seed-hash"]
    m = minimize(ex, seconds=0)
    assert m.stopped == "time" and m.execution.verdict.signature == ex.verdict.signature
    assert "hit the 0 s safety net" in capsys.readouterr().err
    minimize(ex)
    assert capsys.readouterr().err == ""  # at the fixpoint well before it


def test_size_comes_from_the_target_threads_and_preemptions_first():
    ex = harness.run("pingpong", "default", {"rounds": 3}, harness.Replay(b"\x01" * 4))
    size = Size.of(ex)
    assert list(size.to_json()) == ["threads", "preemptions", "requests", "steps"]
    assert size.requests == 3 and size.preemptions == ex.preemptions
    hq = first_failure("pre-fix", SEEDS["seed-hash"])
    assert list(Size.of(hq).to_json()) == ["threads", "preemptions", "servers", "requests", "events", "steps"]
    assert "servers" not in open(minimizer.__file__).read()  # the generic code knows no target's keys


def test_a_case_that_stops_failing_is_an_internal_error_not_an_assert(seed_failures, monkeypatch):
    ex = seed_failures["seed-hash"]
    real = minimizer.run

    def flaky(target, variant, workload, scheduler, trace=True, **kw):
        out = real(target, variant, workload, scheduler, trace=trace, **kw)
        if trace:  # the final replay: pretend it passed
            return harness.run(HQ, "fixed", workload, harness.Replay(b""), trace=False)
        return out

    monkeypatch.setattr(minimizer, "run", flaky)
    with pytest.raises(RuntimeError, match="internal error"):
        minimize(ex)
