"""What the haproxy_queue STUCK oracle (targets/haproxy_queue/oracle.c) blames."""
from __future__ import annotations

import harness
from harness.attribution import attribute
from harness.schedulers import Replay
from support import HQ

# The pre-fix main job's schedule that was kept out of the corpus in round 3
# (docs/findings.md, "A stranding that the backend queue outlives"), minimized:
# one thread, so no preemption.  At t=28 the ramp raises the limit to 2 and the
# warmup's pendconn_grab_from_px hands r2 a slot without counting it in served
# (111ea83ed), so served 1 < 2 strands r3 with no release decision on record;
# at t=32 the only server is disabled and the backend queue is left behind
# (53f52e67a): r3 waits out `timeout queue`.
STRANDED_THEN_LEFT_BEHIND = {
    "threads": 1,
    "servers": [{"maxconn": 3, "slowstart": 37}],
    "backend": {"balance": "leastconn", "timeout_queue": 50},
    "requests": [{"at": 0, "thread": 0, "duration": 13}, {"at": 1, "thread": 0, "duration": 20},
                 {"at": 3, "thread": 0, "duration": 6}, {"at": 20, "thread": 0, "duration": 0}],
    "events": [{"at": 32, "thread": 0, "action": "disable", "server": 0}],
}


def test_a_stranding_with_no_release_decision_that_the_queue_outlives_blames_the_queue_left_behind():
    for variant in ("pre-fix", "seed-fix"):
        ex = harness.run(HQ, variant, STRANDED_THEN_LEFT_BEHIND, Replay())
        v = ex.verdict
        # stranded at the ramp step (t=28), the timeout decided by the disable at t=32
        assert (v.signature, v.stranded_at, v.failed_at) == ("STUCK:backend-queue:LB_FULL:RD_SKIP_PX", 28, 70), variant
        pattern = HQ.variant(variant).explains(v.kind, v.path, *v.labels)
        assert pattern is not None and "53f52e67a" in pattern.why, (variant, pattern)
        # and the differential agrees: the 53f52e67a fix (a 503 at the disable) removes it
        assert attribute(ex).removes("53f52e67a"), (variant, attribute(ex))


def test_without_the_disable_the_same_stranding_only_delays():
    """The control: with the server left up nothing is left behind, and a later release serves r3
    before its timeout; so the STUCK above is the disable's doing, not the ramp step's."""
    w = {**STRANDED_THEN_LEFT_BEHIND, "events": []}
    for variant in ("pre-fix", "seed-fix"):
        assert harness.run(HQ, variant, w, Replay()).verdict.ok, variant


# The pre-fix main job's stranding with no release decision on record (round 4 kept it out of
# the corpus as STUCK:backend-queue:LB_FULL:-).  At t=29 the ramp ends and the warmup's
# pendconn_grab_from_px hands r0 a slot without counting it in served (111ea83ed): by served the
# server has a free slot, so r3 is stranded; in fact r0 holds it, and the releases at t=43 find
# the dynamic limit (fullconn) reached.  r3 times out: the grab is the release side's event.
GRABBED_SLOT = {
    "threads": 3,
    "servers": [{"maxconn": 3, "minconn": 1, "slowstart": 29}],
    "backend": {"balance": "leastconn", "timeout_queue": 26, "fullconn": 6},
    "requests": [{"at": 11, "thread": 2, "duration": 14}, {"at": 21, "thread": 1, "duration": 14},
                 {"at": 22, "thread": 0, "duration": 15}, {"at": 26, "thread": 1, "duration": 7}],
    "events": [],
    "jitter": 10,
}
GRABBED_SLOT_DECISIONS = bytes([0, 0, 2] + [0] * 23 + [1])


def test_a_free_slot_that_only_an_uncounted_grab_made_blames_the_grab():
    for variant in ("pre-fix", "seed-fix"):
        ex = harness.run(HQ, variant, GRABBED_SLOT, Replay(GRABBED_SLOT_DECISIONS))
        v = ex.verdict
        assert v.signature == "STUCK:backend-queue:LB_FULL:GR_UNCOUNTED", variant
        assert v.critical[1].label == "GR_UNCOUNTED" and v.critical[1].step >= 0, variant
        assert "grabbed stream" in v.detail
        pattern = HQ.variant(variant).explains(v.kind, v.path, *v.labels)
        assert pattern is not None and "111ea83ed" in pattern.why, (variant, pattern)
        # the differential agrees: the 111ea83ed fix (no grab) removes it
        assert attribute(ex).removes("111ea83ed"), (variant, attribute(ex))


def test_the_last_server_left_behind_says_so():
    v = harness.run(HQ, "pre-fix", STRANDED_THEN_LEFT_BEHIND, Replay()).verdict
    assert "server 0, the last one up, went into maintenance" in v.detail and "free slot" not in v.detail


# The pre-fix main job's other stranding with no release decision at first (round 5, execution
# #558,946, minimized): at t=11 the ramp ends (limit 2, served 1), but pre-111ea83ed's warmup
# only grabs from the backend queue, and there is nothing there yet, so r1, queued on the server
# by its cookie, stays; at t=13 r2 sees the server "full" (its queue is not empty) and queues on
# the backend: stranded, with nobody's decision on record.  At t=20 (the disable's timer waited
# for r0's release) server 0 goes into maintenance and the backup becomes eligible, offered
# nothing (F2): that decision is the release side.
BACKUP_LATER = {
    "threads": 2,
    "servers": [{"maxconn": 2, "slowstart": 11}, {"maxconn": 1, "backup": True}],
    "backend": {"balance": "roundrobin", "timeout_queue": 50},
    "requests": [{"at": 3, "thread": 1, "duration": 17}, {"at": 9, "thread": 1, "duration": 0, "cookie": 0},
                 {"at": 13, "thread": 0, "duration": 0}],
    "events": [{"at": 12, "thread": 0, "action": "disable", "server": 0}],
    "jitter": 10,
}


def test_a_stranding_with_no_decision_takes_the_first_release_decision_made_after_it():
    ex = harness.run(HQ, "pre-fix", BACKUP_LATER, Replay(bytes([0] * 8 + [1])))
    v = ex.verdict
    assert (v.signature, v.stranded_at, v.server) == ("STUCK:backend-queue:LB_FULL:ADM_DISABLE", 13, 1)
    assert v.critical[1].step > v.critical[0].step  # decided after the request queued
    assert HQ.variant("pre-fix").explains(v.kind, v.path, *v.labels) is not None


# Round 6's main job, minimized: slowstart 21 on a 2-slot server, thread groups of 2.  r0
# (thread 2, group 1) holds the slot the ramp allows; r1 and r2 (thread 0, group 0) queue
# on the server.  At t=16 r0's release finds its own group's queue empty (PNS_EMPTY) and
# serves r1 from the other group; at t=21 the ramp ends (limit 2, served 1), but before
# 111ea83ed the warmup tick only grabs from the backend queue, so r2 is never offered
# the new slot and waits out `timeout queue` (t=28).  The empty-group decision at t=16 is
# not why: the tick at t=21 is.
RAMP_UNOFFERED = {
    "threads": 3, "threads_per_group": 2, "jitter": 10,
    "servers": [{"maxconn": 2, "maxqueue": 2, "slowstart": 21}],
    "backend": {"balance": "first", "timeout_queue": 26},
    "requests": [{"at": 2, "thread": 2, "duration": 13}, {"at": 2, "thread": 0, "duration": 13, "cookie": 0},
                 {"at": 2, "thread": 0, "duration": 0, "cookie": 0}],
}
RAMP_UNOFFERED_DECISIONS = bytes([0, 1] + [0] * 15 + [1])


def test_a_slot_the_ramp_added_and_only_the_backend_queue_was_offered_blames_the_warmup_tick():
    for variant in ("pre-fix", "seed-fix", "dequeuing-fix"):
        ex = harness.run(HQ, variant, RAMP_UNOFFERED, Replay(RAMP_UNOFFERED_DECISIONS))
        v = ex.verdict
        assert v.signature == "STUCK:server-queue:ASQ_QLEN:WU_GRAB_ONLY", (variant, v.signature)
        assert v.critical[1].label == "WU_GRAB_ONLY" and v.critical[1].step >= 0, variant
        pattern = HQ.variant(variant).explains(v.kind, v.path, *v.labels)
        assert pattern is not None and "111ea83ed" in pattern.why, (variant, pattern)
    # the differential agrees where the fix is a switch of the variant: process_srv_queue at the tick
    assert attribute(harness.run(HQ, "seed-fix", RAMP_UNOFFERED, Replay(RAMP_UNOFFERED_DECISIONS))).removes("111ea83ed")
