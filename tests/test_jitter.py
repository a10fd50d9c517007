"""Timer jitter (native/core.c): races without identical timestamps.  With a
workload "jitter" window, a due timer may wait for a later one, chosen by the
schedule, recorded in the decision list and replayed exactly; without it,
nothing changes (tests/test_golden.py holds the older files to that)."""
from __future__ import annotations

import copy
import json
import random

import harness
from harness.minimizer import minimize
from harness.reproducer import from_execution, from_json
from harness.schedulers import Replay, make
from support import HQ, SEEDS, first_failure, qfuzz


def off_grid(jitter: int = 0) -> dict:
    """The server-queue seed workload with thread 1's arrivals 3 ms after thread 0's releases."""
    w = copy.deepcopy(SEEDS["seed-hash"])
    for r in w["requests"]:
        if r["thread"] == 1:
            r["at"] += 3
    if jitter:
        w["jitter"] = jitter
    return w


def test_an_arrival_3_ms_after_a_release_races_it_only_with_jitter():
    assert first_failure("pre-fix", off_grid(), runs=600) is None  # never the same instant: no race
    for strategy in ("pct", "pos", "random"):
        ex = first_failure("pre-fix", off_grid(5), strategy, runs=2000)
        assert ex is not None and ex.verdict.path == "server-queue", strategy
        traced = harness.run(HQ, "pre-fix", ex.workload, ex.scheduler)
        assert any(e.label == "JITTER" for e in traced.trace)


def test_a_jittered_failure_replays_exactly_from_its_reproducer():
    ex = harness.run(HQ, "pre-fix", off_grid(5), first_failure("pre-fix", off_grid(5)).scheduler)
    rep = from_json(json.loads(from_execution(ex).dumps()), "test")
    assert rep.workload["jitter"] == 5
    again = rep.replay()
    assert again.verdict == ex.verdict and again.raw_trace == ex.raw_trace
    assert bytes(again.decisions).rstrip(b"\0") == bytes(ex.decisions).rstrip(b"\0")
    # the jitter choices are part of the schedule: without them, the same thread picks do not fail
    assert harness.run(HQ, "pre-fix", off_grid(), Replay(bytes(ex.decisions))).verdict.ok


def test_a_timer_only_waits_for_a_later_timer_within_the_window():
    window = 4
    w = HQ.workload({**HQ.generate(random.Random(3), "basic"), "jitter": window})
    moved = 0
    for seed in range(60):
        ex = harness.run(HQ, "fixed", w, make("random", seed))
        clocks = [e.value for e in ex.trace if e.label == "CLOCK"]
        for i, e in enumerate(ex.trace):
            if e.label == "JITTER":
                moved += 1
                later_clock = [c.value for c in ex.trace[i:] if c.label == "CLOCK"]
                assert e.value in clocks  # it fires at another timer's instant
                assert later_clock[0] <= e.value <= later_clock[0] + window  # within the window
    assert moved  # the window was used


def test_without_jitter_no_decision_and_no_trace_event_is_added():
    w = HQ.workload(SEEDS["seed-hash"])
    assert "jitter" not in w.data  # the format of older workloads is unchanged
    assert HQ.workload({**SEEDS["seed-hash"], "jitter": 0}).data == w.data
    for seed in range(20):
        ex = harness.run(HQ, "pre-fix", w, make("pct", seed))
        assert not any(e.label == "JITTER" for e in ex.trace)


def test_the_minimizer_drops_jitter_the_failure_does_not_need():
    # a same-instant race does not need the window: the minimized workload loses it
    w = {**SEEDS["seed-hash"], "jitter": 5}
    ex = first_failure("pre-fix", w)
    m = minimize(ex, seconds=5)
    assert m.execution.verdict.signature == ex.verdict.signature
    assert "jitter" not in m.execution.workload.data


def test_a_jitter_outside_its_range_is_one_line_and_exit_2(tmp_path):
    for bad in (-1, 100_001, "5"):
        f = tmp_path / "w.json"
        f.write_text(json.dumps({**SEEDS["seed-hash"], "jitter": bad}))
        out = qfuzz("fuzz", "haproxy_queue", "--variant", "pre-fix", "--workload", str(f), "--runs", "1",
                    "--corpus", str(tmp_path / "c"))
        assert out.returncode == 2, out.stderr
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and "jitter" in lines[0], out.stderr


def test_a_timer_waits_only_for_another_threads_timer_and_fires_with_it():
    """The rule (native/core.c, "timer jitter"): a timer is offered only other
    threads' later times (its own thread would run them after it anyway), and
    the timers it joins stay, so it never waits for a timer that moved on."""
    joined = 0
    for n in range(8):
        w = HQ.workload(HQ.generate(random.Random(n), grid="continuous"))
        for seed in range(10):
            ex = harness.run(HQ, "fixed", w, make("random", seed))
            for e in ex.trace:
                if e.label == "JITTER":
                    others = {f.thread for f in ex.trace if f.label == "TIMER" and f.time == e.value} - {e.thread}
                    assert others, (n, seed, e)  # someone else's timer fires in the instant it waited for
                    joined += 1
    assert joined > 30
