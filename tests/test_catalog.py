"""The bug catalog: every upstream bug is a variant, has a minimized
reproducer found by the harness, fails on its variant and is clean once
fixed."""
from __future__ import annotations

import pytest

from harness.attribution import symptom
from harness.corpus import Corpus
from harness.engines.campaign import Campaign
from support import HQ, ROOT, qfuzz

BUGS = HQ.bugs


def test_catalog_has_the_upstream_bugs_through_2026():
    commits = {b.commit for b in BUGS}
    assert len(commits) >= 19 and "5541d4995" not in commits
    # the 2025-2026 fixes of issue 12, each reverted on the 2026 tree
    assert {"659d5f657", "99f5be563", "099c1b244", "0144426df", "e9d34f991", "13c344516"} <= commits
    for b in BUGS:
        v = HQ.variant(b.variant)
        assert v.bits and not v.expected_clean
        assert b.oracle in ("STUCK", "SAFETY", "DEADLOCK", "LIVELOCK", "LOCK_ORDER")
        assert b.pattern.kind == b.oracle


def test_list_bugs_prints_the_catalog():
    out = qfuzz("list", "--bugs")
    assert out.returncode == 0
    for b in BUGS:
        assert b.commit in out.stdout and b.variant in out.stdout
        line = next(ln for ln in out.stdout.splitlines() if b.commit in ln)
        assert b.date in line and b.date[:4].isdigit(), line


@pytest.mark.parametrize("bug", BUGS, ids=[b.commit for b in BUGS])
def test_each_bug_has_a_reproducer_that_fails_on_its_variant_and_not_once_fixed(bug):
    reps = [r for r in Corpus(ROOT / "corpus", "haproxy_queue").reproducers()
            if r.variant == bug.variant and bug.pattern.matches(r.kind, r.verdict["path"],
                                                                 *[c["label"] if c else "-" for c in r.verdict["critical"]])]
    assert reps, f"no reproducer of {bug.commit} in corpus/haproxy_queue/"
    rep = min(reps, key=lambda r: r.size())
    own = rep.replay().verdict
    assert bug.pattern.matches(own.kind, own.path, *own.labels), own.signature
    for variant in ("fixed", "coarse"):
        v = rep.replay(variant).verdict
        assert v.ok, f"{bug.commit} reproducer on {variant}: {v.signature}"
        # clean once fixed by a seeded search, not only by one replayed decision list
        # (the decisions of one variant mean other choices on another)
        # (on fixed, its own documented findings may show on the same workload: not the same symptom)
        search = Campaign(HQ, variant, "pct", seed=1, workload=HQ.workload(rep.workload), minimize_seconds=0).run(runs=200)
        same = [s for s, f in search.findings.items()
                if variant == "coarse" or symptom(f.execution.verdict) == symptom(own)]
        assert not same, f"{bug.commit} workload on {variant}: {same}"


@pytest.mark.parametrize("bug", BUGS, ids=[b.commit for b in BUGS])
def test_each_stored_finding_is_found_again_by_the_engine_and_seed_it_names(bug):
    # "found by the harness": the execution the recorded engine and seed ran
    # as number `executions` on its workload number `workload_number` (the
    # workload and the schedule both follow from them, deterministically)
    # shows the same bug again on the mix.  Files from before the power
    # schedule (2026-12) have no workload number: 16 schedules per workload then.
    # PCT's k followed the workload's earlier executions (runner.run_schedules):
    # the recorded schedule names it.
    reps = [r for r in Corpus(ROOT / "corpus", "haproxy_queue").reproducers() if r.variant == bug.variant]
    assert reps, f"no reproducer of {bug.commit} in corpus/haproxy_queue/"
    for rep in reps:
        found = rep.found
        assert found.get("engine") in ("pct", "pos", "random") and isinstance(found.get("executions"), int), found
        hit = lambda f: bug.pattern.matches(f.kind, f.path, *f.execution.verdict.labels)  # noqa: E731
        given = HQ.workload(found["workload"]) if "workload" in found else None  # else the generic mix
        k = (found.get("schedule") or {}).get("k")  # PCT since 2026-12: k was the workload's longest execution yet
        number = found.get("workload_number", (found["executions"] - 1) // 16)
        result = Campaign(HQ, bug.variant, found["engine"], seed=found["seed"], minimize_seconds=0,
                          params={"k": k} if k else None, workload=given).run(
            first=found["executions"] - 1, first_workload=number, runs=1)
        assert [f for f in result.findings.values() if hit(f)], (
            f"{rep.path}: {found['engine']} seed {found['seed']} execution {found['executions']} shows no {bug.pattern}")
