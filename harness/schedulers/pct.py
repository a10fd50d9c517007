"""PCT with bug depth `depth`: random thread priorities and depth-1 change
points spread over the expected number of steps `k` (estimated from the
workload when not given)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .base import Scheduler


@dataclass(frozen=True)
class PCT(Scheduler):
    name = "pct"
    kind = 1
    seed: int = 0
    depth: int = 3
    k: int | None = None

    def native_args(self, k_estimate: int) -> dict[str, Any]:
        return {"seed": self.seed, "depth": self.depth, "k": self.k or k_estimate}
