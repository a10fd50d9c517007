"""qfuzz: find lost wake-ups in native-threaded queue code.

    import harness
    ex = harness.run("haproxy_queue", "pre-fix", workload, harness.PCT(seed=1))
    ex.verdict.kind, ex.verdict.signature, ex.decisions, ex.trace
"""
from __future__ import annotations

__version__ = "0.1.0"

from .errors import QfuzzError, ReproducerError, WorkloadError
from .execution import CriticalEvent, Execution, TraceEvent, Verdict
from .runner import run
from .schedulers import PCT, POS, Bytes, RandomWalk, Replay, Scheduler
from .target import Pattern, Target, Variant, Workload

__all__ = [
    "run", "Execution", "Verdict", "CriticalEvent", "TraceEvent", "Target", "Variant", "Pattern", "Workload",
    "Scheduler", "RandomWalk", "PCT", "POS", "Bytes", "Replay", "QfuzzError", "WorkloadError", "ReproducerError",
    "__version__",
]
