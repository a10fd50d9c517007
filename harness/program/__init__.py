"""Unmodified C programs as qfuzz targets (native/rt/README.md): built at run time against the
runtime in harness._native (build.py), main() run once per execution.

    from harness.program import load
    t = load(["examples/pool.c"], variants=["buggy=-DBUGGY=1", "fixed=-DBUGGY=0"], args=["2 4"])
    harness.run(t, "buggy", {"args": ["2", "4"]})
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Optional, Sequence

from .spec import ProgramSpec, from_block, from_command_line
from .target import ProgramTarget

_by_key: dict[str, ProgramTarget] = {}


def target_for(spec: ProgramSpec) -> ProgramTarget:
    """The one ProgramTarget of `spec` in this process (builds and loads are
    shared), registered under its name."""
    from ..targets import register

    t = _by_key.get(spec.key())
    if t is None:
        t = _by_key[spec.key()] = ProgramTarget(spec)
    register(t)
    return t


def load(
    sources: Sequence[str], *, cflags: Optional[str] = None, args: Iterable[str] = (), variants: Iterable[str] = ()
) -> ProgramTarget:
    """A program target from source paths and the command line's strings."""
    return target_for(from_command_line(sources, cflags, args, variants))


def from_reproducer_block(block: Any, source: str, near: Optional[Path] = None) -> ProgramTarget:
    """The target a reproducer's "program" block names; refuses changed sources."""
    return target_for(from_block(block, source, near))


def is_program_path(name: str) -> bool:
    return name.endswith(".c")


__all__ = ["ProgramTarget", "ProgramSpec", "load", "from_reproducer_block", "target_for", "is_program_path"]
