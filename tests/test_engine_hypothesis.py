"""The hypothesis strategies, the property-test helpers and the hypothesis engine."""
from __future__ import annotations

import json

import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st
from hypothesis.internal.reflection import function_digest

import harness
from harness.strategies import PropertyFailure, check_no_failure, decisions, find_failure, no_failure, workloads

from support import HQ, SEED_PATH, SEEDS, qfuzz

# the idiom of docs/engines.md: one line per property
test_coarse_never_fails = no_failure("haproxy_queue", "coarse")
test_coarse_never_fails_with_events_cookies_and_pokes = no_failure(
    "haproxy_queue", "coarse", max_events=3, cookies=True, pokes=True
)


@given(workloads("haproxy_queue", balance="hash"), decisions(), st.integers(0, 2**32 - 1))
def test_the_fixed_model_never_fails_on_a_hashed_server_queue(workload, schedule, seed):
    check_no_failure("haproxy_queue", "fixed", workload, schedule, explore=8, seed=seed)


def test_the_same_property_finds_the_seed_bug_on_the_server_queue_of_pre_fix():
    """The control of the one above: it can fail, and on the path it is about."""
    prop = no_failure("haproxy_queue", "pre-fix", balance="hash", allow=("SAFETY:*",), explore=8,
                      settings=settings(max_examples=100, database=None, derandomize=True, deadline=None,
                                        phases=(Phase.explicit, Phase.generate)))
    with pytest.raises(PropertyFailure) as info:
        prop()
    assert info.value.execution.verdict.signature.startswith("STUCK:server-queue:ASQ_")


BUGGY = sorted(v.name for v in HQ.variants.values() if not v.expected_clean)


# the ci profile whatever profile is loaded: derandomized, so this test never flips
CI_SETTINGS = settings(settings.get_profile("ci"), deadline=None, phases=(Phase.explicit, Phase.generate))


@pytest.mark.parametrize("variant", BUGGY)
def test_the_property_of_every_known_buggy_variant_fails(variant, tmp_path, monkeypatch):
    """`no_failure(target, variant)` under the ci profile: the workloads of the
    variant's own mix, each under a drawn schedule and 16 seeded ones."""
    monkeypatch.setenv("QFUZZ_FAILURES", str(tmp_path))
    with pytest.raises(PropertyFailure) as info:
        no_failure("haproxy_queue", variant, settings=CI_SETTINGS)()
    v = info.value.execution.verdict
    assert HQ.variant(variant).explains(v.kind, v.path, *v.labels) is not None, v.signature
    assert info.value.path is not None and info.value.path.is_relative_to(tmp_path)


@pytest.mark.parametrize("seed_workload", sorted(SEED_PATH))
def test_finds_the_seed_bug_on_both_paths(seed_workload):
    path = SEED_PATH[seed_workload]
    ex = find_failure("haproxy_queue", "pre-fix", matching=f"STUCK:{path}:*", workload=SEEDS[seed_workload], seed=1)
    assert ex is not None and ex.verdict.signature.startswith(f"STUCK:{path}:")
    assert ex.preemptions <= 4  # shrunk: a handful of preemptions, not a random walk's dozens
    again = harness.run(HQ, "pre-fix", ex.workload, harness.Replay(ex.decisions))
    assert again.verdict.signature == ex.verdict.signature


def test_shrinking_gives_a_small_workload_and_few_preemptions():
    ex = find_failure("haproxy_queue", "pre-fix", matching="SAFETY:*", seed=0)
    assert ex is not None
    size = HQ.size(ex.workload.data)
    assert size["threads"] == 2 and size["servers"] == 1 and size["requests"] <= 4 and ex.preemptions <= 2


def test_a_property_that_fails_names_a_reproducer_file_and_its_replay_command(tmp_path, monkeypatch):
    monkeypatch.setenv("QFUZZ_FAILURES", str(tmp_path))
    prop = no_failure("haproxy_queue", "pre-fix", workload=SEEDS["seed-hash"],
                      settings=settings(max_examples=500, database=None, deadline=None))
    with pytest.raises(PropertyFailure) as info:
        prop()
    text = str(info.value)
    assert "{" not in text  # no JSON blob in the message
    (path,) = tmp_path.glob("haproxy_queue/pre-fix--*.json")
    assert f"reproducer: {path}" in text and f"replay:     qfuzz repro {path}" in text
    assert info.value.path == path
    proc = qfuzz("repro", str(path), cwd=tmp_path)
    assert proc.returncode == 1 and info.value.execution.verdict.signature in proc.stdout, proc.stdout[-2000:]
    rep = json.loads(path.read_text())
    assert rep["verdict"]["signature"] == info.value.execution.verdict.signature
    assert rep["minimized"]["after"]["requests"] <= 3  # minimized, not the example as hypothesis left it


def test_each_property_has_its_own_database_key():
    a, b = no_failure("haproxy_queue", "coarse"), no_failure("haproxy_queue", "fixed")
    assert function_digest(a.hypothesis.inner_test) != function_digest(b.hypothesis.inner_test)


def test_qfuzz_fuzz_engine_hypothesis(tmp_path):
    w = tmp_path / "seed-hash.json"
    w.write_text(json.dumps(SEEDS["seed-hash"]))
    proc = qfuzz("fuzz", "haproxy_queue", "--variant", "pre-fix", "--engine", "hypothesis", "--runs", "300",
                 "--workload", str(w), "--corpus", str(tmp_path / "corpus"), "--minimize-time", "1", "--no-trace",
                 cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "NEW STUCK:server-queue:" in proc.stdout
    assert list((tmp_path / "corpus" / "haproxy_queue").glob("pre-fix--stuck-server-queue-*.json"))
