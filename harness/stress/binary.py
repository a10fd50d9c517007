"""Real programs under stress (the black-box targets of harness/stress/
blackbox): the entry points `qfuzz stress`, `qfuzz repro` and harness.inputs
use.  Each call goes to the target's own command module (its `cli`), found
through its descriptor, so nothing here knows a program."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Sequence

from rich.console import Console

from ..errors import QfuzzError, ReproducerError
from .blackbox import TARGETS, get
from .blackbox.repro import is_stress_reproducer as _is_stress_reproducer

__all__ = ["TARGETS", "is_stress_reproducer", "main", "repro_file", "against"]


def is_stress_reproducer(data: Any) -> bool:
    """True for a stress reproducer (format "qfuzz-stress-reproducer")."""
    return _is_stress_reproducer(data)


def main(argv: Sequence[str], console: Console) -> int:
    """`qfuzz stress TARGET ...` for a black-box target."""
    return int(get(argv[0]).cli().main(argv, console))


def repro_file(path: str | Path, console: Console, runs: int, **options: Any) -> int:
    """Re-run a stress reproducer (its target's own replay); 2 and one line
    on stderr if the file names no black-box target."""
    try:
        target = json.loads(Path(path).read_text(errors="replace")).get("target")
    except (OSError, ValueError, AttributeError):
        target = None
    if target not in TARGETS:
        target = TARGETS[0]  # its loader reports what is wrong with the file, on one line
    try:
        cli = get(target).cli()
    except QfuzzError as exc:
        sys.stderr.write(f"qfuzz: error: {exc}\n")
        return 2
    return int(cli.repro_file(path, console, runs, **options))


def against(model_reproducer: Any, console: Console, runs: int, seconds: float, target: str = "haproxy_binary",
            **options: Any) -> int:
    """`qfuzz repro MODEL_FILE --against TARGET`: the model's finding as a
    timed scenario on the real program."""
    try:
        cli = get(target).cli()
    except (QfuzzError, ReproducerError) as exc:
        sys.stderr.write(f"qfuzz: error: {exc}\n")
        return 2
    return int(cli.against(model_reproducer, console, runs, seconds, **options))
