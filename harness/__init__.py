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

# The rest of the API is imported on first use (PEP 562), so `qfuzz` reaches
# its SIGTERM handler (harness.cli) within milliseconds of starting: a CI that
# cancels a job that has just begun still gets exit 2, not a death by signal.
_LAZY = {
    "run": "runner", "Execution": "execution", "Verdict": "execution", "CriticalEvent": "execution",
    "TraceEvent": "execution", "Target": "target", "Variant": "target", "Pattern": "target", "Workload": "target",
    "Scheduler": "schedulers", "RandomWalk": "schedulers", "PCT": "schedulers", "POS": "schedulers",
    "Bytes": "schedulers", "Replay": "schedulers",
}

__all__ = [
    "run", "Execution", "Verdict", "CriticalEvent", "TraceEvent", "Target", "Variant", "Pattern", "Workload",
    "Scheduler", "RandomWalk", "PCT", "POS", "Bytes", "Replay", "QfuzzError", "WorkloadError", "ReproducerError",
    "__version__",
]


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
