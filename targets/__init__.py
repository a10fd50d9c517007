"""The registry of targets.  Each folder here holds a C target (compiled into
harness._native by setup.py) and its Python descriptor; installed, this
package is importable as harness.targets.  Program targets (unmodified C
built at run time, harness.program) join it when they are loaded, by name;
`get("path/to/prog.c")` loads one with its defaults."""
from __future__ import annotations

import importlib

from harness.errors import QfuzzError
from harness.native import TARGET_INDEX
from harness.target import Target

_cache: dict[str, Target] = {}
_programs: dict[str, Target] = {}  # program targets loaded in this process, by name


def names() -> list[str]:
    """Targets compiled into this build, in order."""
    return sorted(TARGET_INDEX)


def register(target: Target) -> Target:
    """Make a program target known by its name (the latest one loaded wins)."""
    if target.name in TARGET_INDEX:
        raise QfuzzError(f"program {target.name!r}: a built-in target has that name; rename the source file")
    _programs[target.name] = target
    return target


def get(name: str | Target) -> Target:
    if isinstance(name, Target):
        return name
    if name not in TARGET_INDEX:
        if name in _programs:
            return _programs[name]
        if name.endswith(".c"):
            from harness.program import load

            return load([name])
        raise QfuzzError(f"unknown target {name!r} (targets: {', '.join(names())}, or a path to a C program)")
    if name not in _cache:
        module = importlib.import_module(f"{__name__}.{name}")
        _cache[name] = module.TARGET
    return _cache[name]
