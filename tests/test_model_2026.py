"""The 2026 tree of the haproxy_queue model (upstream as of 2026): ready_srv,
server delete, the stream's wake-up reasons, queueslength.  Each test runs
a small workload as a user would and checks what the trace and the verdict
say; docs/findings.md (F5) and docs/catalog.md explain the cases."""
from __future__ import annotations

import harness
from harness.schedulers import make
from support import HQ, first_failure

ONE = {"maxconn": 1}


def wl(*reqs, events=(), servers=(ONE,), balance="roundrobin", threads=2):
    return {"threads": threads, "servers": list(servers), "backend": {"balance": balance, "timeout_queue": 50},
            "requests": [dict(zip(("at", "thread", "duration"), r[:3]), **(r[3] if len(r) > 3 else {}))
                         for r in reqs],
            "events": list(events)}


def labels(ex) -> list[str]:
    return [e.label for e in ex.trace]


def test_f5_the_seed_race_is_open_when_ready_srv_is_not_armed():
    # The seed fix's shape with its last request: the releaser reads an empty
    # backend queue, so it does not run process_srv_queue and nothing arms
    # ready_srv; the request that queues just after finds no ready server.
    w = wl((0, 0, 10), (10, 1, 10))
    ex = first_failure("fixed", w)
    assert ex is not None and ex.verdict.signature == "STUCK:backend-queue:LB_FULL:RS_UNARMED", ex
    assert "ASQ_RS_EMPTY" in labels(harness.run(HQ, "fixed", w, ex.scheduler))
    assert HQ.variant("fixed").explains(ex.verdict.kind, ex.verdict.path, *ex.verdict.labels).why.startswith("F5")
    # the 2024 re-check (pendconn_must_try_again: px.served is 0, balance again) closes it
    assert first_failure("seed-fix", w) is None
    assert first_failure("coarse", w) is None


def test_f5_after_a_queued_request_consumed_ready_srv():
    # r1 queues while r0 releases: the releaser saw the length but not yet the
    # entry, armed ready_srv, and r1 took it (the fix working).  r2 then
    # queues while r1 releases and sees an empty queue: ready_srv was consumed
    # and nothing re-armed it, so r2 waits beside the idle server.
    w = wl((0, 0, 10), (10, 1, 10), (20, 0, 10))
    for seed in range(3000):
        ex = harness.run(HQ, "fixed", w, make("pct", seed))
        if ex.verdict.kind != "STUCK":
            continue
        trace = ex.trace
        taken = [e for e in trace if e.label == "ASQ_RS_TAKEN"]
        if taken and ex.verdict.request != taken[0].request:
            assert ex.verdict.path == "backend-queue"
            return
    raise AssertionError("no STUCK after a ready_srv hand-off in 3,000 PCT schedules")


def test_ready_srv_hands_a_slot_to_a_request_that_queued_behind_the_releasers_scan():
    # the hand-off itself: some schedule queues r1 on the backend, then r1 takes the
    # server that announced itself, and nothing fails
    w = wl((0, 0, 10), (10, 1, 10))
    for seed in range(3000):
        ex = harness.run(HQ, "fixed", w, make("pct", seed))
        if "ASQ_RS_TAKEN" in labels(ex):
            assert ex.verdict.ok and "RS_STORE" in labels(ex)
            return
    raise AssertionError("ready_srv never handed out a slot")


def test_a_timer_alone_does_not_process_a_queued_stream_but_a_dequeue_does():
    # r1 queues at 5 with its own timer at 8: woken by the timer alone, it only
    # refreshes it (STRM_TIMER_ONLY); r0's release at 10 dequeues it and it is served
    w = wl((0, 0, 10), (5, 1, 10, {"tick": 8}))
    ex = harness.run(HQ, "fixed", w, make("pct", 0))
    assert ex.verdict.ok and "STRM_TIMER_ONLY" in labels(ex) and "PICKED" in labels(ex)
    assert [e.label for e in ex.trace if e.label in ("RESP_200", "TIMEOUT")] == ["RESP_200", "RESP_200"]


def test_the_dequeue_wake_up_lost_to_a_timer_before_13c344516():
    # the same stream's timer and its dequeue at the same instant: one run of
    # its task, woken for both.  Without the fix it sees only the timer.
    w = wl((0, 0, 10), (5, 1, 10, {"tick": 10}))
    bad = first_failure("revert-13c344516", w)
    assert bad is not None and bad.verdict.labels[1] == "STRM_TIMER_ONLY"
    assert first_failure("fixed", w) is None


def test_del_server_only_takes_a_server_in_maintenance_that_nothing_uses():
    two = (ONE, ONE)
    busy = wl((0, 0, 20), events=({"at": 5, "thread": 1, "action": "disable", "server": 0},
                                   {"at": 6, "thread": 1, "action": "delete", "server": 0}), servers=two)
    ex = harness.run(HQ, "fixed", busy, make("pct", 0))
    assert ex.verdict.ok and "ADM_DELETE_REFUSED" in labels(ex)  # r0 still runs on it
    idle = wl((0, 0, 5), (10, 1, 5), events=({"at": 6, "thread": 1, "action": "disable", "server": 0},
                                             {"at": 7, "thread": 1, "action": "delete", "server": 0},
                                             {"at": 8, "thread": 1, "action": "enable", "server": 0}), servers=two)
    ex = harness.run(HQ, "fixed", idle, make("pct", 0))
    assert ex.verdict.ok and "ADM_DELETE_REFUSED" not in labels(ex)
    assert "ADM_ENABLE" not in labels(ex)  # a deleted server takes no more commands
    picks = [e.value for e in ex.trace if e.label == "LB_PICK"]
    assert picks[-1] == 1  # the request after the delete goes to the server that is left
