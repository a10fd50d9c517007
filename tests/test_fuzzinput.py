"""harness.fuzzinput: every byte string decodes to a valid run, the same way
every time, and short inputs are small workloads under simple schedules."""
from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

import harness
from harness.errors import QfuzzError
from harness.fuzzinput import decode, decode_schedule, encode, encode_schedule
from harness.schedulers import Bytes

from support import HQ, SEEDS


@given(st.binary(max_size=120))
def test_every_input_decodes_to_a_valid_run(data):
    workload, scheduler = decode(HQ, data)
    ex = harness.run(HQ, "fixed", workload, scheduler, trace=False)  # raises on an invalid workload
    assert ex.steps > 0 or not workload.data["requests"]


@given(st.binary(max_size=80))
def test_decoding_is_deterministic(data):
    w1, s1 = decode("haproxy_queue", data)
    w2, s2 = decode(HQ, bytes(data))
    assert (w1.data, w1.packed, s1) == (w2.data, w2.packed, s2)
    r1 = harness.run(HQ, "pre-fix", w1, s1, trace=False)
    r2 = harness.run(HQ, "pre-fix", w2, s2, trace=False)
    assert (r1.verdict, r1.decisions) == (r2.verdict, r2.decisions)


def test_the_empty_input_is_the_smallest_workload_without_preemption():
    workload, scheduler = decode(HQ, b"")
    assert HQ.size(workload.data) == {"threads": 1, "servers": 1, "requests": 0, "events": 0}
    assert scheduler == Bytes(data=b"", seed=0, fallback_random=False)
    assert harness.run(HQ, "pre-fix", workload, scheduler).preemptions == 0


@given(st.binary(max_size=40))
def test_short_inputs_give_small_workloads(data):
    workload, scheduler = decode(HQ, data)
    size = HQ.size(workload.data)
    records = max(0, len(data) - 2)  # after the two header bytes
    assert size["servers"] <= 1 + records
    assert size["requests"] + size["events"] <= records // 2
    if len(data) <= 2:
        assert size["requests"] == size["events"] == 0 and not scheduler.data


WORKLOAD_MAX = 2 + 4 + 2 + 2 * 15 + 2 * 3  # header, servers, the version-3 pair, requests, events: the longest


@given(st.binary(min_size=WORKLOAD_MAX, max_size=WORKLOAD_MAX + 20), st.binary(max_size=10))
def test_bytes_past_the_workload_only_add_preemptions(data, more):
    w1, s1 = decode(HQ, data)
    w2, s2 = decode(HQ, data + more)
    assert w1.data == w2.data
    assert s2.data.startswith(s1.data)


def test_schedule_bytes_are_sparse_preemptions():
    s = decode_schedule(bytes([0, 3 << 2 | 1, 0 << 2 | 0]))
    assert s.data == bytes([0, 0, 0, 2, 1]) and not s.fallback_random
    assert decode_schedule(bytes([7])) == Bytes(data=b"", seed=3, fallback_random=True)
    assert decode_schedule(encode_schedule(bytes([0, 0, 2, 0, 1, 0, 0]))).data == bytes([0, 0, 2, 0, 1])


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_seed_workloads_encode_exactly(name):
    w = HQ.workload(SEEDS[name])
    decoded, _ = decode(HQ, encode(HQ, SEEDS[name]))
    assert decoded.data == w.data


def test_the_mix_encodes_exactly():
    # the input encoding has a 10 ms grid and no jitter or weight: the basic mix on that grid
    for i in range(50):
        w = HQ.workload(HQ.generate(random.Random(i), "basic", grid="10ms"))
        assert decode(HQ, encode(HQ, w))[0].data == w.data


def test_a_pinned_workload_makes_every_byte_schedule():
    w = HQ.workload(SEEDS["seed-hash"])
    workload, scheduler = decode(HQ, b"\x00\x05", workload=SEEDS["seed-hash"])
    assert workload.data == w.data and scheduler.data == bytes([0, 2])


def test_an_unknown_target_is_a_one_line_error():
    with pytest.raises(QfuzzError):
        decode("no_such_target", b"")
