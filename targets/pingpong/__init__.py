"""pingpong: two threads incrementing one counter through schedule points.
The smallest target (docs/targets.md walks through it) and the hand-off
benchmark's workload."""
from __future__ import annotations

import random
import struct
from typing import Any, Mapping

from harness.errors import WorkloadError
from harness.target import Target, Variant


class Pingpong(Target):
    name = "pingpong"
    description = "two threads, one shared counter (example target and hand-off benchmark)"
    variants = {"default": Variant("default", 0, "the only build", "clean")}

    def canonical(self, data: Any, where: str = "workload") -> dict[str, Any]:
        if not isinstance(data, dict) or set(data) != {"rounds"}:
            raise WorkloadError(f"{where}: expected {{\"rounds\": N}}")
        r = data["rounds"]
        if isinstance(r, bool) or not isinstance(r, int) or not 0 <= r <= 1_000_000:
            raise WorkloadError(f"{where}.rounds: expected an integer 0..1000000, got {r!r}")
        return {"rounds": r}

    def pack(self, data: Mapping[str, Any]) -> bytes:
        return struct.pack("<i", data["rounds"])

    def counter_names(self, data: Mapping[str, Any]) -> list[str]:
        return ["counter"]

    def generate(self, rnd: random.Random, mix: str = "basic") -> dict[str, Any]:
        return {"rounds": rnd.randint(1, 50)}

    def size(self, data: Mapping[str, Any]) -> dict[str, int]:
        return {"threads": 2, "requests": data["rounds"]}

    def estimate_steps(self, data: Mapping[str, Any]) -> int:
        return 2 * data["rounds"] + 4

    def budget(self, data: Mapping[str, Any]) -> int:
        return 4 * data["rounds"] + 100


TARGET = Pingpong()
