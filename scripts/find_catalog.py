#!/usr/bin/env python3
"""Find every catalog bug with the default engine and store its minimized
reproducer in the corpus (what corpus/haproxy_queue/revert-*.json came from).

    python scripts/find_catalog.py [--corpus corpus] [--seconds 120] [--only COMMIT]
"""
from __future__ import annotations

import argparse
import sys

from harness.corpus import Corpus
from harness.engines.campaign import Campaign
from harness.targets import get


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default="corpus")
    ap.add_argument("--target", default="haproxy_queue")
    ap.add_argument("--seconds", type=float, default=120.0, help="search budget per bug")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", help="one commit id")
    args = ap.parse_args()
    target = get(args.target)
    corpus = Corpus(args.corpus, target.name)
    missed = 0
    for bug in target.bugs:
        if args.only and bug.commit != args.only:
            continue
        hit = lambda f: bug.pattern.matches(f.kind, f.path, *f.execution.verdict.labels)  # noqa: E731
        campaign = Campaign(target, bug.variant, "pct", seed=args.seed, corpus=None, minimize_seconds=5.0)
        result = campaign.run(seconds=args.seconds, stop=hit)
        found = [f for f in result.findings.values() if hit(f)]
        if not found:
            print(f"{bug.commit}: not found in {args.seconds:g} s ({result.executions:,} executions)")
            missed += 1
            continue
        f = found[0]
        from harness.reproducer import from_execution, now_iso

        rep = from_execution(f.execution, found={"engine": "pct", "seed": args.seed, "executions": f.first_execution,
                                                  "seconds": round(f.first_seconds, 3), "date": now_iso()})
        rep.minimized = {"before": f.minimized.before.to_json(), "after": f.minimized.after.to_json()}
        stored = corpus.store(rep)
        print(f"{bug.commit}: {f.signature} after {f.first_execution:,} executions ({f.first_seconds:.2f} s); "
              f"{f.minimized.after}; {stored.status}: {stored.path}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
