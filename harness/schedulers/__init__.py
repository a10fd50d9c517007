"""Scheduling strategies: who runs next at each schedule point."""
from __future__ import annotations

import builtins
from typing import Any

from ..errors import QfuzzError
from .base import Scheduler
from .bytes import Bytes
from .pct import PCT
from .pos import POS
from .random import RandomWalk
from .replay import Replay

SCHEDULERS: dict[str, type[Scheduler]] = {c.name: c for c in (RandomWalk, PCT, POS, Bytes, Replay)}
SEEDED = ("random", "pct", "pos")


def make(name: str, seed: int = 0, **params: Any) -> Scheduler:
    """A seeded strategy by name: make("pct", seed=7, depth=2)."""
    if name not in SCHEDULERS:
        raise QfuzzError(f"unknown strategy {name!r} (strategies: {', '.join(SCHEDULERS)})")
    cls = SCHEDULERS[name]
    if name == "replay":
        return Replay(builtins.bytes(params.get("decisions", b"")))  # `bytes` here is the .bytes submodule
    return cls(seed=seed, **params)


__all__ = ["Scheduler", "RandomWalk", "PCT", "POS", "Bytes", "Replay", "SCHEDULERS", "SEEDED", "make"]
