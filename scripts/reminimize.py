#!/usr/bin/env python3
"""Bring a corpus to the minimizer's fixpoint, so that the README's main job
on a fresh clone finds nothing smaller to store (git status stays clean).

    python scripts/reminimize.py [--corpus corpus] [--target haproxy_queue] [--jobs N]
                                 [--main-job-runs 600000] [--no-main-job] [--check]

1. The main job's campaign (`qfuzz fuzz TARGET --variant pre-fix`: PCT depth 3,
   seed 0, the variant's workload mix, the minimizer's default budgets) runs for a
   fixed number of executions, more than a fast machine reaches in the main job's
   10 s, and stores what it finds: every failure the main job can meet is then in
   the corpus, at most as big as what the main job would store.
2. Every reproducer of the target is replayed and minimized again, with a budget
   large enough to reach the minimizer's fixpoint (budgets count executions: the
   result depends on the file only, so --jobs 1 and --jobs 2 write the same bytes).
   A different case that is no bigger replaces the file (the old one moves to
   superseded/, as the corpus does); its "found" record is kept.  A file that no
   longer reproduces is reported and left alone.

Run it again after any change to a target's model, shrink() or the minimizer
(the model's choice points move: old decision lists then mean something else).
--check writes nothing and exits 1 if anything would change.  Exit status: 0
done (or nothing to change with --check), 1 changes pending (--check) or a file
that no longer reproduces, 2 bad usage."""
from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

MAIN_JOB = {"variant": "pre-fix", "strategy": "pct", "seed": 0, "params": {"depth": 3}}
SAFETY_SECONDS = 600.0  # the minimizer's wall-clock safety net here: budgets in executions decide
FIXPOINT_BUDGET = 1_000_000  # executions per file: enough for every file of the corpus to reach the fixpoint


@dataclass
class Outcome:
    path: str
    status: str  # "same", "smaller", "kept" (the new case would be bigger), "broken"
    text: str = ""  # the new file's content when it changed
    name: str = ""  # and its file name
    note: str = ""


def reminimize_file(path: str) -> Outcome:
    """Minimize one reproducer again; runs in a worker process."""
    from harness.corpus import slug
    from harness.minimizer import minimize
    from harness.reproducer import from_execution, load

    rep = load(path)
    ex = rep.replay(trace=False)
    if ex.verdict.signature != rep.signature:
        return Outcome(path, "broken", note=f"replays as {ex.verdict.signature}, not {rep.signature}")
    m = minimize(ex, seconds=SAFETY_SECONDS, budget=FIXPOINT_BUDGET)
    new = from_execution(m.execution, found=rep.found)
    new.minimized = {"before": (rep.minimized or {}).get("before", m.before.to_json()), "after": m.after.to_json()}
    note = f"{m.after}  ({m.runs} executions{', stopped: ' + m.stopped if m.stopped else ''})"
    if new.content_id() == rep.content_id():
        return Outcome(path, "same", note=note)
    if new.size() > rep.size():
        return Outcome(path, "kept", note="the minimized case is bigger by the corpus's measure: " + note)
    name = f"{new.variant}--{slug(new.signature)}-{new.content_id()}.json"
    return Outcome(path, "smaller", new.dumps(), name, note)


def _replace(old: Path, name: str, text: str) -> None:
    from harness.reproducer import write_new

    new = old.with_name(name)
    if not write_new(new, text):
        raise SystemExit(f"reminimize: {new} already exists; resolve by hand")
    moved = old.parent / "superseded" / old.name
    moved.parent.mkdir(exist_ok=True)
    os.replace(old, moved)


def main_job(corpus_root: str, target_name: str, runs: int) -> int:
    """The main job's campaign for a fixed number of executions; returns the files it changed."""
    from harness.corpus import Corpus
    from harness.engines.campaign import Campaign
    from harness.targets import get

    target = get(target_name)
    # the main job's own minimization (default budgets; only its wall-clock safety net is wider)
    campaign = Campaign(target, MAIN_JOB["variant"], MAIN_JOB["strategy"], seed=MAIN_JOB["seed"],
                        corpus=Corpus(corpus_root, target.name), minimize_seconds=SAFETY_SECONDS,
                        params=dict(MAIN_JOB["params"]))
    changed = 0

    def told(f) -> None:  # type: ignore[no-untyped-def]
        nonlocal changed
        assert f.stored is not None
        changed += f.stored.status != "kept"
        print(f"  main job: {f.signature} at #{f.first_execution}: {f.stored.status} {f.stored.path.name}")

    result = campaign.run(runs=runs, on_new=told)
    print(f"  main job: {result.executions:,} executions, {len(result.findings)} signatures, {changed} stored")
    return changed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default="corpus", help="corpus root (default ./corpus)")
    ap.add_argument("--target", default="haproxy_queue")
    ap.add_argument("--jobs", type=int, default=1, help="worker processes (the result does not depend on it)")
    ap.add_argument("--main-job-runs", type=int, default=600_000,
                    help="executions of the main job's campaign (default 600000)")
    ap.add_argument("--no-main-job", action="store_true", help="only re-minimize the files")
    ap.add_argument("--check", action="store_true", help="change nothing; exit 1 if anything would change")
    args = ap.parse_args()
    if args.jobs < 1 or args.main_job_runs < 1:
        ap.error("--jobs and --main-job-runs must be at least 1")
    from harness.corpus import Corpus
    from harness.errors import QfuzzError
    from harness.targets import get

    try:
        target = get(args.target)
    except QfuzzError as exc:
        ap.error(str(exc))
    pending = broken = 0
    if not args.no_main_job:
        if args.check:
            with tempfile.TemporaryDirectory() as tmp:
                shutil.copytree(Path(args.corpus) / target.name, Path(tmp) / target.name)
                pending += main_job(tmp, target.name, args.main_job_runs)
        else:
            main_job(args.corpus, target.name, args.main_job_runs)
    files = [str(p) for p in Corpus(args.corpus, target.name).files()]
    start = time.monotonic()
    ctx = multiprocessing.get_context("spawn")  # the native core's thread pool does not survive fork
    with ProcessPoolExecutor(max_workers=args.jobs, mp_context=ctx) as pool:
        outcomes = list(pool.map(reminimize_file, files))
    for o in outcomes:
        print(f"{Path(o.path).name}: {o.status}  {o.note}")
        if o.status == "broken":
            broken += 1
        elif o.status == "smaller":
            pending += 1
            if not args.check:
                _replace(Path(o.path), o.name, o.text)
                print(f"  -> {o.name}")
    print(f"{len(files)} files, {pending} {'to replace' if args.check else 'replaced'}, {broken} broken, "
          f"{time.monotonic() - start:.1f} s")
    if args.check and pending:
        return 1
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
