#!/usr/bin/env python3
"""Find every catalog bug with the default engine and store its minimized
reproducer in the corpus (what corpus/haproxy_queue/revert-*.json came from).

A candidate counts only if the fix removes it (attribution by differential):
its workload shows nothing on `fixed` and `coarse` under a seeded search of
--check schedules, and its own schedule replays clean there.  A candidate
that the fix does not remove (a finding of the fixed tree, docs/findings.md)
is skipped, and the search goes on with the next seed.

    python scripts/find_catalog.py [--corpus corpus] [--seconds 120] [--only COMMIT] [--check 200]
"""
from __future__ import annotations

import argparse
import sys

from harness.corpus import Corpus
from harness.engines.campaign import Campaign, Finding
from harness.reproducer import from_execution, now_iso
from harness.targets import get


def removed_by_fix(target, finding: Finding, checks: int) -> bool:
    """The fix removes it: the same schedule replays clean on `fixed` and
    `coarse`, and a seeded search on its workload finds nothing there."""
    ex = finding.execution
    rep = from_execution(ex)
    for variant in ("fixed", "coarse"):
        if not rep.replay(variant).verdict.ok:
            return False
        result = Campaign(target, variant, "pct", seed=1, workload=ex.workload, minimize_seconds=0).run(runs=checks)
        if result.findings:
            return False
    return True


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default="corpus")
    ap.add_argument("--target", default="haproxy_queue")
    ap.add_argument("--seconds", type=float, default=120.0, help="search budget per bug")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tries", type=int, default=8, help="campaign seeds tried per bug")
    ap.add_argument("--check", type=int, default=200, help="schedules of the differential search on fixed/coarse")
    ap.add_argument("--only", help="one commit id")
    args = ap.parse_args()
    target = get(args.target)
    corpus = Corpus(args.corpus, target.name)
    missed = 0
    for bug in target.bugs:
        if args.only and bug.commit != args.only:
            continue
        hit = lambda f: bug.pattern.matches(f.kind, f.path, *f.execution.verdict.labels)  # noqa: E731
        done = False
        for seed in range(args.seed, args.seed + args.tries):
            campaign = Campaign(target, bug.variant, "pct", seed=seed, corpus=None, minimize_seconds=5.0)
            result = campaign.run(seconds=args.seconds / args.tries, stop=hit)
            found = [f for f in result.findings.values() if hit(f)]
            if not found:
                continue
            f = found[0]
            if not removed_by_fix(target, f, args.check):
                print(f"{bug.commit}: seed {seed}: {f.signature} is not removed by the fix; trying the next seed")
                continue
            rep = from_execution(f.execution, found={"engine": "pct", "seed": seed, "executions": f.first_execution,
                                                      "seconds": round(f.first_seconds, 3), "date": now_iso()})
            rep.minimized = {"before": f.minimized.before.to_json(), "after": f.minimized.after.to_json()}
            stored = corpus.store(rep)
            print(f"{bug.commit}: {f.signature} after {f.first_execution:,} executions ({f.first_seconds:.2f} s, "
                  f"seed {seed}); {f.minimized.after}; {stored.status}: {stored.path}")
            done = True
            break
        if not done:
            print(f"{bug.commit}: not found in {args.seconds:g} s over {args.tries} seeds")
            missed += 1
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
