"""The bug catalog: every upstream bug is a variant, has a minimized
reproducer found by the harness, fails on its variant and is clean once
fixed."""
from __future__ import annotations

import pytest

from harness.corpus import Corpus
from support import HQ, ROOT, qfuzz

BUGS = HQ.bugs


def test_catalog_has_at_least_twelve_bugs_beyond_the_seed_fix():
    commits = {b.commit for b in BUGS}
    assert len(commits) >= 12 and "5541d4995" not in commits
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


@pytest.mark.parametrize("bug", BUGS, ids=[b.commit for b in BUGS])
def test_each_bug_has_a_reproducer_that_fails_on_its_variant_and_not_once_fixed(bug):
    reps = [r for r in Corpus(ROOT / "corpus", "haproxy_queue").reproducers()
            if r.variant == bug.variant and bug.pattern.matches(r.kind, r.verdict["path"],
                                                                 *[c["label"] if c else "-" for c in r.verdict["critical"]])]
    assert reps, f"no reproducer of {bug.commit} in corpus/haproxy_queue/"
    rep = min(reps, key=lambda r: r.size())
    assert rep.found, "reproducers are found by the harness, not written by hand"
    own = rep.replay().verdict
    assert bug.pattern.matches(own.kind, own.path, *own.labels), own.signature
    for variant in ("fixed", "coarse"):
        v = rep.replay(variant).verdict
        assert v.ok, f"{bug.commit} reproducer on {variant}: {v.signature}"
