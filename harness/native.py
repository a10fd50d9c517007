"""The compiled core (harness._native), with a clear message if it is missing."""
from __future__ import annotations

from .errors import QfuzzError

try:
    from . import _native as core
except ImportError as exc:  # pragma: no cover - only on a broken install
    raise QfuzzError(
        f"the native core is not built ({exc}); install with `pip install .` or `pip install -e .`"
    ) from exc

# Labels the core writes into traces itself (core.h: QF_L_*).
CORE_LABELS: dict[int, tuple[str, str]] = {
    core.LABEL_CORE + 0: ("RUN", "runs its next task"),
    core.LABEL_CORE + 1: ("CLOCK", "clock jumps to the next timer"),
    core.LABEL_CORE + 2: ("TIMER", "timer fires"),
    core.LABEL_CORE + 3: ("BLOCK", "waits for a lock"),
    core.LABEL_CORE + 4: ("IDLE", "nothing to do"),
    core.LABEL_CORE + 5: ("FAIL", "verdict"),
    core.LABEL_CORE + 6: ("YIELD", "spins"),
    core.LABEL_CORE + 7: ("STEP_BUDGET", "the step budget ran out"),
    core.LABEL_CORE + 8: ("JITTER", "timer waits for a later one"),
}

TARGET_INDEX: dict[str, int] = {name: i for i, (name, _) in enumerate(core.targets())}
TARGET_LABELS: dict[str, list[tuple[str, str]]] = {name: labels for name, labels in core.targets()}
