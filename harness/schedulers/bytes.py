"""Bytes: one decision per input byte (a coverage-guided fuzzer's input);
when they run out, a seeded random walk, or no preemption if
`fallback_random` is False."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .base import Scheduler


@dataclass(frozen=True)
class Bytes(Scheduler):
    name = "bytes"
    kind = 3
    data: bytes = b""
    seed: int = 0
    fallback_random: bool = True

    def native_args(self, k_estimate: int) -> dict[str, Any]:
        return {"seed": self.seed, "data": self.data, "fallback_random": int(self.fallback_random)}
