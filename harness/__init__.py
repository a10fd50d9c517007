"""qfuzz: find lost wake-ups in native-threaded queue code.

    import harness
    ex = harness.run("haproxy_queue", "pre-fix", workload, harness.PCT(seed=1))
    ex.verdict.kind, ex.verdict.signature, ex.decisions, ex.trace
"""
from __future__ import annotations

__version__ = "0.1.0"


def _find_compiled() -> None:
    """`python -m harness` or `python -m pytest` in a checkout after a plain
    `pip install .` imports this source tree, which has no compiled
    extensions: let the package also look in the installed copy for them."""
    import glob
    import os
    import sys

    here = os.path.dirname(os.path.abspath(__file__))
    if glob.glob(os.path.join(here, "_native.*")):
        return
    for entry in sys.path:
        there = os.path.join(os.path.abspath(entry or "."), "harness")
        if there != here and glob.glob(os.path.join(there, "_native.*")):
            __path__.append(there)  # after this tree: its Python files win, only the extensions come from there
            return


_find_compiled()

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
