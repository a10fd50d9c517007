"""Shared helpers for the tests (not fixtures: plain functions)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import harness
from harness.targets import get

ROOT = Path(__file__).resolve().parent.parent
HQ = get("haproxy_queue")
SEEDS = HQ.seed_workloads()
SEED_PATH = {"seed-hash": "server-queue", "seed-roundrobin": "backend-queue"}


def first_failure(variant: str, workload: Any, strategy: str = "pct", runs: int = 2000, kind: str = "STUCK"):
    """The first execution of a seeded search that fails with `kind`, or None."""
    from harness.schedulers import make

    w = HQ.workload(workload)
    for seed in range(runs):
        ex = harness.run(HQ, variant, w, make(strategy, seed), trace=False)
        if ex.verdict.kind == kind:
            return ex
    return None


def qfuzz(*args: str, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run the installed command line in a subprocess, as a user would."""
    env = {**os.environ, "COLUMNS": "200"}
    # the installed console script (`python -m harness.cli` from the checkout
    # would import the source tree, which a non-editable install did not build)
    script = Path(sys.executable).parent / "qfuzz"
    return subprocess.run(
        [str(script), *args], cwd=cwd or ROOT, capture_output=True, text=True, timeout=timeout, env=env
    )
