#!/usr/bin/env python3
"""Find every catalog bug with the default engine and store its minimized
reproducer in the corpus (what corpus/haproxy_queue/revert-*.json came from).

A candidate counts only if the fix removes it (attribution by differential,
harness/attribution.py: the bug's own fix and no other removes it), its own
schedule replays clean on `fixed` and `coarse`, and --check seeded schedules
of its workload find nothing on `coarse`.  A candidate that the fix does not
remove (a finding of the fixed tree, docs/findings.md) is skipped, and the
search goes on with the next seed.

    python scripts/find_catalog.py [--corpus corpus] [--seconds 120] [--only COMMIT] [--check 200]
"""
from __future__ import annotations

import argparse
import sys

from harness.attribution import attribute
from harness.corpus import Corpus
from harness.engines.campaign import Campaign, Finding
from harness.minimizer import minimize
from harness.reproducer import from_execution, load_workload, now_iso
from harness.targets import get


def removed_by_fix(target, finding: Finding, commit: str, checks: int) -> bool:
    """The fix removes it: attribution by differential (harness/attribution.py:
    a seeded search on its workload with each candidate fix applied) names
    exactly this bug's fix, its schedule replays clean on `fixed` and
    `coarse`, and a seeded search on `coarse` finds nothing at all."""
    ex = finding.execution
    if attribute(ex).removed_by != (commit,):
        return False
    rep = from_execution(ex)
    if not (rep.replay("fixed").verdict.ok and rep.replay("coarse").verdict.ok):
        return False
    return not Campaign(target, "coarse", "pct", seed=1, workload=ex.workload, minimize_seconds=0).run(
        runs=checks).findings


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default="corpus")
    ap.add_argument("--target", default="haproxy_queue")
    ap.add_argument("--seconds", type=float, default=120.0, help="search budget per bug")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tries", type=int, default=8, help="campaign seeds tried per bug")
    ap.add_argument("--check", type=int, default=200, help="schedules of the differential search on fixed/coarse")
    ap.add_argument("--only", help="one commit id, or several separated by commas")
    ap.add_argument("--engine", default="pct", choices=("pct", "pos", "random"))
    ap.add_argument("--workload", help="search this workload file instead of the generic mix (recorded in the "
                                       "reproducer's `found`)")
    args = ap.parse_args()
    target = get(args.target)
    corpus = Corpus(args.corpus, target.name)
    given = target.workload(load_workload(args.workload, target.name)) if args.workload else None
    missed = 0
    for bug in target.bugs:
        if args.only and bug.commit not in args.only.split(","):
            continue
        hit = lambda f: bug.pattern.matches(f.kind, f.path, *f.execution.verdict.labels)  # noqa: E731
        done = False
        for seed in range(args.seed, args.seed + args.tries):
            # minimize only the hit, not every other failure met on the way
            campaign = Campaign(target, bug.variant, args.engine, seed=seed, corpus=None, minimize_seconds=0,
                                workload=given)
            result = campaign.run(seconds=args.seconds / args.tries, stop=hit)
            found = [f for f in result.findings.values() if hit(f)]
            if not found:
                continue
            f = found[0]
            schedule = f.execution.scheduler.to_json()  # as run (PCT: with its k), before minimizing
            f.minimized = minimize(f.execution)
            f.execution = f.minimized.execution
            if not hit(f):
                print(f"{bug.commit}: seed {seed}: minimizing {f.signature} changed its signature; trying the next seed")
                continue
            if not removed_by_fix(target, f, bug.commit, args.check):
                print(f"{bug.commit}: seed {seed}: {f.signature} is not removed by the fix; trying the next seed")
                continue
            found = {"engine": args.engine, "seed": seed, "schedule": schedule, "executions": f.first_execution,
                     "seconds": round(f.first_seconds, 3), "date": now_iso()}
            if given is not None:
                found["workload"] = given.data  # not the mix: a given workload
            else:  # the campaign stopped at the hit: its workload's number (tests/test_catalog.py re-finds it)
                found["workload_number"] = campaign.workload_number
            rep = from_execution(f.execution, found=found)
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
