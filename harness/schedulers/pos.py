"""POS, partial order sampling: random priorities per pending event, redrawn
for the events that race with the one just executed."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .base import Scheduler


@dataclass(frozen=True)
class POS(Scheduler):
    name = "pos"
    kind = 2
    seed: int = 0

    def native_args(self, k_estimate: int) -> dict[str, Any]:
        return {"seed": self.seed}
