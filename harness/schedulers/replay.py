"""Replay: a recorded decision list, fed back verbatim; past its end, no
preemption.  Replaying an execution's decisions reproduces it exactly."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .base import Scheduler


@dataclass(frozen=True)
class Replay(Scheduler):
    name = "replay"
    kind = 4
    decisions: bytes = b""

    def native_args(self, k_estimate: int) -> dict[str, Any]:
        return {"data": self.decisions}

    def to_json(self) -> dict[str, Any]:
        return {"strategy": self.name, "decisions": list(self.decisions)}
