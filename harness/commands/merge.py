"""qfuzz merge: bring reproducers found elsewhere (another machine, a
ClusterFuzzLite run, a nightly artifact) into the corpus, deduplicated by
variant and signature; a smaller one replaces a stored one (which moves to
superseded/), nothing is overwritten."""
from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from ..errors import QfuzzError
from .common import writable_dir

HELP = "merge reproducers from other corpora into this one"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("sources", nargs="+", help="reproducer files or directories of them")
    p.add_argument("--corpus", default="corpus", help="corpus root to merge into (default corpus)")


def run(args: argparse.Namespace, console: Console) -> int:
    from ..corpus import Corpus
    from ..reproducer import load
    from ..inputs import expand

    counts = {"new": 0, "replaced": 0, "kept": 0}
    reps = [load(path) for path in expand(args.sources)]  # all checked first
    for t in sorted({r.target for r in reps}):
        writable_dir(Path(args.corpus) / t, "--corpus")
    for rep in reps:
        stored = Corpus(args.corpus, rep.target).store(rep)
        counts[stored.status] += 1
        if stored.status != "kept":
            console.print(f"{stored.status}: {stored.path}  ({rep.variant} {rep.signature})")
    if not any(counts.values()):
        raise QfuzzError("nothing to merge")
    console.print(f"merged: {counts['new']} new, {counts['replaced']} replaced by smaller, {counts['kept']} already there")
    return 0
