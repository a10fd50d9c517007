"""Crash reproducers: the input a worker died on (a segfault or abort in a
target, running out of memory, a hang past its timeout).  An execution that
crashed has no decision list, so the file names the deterministic input
instead (target, variant, workload, strategy and seed), and `qfuzz repro`
runs it in a child process so the crash cannot take the caller down."""
from __future__ import annotations

import json
import os
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from .child import python
from . import __version__
from .errors import ReproducerError
from .reproducer import MAX_BYTES, now_iso, parse_json, read_limited, write_new

FORMAT = "qfuzz-crash"
VERSION = 1


@dataclass
class Crash:
    target: str
    variant: str
    workload: dict[str, Any]
    schedule: dict[str, Any]  # {"strategy": name, "seed": n, ...params}
    reason: str  # "signal 11 (SIGSEGV)", "timeout after 30 s", ...
    found: dict[str, Any] = field(default_factory=dict)
    path: Optional[Path] = None
    program: Optional[dict[str, Any]] = None  # a program target's sources, flags, variants (as in reproducers)

    def to_json(self) -> dict[str, Any]:
        d = {
            "format": FORMAT, "version": VERSION, "qfuzz": __version__, "target": self.target,
            "variant": self.variant, "workload": self.workload, "schedule": self.schedule, "reason": self.reason,
            "found": self.found or {"date": now_iso()},
        }
        if self.program is not None:
            d["program"] = self.program
        return d

    def name(self) -> str:
        import hashlib

        key = json.dumps([self.target, self.variant, self.workload, self.schedule], sort_keys=True)
        kind = "timeout" if self.reason.startswith("timeout") else "crash"
        return f"{kind}-{self.variant}-{hashlib.sha1(key.encode()).hexdigest()[:10]}.json"


def is_crash(data: Any) -> bool:
    return isinstance(data, dict) and data.get("format") == FORMAT


def save(crash: Crash, directory: Path) -> Path:
    path = directory / crash.name()
    write_new(path, json.dumps(crash.to_json(), indent=1) + "\n")  # an identical input is already there
    crash.path = path
    return path


def from_json(d: Any, source: str) -> Crash:
    from .schedulers import SCHEDULERS
    from .targets import get

    if not is_crash(d):
        raise ReproducerError(f"{source}: not a qfuzz crash reproducer")
    if d.get("version") != VERSION:
        raise ReproducerError(f"{source}: version: {d.get('version')!r} is not a crash format this qfuzz reads ({VERSION})")
    program = d.get("program")
    try:
        if program is not None:
            from .program import from_reproducer_block

            target = from_reproducer_block(program, source, Path(source).parent)
        else:
            target = get(str(d.get("target")))
        target.variant(str(d.get("variant")))
        workload = target.canonical(d.get("workload"), f"{source}: workload")
    except ReproducerError:
        raise
    except Exception as exc:  # QfuzzError subclasses: name the file
        raise ReproducerError(f"{source}: {exc}") from None
    sched = d.get("schedule")
    if not isinstance(sched, dict) or sched.get("strategy") not in SCHEDULERS or not isinstance(sched.get("seed"), int):
        raise ReproducerError(f"{source}: schedule: expected a strategy name and an integer seed")
    return Crash(target.name, d["variant"], workload, sched, str(d.get("reason", "?")), d.get("found") or {},
                 program=program)


def load(path: str | os.PathLike[str]) -> Crash:
    p = Path(path)
    crash = from_json(parse_json(read_limited(p), str(p)), str(p))
    crash.path = p
    return crash


def run_in_child(crash: Crash, timeout: float = 30.0) -> tuple[str, str]:
    """Replay in a child process.  Returns (outcome, detail): outcome is
    "crash", "timeout", "failure" (a verdict) or "ok"."""
    code = (
        "import json, pathlib, sys, harness\n"
        "from harness.schedulers import make\n"
        "d = json.load(sys.stdin)\n"
        "target = d['target']\n"
        "if 'program' in d:  # a program target: built from its sources (checked against their hashes)\n"
        "    from harness.program import from_reproducer_block\n"
        "    target = from_reproducer_block(d['program'], sys.argv[1], pathlib.Path(sys.argv[1]).parent)\n"
        "s = dict(d['schedule']); name = s.pop('strategy'); seed = s.pop('seed')\n"
        "ex = harness.run(target, d['variant'], d['workload'], make(name, seed, **s), trace=False)\n"
        "print(ex.verdict.signature)\n"
    )
    source = str(crash.path) if crash.path is not None else "crash"
    try:
        proc = subprocess.run(python("-c", code, source), input=json.dumps(crash.to_json()), capture_output=True,
                              text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "timeout", f"no verdict after {timeout:g} s"
    if proc.returncode < 0:
        sig = -proc.returncode
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = "?"
        return "crash", f"signal {sig} ({name})"
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["?"])[-1]
        return "crash", f"exit status {proc.returncode}: {last}"
    sig = proc.stdout.strip()
    return ("ok" if sig == "OK" else "failure"), sig


__all__ = ["Crash", "FORMAT", "MAX_BYTES", "is_crash", "save", "load", "run_in_child"]
