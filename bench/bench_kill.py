"""kill -9 at random points of `qfuzz fuzz` and `qfuzz nightly`: after each
kill, no corpus file is lost, duplicated or corrupt.

    python bench/bench_kill.py --fuzz 100 --nightly 20 [--seed N]

Each run starts from a fresh copy of a seed corpus of unminimized
reproducers (so the run replaces files as it minimizes), is killed with
SIGKILL at a random moment, and then the corpus is checked:

- corrupt: a live or superseded file that does not load, or does not replay
  to the signature it states;
- duplicated: two live files for one (variant, signature) key;
- lost: a key of the seed corpus with no live file, or a replaced file whose
  bytes are not in superseded/;
- nightly only: a report file that exists but does not parse, a crash
  reproducer that does not load, a worker still running after its parent's
  death (it must die with it).

Prints the counts and the load average.  Keep runs short on a shared
machine: --fuzz 50 takes about a minute and a half."""
from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

QFUZZ = str(Path(sys.executable).parent / "qfuzz")
print = functools.partial(print, flush=True)  # noqa: A001 (a bench piped to a file shows its lines as they come)
TARGET = "haproxy_queue"


def seed_corpus(root: Path) -> None:
    """Unminimized reproducers of pre-fix failures: each run will want to replace them."""
    from harness.corpus import Corpus
    from harness.engines.campaign import Campaign
    from harness.targets import get

    Campaign(get(TARGET), "pre-fix", "pct", seed=12345, corpus=Corpus(root, TARGET), minimize_seconds=0).run(runs=3000)


def sha(p: Path) -> str:
    return hashlib.sha1(p.read_bytes()).hexdigest()


def snapshot(d: Path) -> dict[tuple[str, str], str]:
    from harness.reproducer import load

    return {(r.variant, r.signature): sha(p) for p in sorted(d.glob("*.json")) for r in [load(p)]}


def check(root: Path, before: dict[tuple[str, str], str]) -> dict[str, list[str]]:
    from harness.errors import QfuzzError
    from harness.reproducer import load

    d = root / TARGET
    bad: dict[str, list[str]] = {"corrupt": [], "duplicated": [], "lost": []}
    keys: dict[tuple[str, str], list[Path]] = {}
    for p in sorted(d.glob("*.json")):
        try:
            rep = load(p)
            if rep.replay(trace=False).verdict.signature != rep.signature:
                raise QfuzzError("does not replay to its signature")
        except QfuzzError as exc:
            bad["corrupt"].append(f"{p.name}: {exc}")
            continue
        keys.setdefault((rep.variant, rep.signature), []).append(p)
    archived = set()
    for p in sorted((d / "superseded").glob("*.json")):
        try:
            load(p)
            archived.add(sha(p))
        except QfuzzError as exc:
            bad["corrupt"].append(f"superseded/{p.name}: {exc}")
    for key, paths in keys.items():
        if len(paths) > 1:
            bad["duplicated"].append(f"{key}: {[p.name for p in paths]}")
    for key, digest in before.items():
        if key not in keys:
            bad["lost"].append(f"{key}: no live file")
        elif all(sha(p) != digest for p in keys[key]) and digest not in archived:
            bad["lost"].append(f"{key}: replaced, the old bytes are not in superseded/")
    return bad


def check_nightly(report: Path, root: Path, marker: str) -> dict[str, list[str]]:
    from harness.crash import load as load_crash
    from harness.errors import QfuzzError

    bad: dict[str, list[str]] = {"report": [], "crash": [], "orphan": []}
    for name, parse in (("nightly.json", lambda t: json.loads(t)), ("nightly.xml", ET.fromstring),
                        ("nightly.md", lambda t: t.startswith("# qfuzz nightly") or (_ for _ in ()).throw(ValueError))):
        p = report / name
        if p.exists():
            try:
                parse(p.read_text())
            except Exception as exc:  # noqa: BLE001 (any parse error is the finding)
                bad["report"].append(f"{name}: {type(exc).__name__}")
    for p in (root / TARGET / "crashes").glob("*.json"):
        try:
            load_crash(p)
        except QfuzzError as exc:
            bad["crash"].append(f"{p.name}: {exc}")
    deadline = time.monotonic() + 10  # a worker gets SIGTERM when its parent dies and stops within its grace
    while True:
        alive = [pid for pid in _pids_with(marker)]
        if not alive or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    bad["orphan"] = [str(pid) for pid in alive]
    for pid in alive:  # ours (the marker is this run's own corpus path): clean up for the next run
        os.kill(pid, signal.SIGKILL)
    return bad


def _pids_with(marker: str) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if marker in (d / "cmdline").read_bytes().decode(errors="replace"):
                    out.append(int(d.name))
            except OSError:
                continue
    return out


def one_run(kind: str, seed_dir: Path, work: Path, rnd: random.Random, i: int) -> tuple[dict[str, list[str]], float, bool]:
    root = work / f"{kind}-{i}"
    shutil.copytree(seed_dir, root / TARGET)
    before = snapshot(root / TARGET)
    report = work / f"report-{i}"
    if kind == "fuzz":
        cmd = [QFUZZ, "fuzz", TARGET, "--variant", "pre-fix", "--time", "4", "--seed", str(1000 + i),
               "--minimize-time", "0.3", "--no-trace", "--corpus", str(root)]
        at = rnd.uniform(0.3, 4.0)
    else:
        cmd = [QFUZZ, "nightly", "--time", "6", "--jobs", "2", "--variants", "pre-fix,coarse", "--engines", "pct",
               "--seed", str(1000 + i), "--hang-timeout", "5", "--corpus", str(root), "--report", str(report)]
        at = rnd.uniform(0.5, 7.0)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(at)
    finished = proc.poll() is not None
    if not finished:
        proc.send_signal(signal.SIGKILL)
    proc.wait()
    bad = check_nightly(report, root, str(root)) if kind == "nightly" else {}
    bad.update(check(root, before))
    changed = snapshot_changed(root / TARGET, before)
    return bad, at, changed and not finished


def snapshot_changed(d: Path, before: dict[tuple[str, str], str]) -> bool:
    try:
        return snapshot(d) != before
    except Exception:  # noqa: BLE001 (a corrupt file: counted by check())
        return True


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--fuzz", type=int, default=100, help="kills of qfuzz fuzz (default 100)")
    ap.add_argument("--nightly", type=int, default=20, help="kills of qfuzz nightly (default 20)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the kill times")
    args = ap.parse_args()
    rnd = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="qfuzz-bench-kill-") as tmp:
        work = Path(tmp)
        seed_dir = work / "seed"
        seed_corpus(seed_dir)
        seed_dir = seed_dir / TARGET
        print(f"seed corpus: {len(list(seed_dir.glob('*.json')))} unminimized reproducers")
        for kind, n in (("fuzz", args.fuzz), ("nightly", args.nightly)):
            if not n:
                continue
            totals: dict[str, int] = {}
            examples: list[str] = []
            changed = 0
            t0 = time.monotonic()
            for i in range(n):
                bad, at, did_change = one_run(kind, seed_dir, work, rnd, i)
                changed += did_change
                for k, v in bad.items():
                    totals[k] = totals.get(k, 0) + len(v)
                    examples += [f"run {i} (killed at {at:.2f} s) {k}: {x}" for x in v[:2]]
                shutil.rmtree(work / f"{kind}-{i}", ignore_errors=True)
                shutil.rmtree(work / f"report-{i}", ignore_errors=True)
            print(f"qfuzz {kind}: {n} kill -9 runs in {time.monotonic() - t0:.0f} s, {changed} killed after changing "
                  f"the corpus; " + ", ".join(f"{k} {v}" for k, v in totals.items()))
            for e in examples[:10]:
                print("  " + e)
    print(f"load average: {open('/proc/loadavg').read().split()[:3]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
