"""Keep a failure found by an engine: minimize it, then store it in the
corpus as a JSON reproducer (one per signature, the smallest wins)."""
from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any, Optional

from ..corpus import Corpus, Stored
from ..errors import QfuzzError
from ..execution import Execution
from ..minimizer import Minimized, minimize
from ..reproducer import from_execution, now_iso
from ..runner import run


@dataclass
class Kept:
    execution: Execution  # the minimized one, with its trace
    minimized: Optional[Minimized]
    stored: Optional[Stored]


def keep(ex: Execution, corpus: Optional[Corpus], found: dict[str, Any], *, minimize_seconds: float) -> Kept:
    """Minimize `ex` (for up to `minimize_seconds`; 0: not at all) and store it
    in `corpus` (None: only minimize).  `found` says how it was found."""
    m = None
    if minimize_seconds > 0:
        try:
            m = minimize(ex, seconds=minimize_seconds)
        except QfuzzError as exc:  # a target's shrink() proposing an invalid workload: keep the case as found
            sys.stderr.write(f"qfuzz: minimizing {ex.verdict.signature} failed ({exc}); stored as found\n")
    final = m.execution if m else run(ex.target, ex.variant, ex.workload, ex.scheduler)
    stored = None
    if corpus is not None:
        rep = from_execution(final, found={**found, "date": now_iso()})
        if m:
            rep.minimized = {"before": m.before.to_json(), "after": m.after.to_json()}
        stored = corpus.store(rep)
    return Kept(final, m, stored)
