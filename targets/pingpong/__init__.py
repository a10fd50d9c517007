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
    variants = {
        "default": Variant("default", 0, "the only build", "clean"),
        # for testing the harness's crash handling: a real SIGSEGV / hang on one input
        "crashes-at-13": Variant("crashes-at-13", 1, "segfaults when rounds is 13 (a test of crash handling)", "bugs"),
        "hangs-at-17": Variant("hangs-at-17", 2, "spins forever when rounds is 17 (a test of hang handling)", "bugs"),
    }

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
        return {"rounds": rnd.randint(1, 20)}

    def size(self, data: Mapping[str, Any]) -> dict[str, int]:
        return {"threads": 2, "requests": data["rounds"]}

    def estimate_steps(self, data: Mapping[str, Any]) -> int:
        return 2 * data["rounds"] + 4

    def budget(self, data: Mapping[str, Any]) -> int:
        return 4 * data["rounds"] + 100


TARGET = Pingpong()
