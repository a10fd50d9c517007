"""Thread groups in the haproxy_queue model (HAProxy 3.2+: a queue per thread
group, process_srv_queue's own-group-first order over the non_empty_tgids
bitmap) and the catalog entry of 624969884, the bitmap's prefill index.
docs/catalog.md explains the scale-down (2-bit words)."""
from __future__ import annotations

import random

import pytest

import harness
from harness.errors import WorkloadError
from harness.schedulers import make
from support import HQ, first_failure


def wl(reqs, threads: int, per_group: int = 1, timeout_queue: int = 50) -> dict:
    """One thread group per `per_group` threads (1: every thread its own group)."""
    return {"threads": threads, "threads_per_group": per_group, "servers": [{"maxconn": 1}],
            "backend": {"balance": "hash", "timeout_queue": timeout_queue},
            "requests": [{"at": at, "thread": th, "duration": dur} for at, th, dur in reqs]}


def picked(ex) -> list[int]:
    """The requests in the order the dequeuers handed them a slot."""
    return [e.request for e in ex.trace if e.label == "PICKED"]


# A holds the only slot until t=20 (thread 0); B1..B10 queue on thread 0 at
# t=1, 3, .., 19, C on thread 1 at t=2, just after B1.  Every release runs on the
# thread of the request that ends.
A, B, C = 0, list(range(1, 11)), 11
ORDER = wl([(0, 0, 20), *[(1 + 2 * i, 0, 5) for i in range(10)], (2, 1, 5)], threads=2, timeout_queue=1000)


@pytest.mark.parametrize("seed", range(3))
def test_own_group_first_then_one_from_another_group(seed):
    # two groups: thread 0's releases take MAX_SELF_USE_QUEUE (9) from its own
    # group's queue, then one from the other group (C, older than B2..B10);
    # C's release on thread 1 finds its own group empty and takes B10
    ex = harness.run(HQ, "fixed", ORDER, make("pct", seed))
    assert ex.verdict.ok, ex.verdict
    assert picked(ex) == [*B[:9], C, B[9]]
    # one group: one queue in arrival order
    one = harness.run(HQ, "fixed", {**ORDER, "threads_per_group": 2}, make("pct", seed))
    assert one.verdict.ok and picked(one) == [B[0], C, *B[1:]]


def test_each_thread_queues_on_its_own_groups_queue_and_a_release_looks_at_the_others():
    # thread 0 (group 0) holds the slot; r1 queues from thread 2 (group 2 of 4):
    # thread 0's release finds its own group empty, drops it and groups 1,
    # then dequeues r1 from group 2
    w = wl([(0, 0, 10), (1, 2, 10)], threads=4)
    ex = harness.run(HQ, "fixed", w, make("pct", 0))
    assert ex.verdict.ok and picked(ex) == [1]
    rounds = [e.label for e in ex.trace if e.label in ("PNS_EMPTY", "PSQ_LAST_OTHER_CAS", "PNS_WAKE")]
    assert rounds == ["PNS_EMPTY", "PSQ_LAST_OTHER_CAS", "PNS_EMPTY", "PSQ_LAST_OTHER_CAS", "PNS_WAKE"]


def test_revert_624969884_the_second_words_groups_are_never_dequeued_and_the_search_spins():
    # 4 groups fill two 2-bit words; the buggy prefill leaves word 1 (groups 2
    # and 3) unwritten: r1's queue looks empty, and once groups 0 and 1 are
    # dropped the search for another group never ends
    w = wl([(0, 0, 10), (1, 2, 10)], threads=4)
    ex = harness.run(HQ, "revert-624969884", w, make("pct", 0))
    assert ex.verdict.signature == "LIVELOCK:-:PSQ_TG_SPIN:-", ex.verdict
    assert ex.verdict.server == 0 and not picked(ex)
    assert HQ.variant("revert-624969884").explains(ex.verdict.kind, ex.verdict.path, *ex.verdict.labels)
    assert first_failure("fixed", w, runs=300, kind="LIVELOCK") is None
    assert first_failure("coarse", w, runs=300, kind="LIVELOCK") is None


def test_revert_624969884_needs_the_second_word():
    # 3 groups: one whole word, then bit by bit: the wrong index is never used
    w = wl([(0, 0, 10), (1, 2, 10)], threads=3)
    for v in ("revert-624969884", "fixed"):
        ex = harness.run(HQ, v, w, make("pct", 0))
        assert ex.verdict.ok and picked(ex) == [1], (v, ex.verdict)


def test_revert_624969884_writes_past_the_bitmap_from_the_third_word_on():
    # 6 groups: 4 words, and the third whole-word write lands at index 4
    w = wl([(0, 0, 10), (1, 2, 10)], threads=6)
    ex = harness.run(HQ, "revert-624969884", w, make("pct", 0))
    assert ex.verdict.signature == "SAFETY:-:INV_TG_OOB:-", ex.verdict
    assert "non_empty_tgids[4], past its 4 words" in ex.verdict.detail
    assert harness.run(HQ, "fixed", w, make("pct", 0)).verdict.ok


def test_one_group_takes_the_steps_of_the_field_left_out():
    w = wl([(0, 0, 10), (1, 1, 10), (1, 0, 5)], threads=2, per_group=2)  # both threads in one group
    bare = {k: v for k, v in w.items() if k != "threads_per_group"}
    assert "threads_per_group" not in HQ.workload(bare).data
    for seed in range(5):
        one, left_out = (harness.run(HQ, "fixed", x, make("pct", seed)) for x in (w, bare))
        assert one.raw_trace == left_out.raw_trace


@pytest.mark.parametrize("value", [0, 17, True])
def test_a_bad_group_size_is_refused_on_one_line(value):
    with pytest.raises(WorkloadError, match=r"workload\.threads_per_group: "):
        HQ.workload(wl([(0, 0, 10)], threads=2, per_group=value))


def test_the_generic_mix_draws_thread_groups_and_shrinking_keeps_them_valid():
    rnd = random.Random(0)
    drawn = [HQ.generate(rnd) for _ in range(300)]
    groups = [-(-w["threads"] // w["threads_per_group"]) for w in drawn if "threads_per_group" in w]
    assert groups and max(groups) >= 4  # some reach the bitmap's second word
    assert len(groups) < len(drawn) / 2  # most workloads keep one group
    for w in [w for w in drawn if "threads_per_group" in w][:10]:
        data = HQ.workload(w).data
        for c in HQ.shrink(data):
            HQ.workload(c)  # valid whatever the thread count
        assert any("threads_per_group" not in c for c in HQ.shrink(data))  # one group is a candidate
