"""Random walk: every choice uniformly at random (seeded)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .base import Scheduler


@dataclass(frozen=True)
class RandomWalk(Scheduler):
    name = "random"
    kind = 0
    seed: int = 0

    def native_args(self, k_estimate: int) -> dict[str, Any]:
        return {"seed": self.seed}
