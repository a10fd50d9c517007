"""Which CPU a process's controlled executions are pinned to.

A futex hand-off between threads on one CPU costs a few microseconds; across
CPUs it costs tens (bench/bench_core.py measures both).  So every execution's
threads, and the calling thread, share one CPU, and parallel workers are
separate processes on different CPUs."""
from __future__ import annotations

import os

_chosen: int | None = None


def _current_cpu() -> int | None:
    try:
        with open("/proc/self/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[36])  # field 39 "processor", counted after the comm field
    except (OSError, IndexError, ValueError):
        return None


def default_cpu() -> int:
    """QFUZZ_CPU=n pins to CPU n, QFUZZ_CPU=none disables pinning; a pytest-xdist
    worker gwN takes the N-th allowed CPU; otherwise the CPU we are running on."""
    global _chosen
    if _chosen is not None:
        return _chosen
    allowed = sorted(os.sched_getaffinity(0))
    env = os.environ.get("QFUZZ_CPU", "").strip().lower()
    if env in ("none", "off", "-1"):
        _chosen = -1
    elif env.isdigit():
        _chosen = int(env)
    elif os.environ.get("PYTEST_XDIST_WORKER", "").startswith("gw"):
        _chosen = allowed[int(os.environ["PYTEST_XDIST_WORKER"][2:]) % len(allowed)]
    else:
        cpu = _current_cpu()
        _chosen = cpu if cpu in allowed else allowed[0]
    return _chosen


def set_cpu(cpu: int) -> None:
    """Pin this process's executions to `cpu` (-1: no pinning)."""
    global _chosen
    _chosen = cpu
