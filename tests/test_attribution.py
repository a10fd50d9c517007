"""Attribution by differential (harness/attribution.py): a failure is labelled
with the fix that removes it, found by a seeded search on the variant with
that one fix applied, or with the documented finding it is when every fix
leaves it in place; campaigns show it and reproducers store it."""
from __future__ import annotations

import json

import pytest

from harness.attribution import attribute, counts_for
from harness.corpus import Corpus
from harness.engines.campaign import Campaign
from support import HQ, ROOT, SEED_PATH, SEEDS, first_failure


@pytest.mark.parametrize("seed_name", sorted(SEEDS))
def test_the_seed_paths_on_pre_fix_are_removed_by_their_half_of_the_seed_fix(seed_name):
    ex = first_failure("pre-fix", SEEDS[seed_name])
    a = attribute(ex)
    half = "5541d4995/server" if SEED_PATH[seed_name] == "server-queue" else "5541d4995/backend"
    assert a.removes(half) and a.removes("5541d4995") and not a.finding, a
    other = "5541d4995/backend" if half.endswith("server") else "5541d4995/server"
    assert not a.removes(other)
    assert counts_for(HQ.variant("pre-fix").must_show[0 if half.endswith("server") else 1], a)


def test_a_backend_stuck_on_pre_fix_that_the_fixed_model_shares_is_f1_not_the_seed_bug():
    # F1's workload (two servers, balance first): on pre-fix its STUCK looks like the seed bug's backend path
    f1 = next(Corpus(ROOT / "corpus", "haproxy_queue").dir.glob("fixed--stuck-backend-queue-as_skiplb_full-md_pxqlen-*"))
    ex = first_failure("pre-fix", json.loads(f1.read_text())["workload"], runs=3000)
    v = ex.verdict
    pattern = HQ.variant("pre-fix").explains(v.kind, v.path, *v.labels)
    assert pattern is not None and pattern.why.startswith("5541d4995")  # what the label pattern says
    a = attribute(ex)
    assert a.label == "F1" and a.finding == "F1" and not a.removed_by
    stuck_backend = HQ.variant("pre-fix").must_show[1]
    assert stuck_backend.path == "backend-queue" and not counts_for(stuck_backend, a)


@pytest.mark.parametrize("bug", HQ.bugs, ids=[b.commit for b in HQ.bugs])
def test_each_catalog_reproducer_is_removed_by_its_own_fix(bug):
    reps = [r for r in Corpus(ROOT / "corpus", "haproxy_queue").reproducers() if r.variant == bug.variant]
    rep = min(reps, key=lambda r: r.size())
    ex = rep.replay(trace=False)
    assert not ex.verdict.ok
    a = attribute(ex)
    assert a.removed_by == (bug.commit,), a


def test_attribution_is_deterministic():
    ex = first_failure("pre-fix", SEEDS["seed-roundrobin"])
    assert attribute(ex) == attribute(ex)


def test_a_campaign_shows_and_stores_the_attribution(tmp_path):
    from harness.reproducer import load

    c = Campaign(HQ, "pre-fix", "pct", seed=1, workload=HQ.workload(SEEDS["seed-hash"]),
                 corpus=Corpus(tmp_path, "haproxy_queue"), minimize_seconds=1.0)
    r = c.run(runs=300)
    stuck = [f for f in r.findings.values() if f.kind == "STUCK"]
    assert stuck
    for f in stuck:
        assert f.attribution is not None and f.attribution.removes("5541d4995/server")
        stored = load(f.stored.path)
        assert stored.attribution == f.attribution.to_json()


def test_the_campaign_table_shows_the_attribution(tmp_path):
    from support import qfuzz

    w = tmp_path / "w.json"
    w.write_text(json.dumps(SEEDS["seed-hash"]))
    out = qfuzz("fuzz", "haproxy_queue", "--variant", "pre-fix", "--workload", str(w), "--runs", "200",
                "--minimize-time", "0.5", "--no-trace", "--corpus", str(tmp_path / "c"))
    assert out.returncode == 1, out.stderr
    assert "attribution" in out.stdout and "removed by 5541d4995/server" in out.stdout


@pytest.mark.parametrize("path", sorted((ROOT / "corpus" / "haproxy_queue").glob("fixed--*.json")), ids=lambda p: p.name)
def test_every_stored_failure_of_the_fixed_model_is_a_documented_finding(path):
    from harness.reproducer import load

    a = attribute(load(path).replay(trace=False))
    assert a.finding in {"F1", "F2", "F3", "F4", "F5"} and a.label == a.finding and not a.removed_by, a


def test_a_later_failure_a_fix_removes_is_kept_beside_a_look_alike_no_fix_removes(monkeypatch):
    # the first failure of a signature may be a finding of the model while later ones are the bug itself
    import harness.engines.campaign as campaign
    from harness.attribution import Attribution

    calls = []

    def fake(ex, **kw):
        calls.append(ex.verdict.signature)
        if len(calls) == 1:
            return Attribution("F9", (), "F9", True, 0, 0)
        return Attribution("5541d4995/server", ("5541d4995/server",), "", True, 0, 0)

    monkeypatch.setattr(campaign, "attribute", fake)
    c = Campaign(HQ, "pre-fix", "pct", seed=1, workload=HQ.workload(SEEDS["seed-hash"]), minimize_seconds=0)
    r = c.run(runs=400)
    first = calls[0]
    assert r.findings[first].attribution.finding == "F9"
    twin = r.findings[f"{first} [removed by a fix]"]
    assert twin.signature == first and twin.attribution.removes("5541d4995")
    assert r.findings[first].second_looks == 1  # it stopped looking once it found one
