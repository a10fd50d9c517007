"""The atheris input encoding (targets/haproxy_queue/fuzz_encoding.py) and the
hypothesis workload strategy (targets/haproxy_queue/hypothesis_workloads.py)
carry model version 3's fields: slowstart, connect failures with retries,
balance random(draws), thread groups, and (hypothesis) a timer window."""
from __future__ import annotations

import subprocess
import sys

from hypothesis import HealthCheck, Phase, find, settings

import harness
from harness.engines.hypothesis_engine import search
from harness.fuzzinput import decode, encode
from harness.strategies import workloads
from support import HQ, ROOT

F6 = "STUCK:backend-queue:RND_FULL:*"  # docs/findings.md F6: only reachable with balance random


def test_a_decoded_input_carries_each_version_3_field():
    # c0: 2 threads, 2 servers; c1: 2 requests; server 0 with the x bit (the pair follows the servers)
    data = bytes([0x01 | 1 << 4, 2, 0x80 | 1, 1,
                  2 | 1 << 2 | 0x10 | 2 << 5,  # x0: slowstart 50 on server 1, random, draws 3
                  2 | 2 << 2 | 1 << 4,  # x1: retries 1, 2 failures of request 1
                  0, 0, 1, 1])
    w, _ = decode(HQ, data)
    d = w.data
    assert [s.get("slowstart") for s in d["servers"]] == [None, 50]
    assert (d["backend"]["balance"], d["backend"]["draws"], d["backend"]["retries"]) == ("random", 3, 1)
    assert [r.get("fails") for r in d["requests"]] == [None, 2]


def test_the_pair_s_last_bit_gives_every_thread_a_group_of_its_own():
    # 4 threads, 1 server with the x bit, x0 = the groups bit only, x1 = 0, one request
    w, _ = decode(HQ, bytes([0x03, 1, 0x80, 0x80, 0, 0, 0]))
    assert (w.data["threads"], w.data.get("threads_per_group")) == (4, 1)
    assert decode(HQ, encode(HQ, w.data))[0].data == w.data
    w, _ = decode(HQ, bytes([0x03, 1, 0x80, 0, 0, 0, 0]))
    assert "threads_per_group" not in w.data


def test_atheris_finds_624969884_which_needs_thread_groups(tmp_path):
    entry = ROOT / "fuzz" / "fuzz_haproxy_queue.py"
    proc = subprocess.run([sys.executable, str(entry), "-max_total_time=60", "-seed=1", "--variant=revert-624969884",
                           "--corpus=", "--crash-on=LIVELOCK:*"], cwd=tmp_path, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=180)
    assert proc.returncode == 77, proc.stdout[-3000:]
    (crash,) = tmp_path.glob("crash-*")
    w, s = decode(HQ, crash.read_bytes())
    assert w.data.get("threads_per_group") == 1
    assert harness.run(HQ, "revert-624969884", w, s).verdict.signature == "LIVELOCK:-:PSQ_TG_SPIN:-"


def test_without_the_x_bit_an_input_decodes_as_before_the_pair_existed():
    w, _ = decode(HQ, bytes([0x01, 2, 1, 0x10, 2 << 2, 0, 0, 1, 1]))
    assert not any(k in w.data["backend"] for k in ("retries", "draws"))
    assert not any("slowstart" in s for s in w.data["servers"]) and not any("fails" in r for r in w.data["requests"])


def test_a_workload_with_the_version_3_fields_encodes_exactly():
    w = HQ.workload({
        "threads": 2, "servers": [{"maxconn": 3}, {"maxconn": 2, "slowstart": 100}],
        "backend": {"balance": "random", "draws": 4, "retries": 0, "timeout_queue": 30},
        "requests": [{"at": 0, "thread": 0, "duration": 10}, {"at": 10, "thread": 1, "duration": 20, "fails": 3}],
    })
    assert decode(HQ, encode(HQ, w.data))[0].data == w.data


def test_atheris_finds_f6_on_fixed_which_needs_balance_random(tmp_path):
    entry = ROOT / "fuzz" / "fuzz_haproxy_queue.py"
    proc = subprocess.run([sys.executable, str(entry), "-max_total_time=60", "-seed=1", "--variant=fixed", "--corpus=",
                           f"--crash-on={F6}"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=180)
    assert proc.returncode == 77, proc.stdout[-3000:]
    (crash,) = tmp_path.glob("crash-*")
    w, s = decode(HQ, crash.read_bytes())
    assert w.data["backend"]["balance"] == "random"
    assert harness.run(HQ, "fixed", w, s).verdict.signature.startswith("STUCK:backend-queue:RND_FULL:")


def test_the_generic_hypothesis_mix_draws_each_version_3_field():
    conf = settings(max_examples=3000, database=None, suppress_health_check=list(HealthCheck),
                    phases=(Phase.generate,))  # the first example with the field, unshrunk
    g = workloads("haproxy_queue", mix="generic")
    for has in (lambda d: any(s.get("slowstart") for s in d["servers"]),
                lambda d: any(r.get("fails") for r in d["requests"]),
                lambda d: "retries" in d["backend"],
                lambda d: d["backend"]["balance"] == "random" and "draws" in d["backend"],
                lambda d: d.get("jitter"),
                lambda d: d.get("threads_per_group")):
        assert has(find(g, lambda w: bool(has(w.data)), settings=conf).data)
    # the basic mix (the strategy's default) draws none of them
    basic = find(workloads("haproxy_queue"), lambda w: len(w.data["requests"]) >= 3, settings=conf).data
    assert not any(k in basic for k in ("jitter", "threads_per_group")) and basic["backend"]["balance"] != "random"


def test_hypothesis_search_on_the_generic_mix_finds_f6_on_fixed():
    # a knob given explicitly wins over the mix's: every example draws balance random(draws)
    r = search(HQ, "fixed", examples=2000, seed=1, matching=F6, stop_at_first=True, mix="generic", balance="random")
    assert r.found, r
    (f,) = r.found.values()
    assert f.execution.workload.data["backend"]["balance"] == "random"
    # the basic mix has no balance random to give
    try:
        workloads("haproxy_queue", balance="random")
    except Exception as exc:  # harness.errors.QfuzzError: one line naming the choices
        assert "random" in str(exc)
    else:
        raise AssertionError("balance random accepted without the random knob")


def test_hypothesis_search_on_the_generic_mix_finds_624969884():
    # thread groups come only from the generic mix: 4 threads, one per group, reach the bitmap's second word
    r = search(HQ, "revert-624969884", examples=3000, seed=1, stop_at_first=True, mix="generic", threads=(4, 4))
    assert r.found, r
    ((sig, f),) = r.found.items()
    assert f.execution.workload.data.get("threads_per_group") and str(sig).startswith("LIVELOCK:"), sig
