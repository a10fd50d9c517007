"""Spread parallel fuzzing processes over the CPUs.

libFuzzer's -jobs/-fork children are started by the shell and know nothing
about each other, so each one claims the first CPU nobody holds, with a
non-blocking flock on a per-CPU lock file (released when the process
exits).  Controlled executions are pinned to their process's CPU
(harness.pinning): two workers on one CPU would halve each other's speed."""
from __future__ import annotations

import fcntl
import os
import tempfile
from typing import IO, Optional

_held: Optional[IO[str]] = None


def claim_cpu() -> int:
    """Pin this process's executions to a CPU no other qfuzz fuzzer holds
    (QFUZZ_CPU and pytest-xdist workers keep harness.pinning's choice)."""
    global _held
    from ..pinning import default_cpu, set_cpu

    if os.environ.get("QFUZZ_CPU") or os.environ.get("PYTEST_XDIST_WORKER") or _held is not None:
        return default_cpu()
    allowed = sorted(os.sched_getaffinity(0))
    lockdir = os.path.join(tempfile.gettempdir(), f"qfuzz-cpu-{os.getuid()}")
    os.makedirs(lockdir, exist_ok=True)
    for cpu in allowed:
        f = open(os.path.join(lockdir, f"{cpu}.lock"), "w")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.close()
            continue
        _held = f
        set_cpu(cpu)
        return cpu
    return default_cpu()  # more fuzzers than CPUs: share
