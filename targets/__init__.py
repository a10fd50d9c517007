"""The registry of targets.  Each folder here holds a C target (compiled into
harness._native by setup.py) and its Python descriptor; installed, this
package is importable as harness.targets."""
from __future__ import annotations

import importlib

from harness.errors import QfuzzError
from harness.native import TARGET_INDEX
from harness.target import Target

_cache: dict[str, Target] = {}


def names() -> list[str]:
    """Targets compiled into this build, in order."""
    return sorted(TARGET_INDEX)


def get(name: str | Target) -> Target:
    if isinstance(name, Target):
        return name
    if name not in TARGET_INDEX:
        raise QfuzzError(f"unknown target {name!r} (targets: {', '.join(names())})")
    if name not in _cache:
        module = importlib.import_module(f"{__name__}.{name}")
        _cache[name] = module.TARGET
    return _cache[name]
