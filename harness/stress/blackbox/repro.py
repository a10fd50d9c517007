"""The stress reproducer: a STUCK found on a real program (a black-box
target), as JSON.

Unlike a model reproducer it holds no schedule (real threads cannot be
replayed): it holds the configuration and load that showed the bug, and the
evidence that was observed.  `qfuzz repro FILE` re-runs it N times and says
how many re-runs showed STUCK.  Written atomically, never overwriting."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Optional

from ... import __version__
from ...errors import QfuzzError, ReproducerError
from ...reproducer import now_iso, parse_json, read_limited, write_new
from . import TARGETS, BlackBoxTarget, get

FORMAT = "qfuzz-stress-reproducer"
VERSION = 1
NOTE = ("real threads are not deterministic: a re-run shows STUCK only with some probability; "
        "the evidence below is what was observed when it was found")
MAX_EPISODES = 5


def is_stress_reproducer(data: Any) -> bool:
    return isinstance(data, dict) and data.get("format") == FORMAT


def make(target: BlackBoxTarget, result: Any, found: dict[str, Any]) -> dict[str, Any]:
    """A reproducer for a run (run.RunResult) that showed STUCK."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "qfuzz": __version__,
        "target": target.name,
        "program": {"name": target.program, "version": result.version},
        "config": result.config.to_json(),
        "observed": {
            **result.summary(),
            "episodes_evidence": [e.to_json() for e in result.episodes[:MAX_EPISODES]],
        },
        "found": {**found, "date": now_iso()},
        "note": NOTE,
    }


def write(corpus_dir: Path, rep: dict[str, Any]) -> Optional[Path]:
    """corpus_dir/stuck-<path>-<id>.json; None if that exact file exists."""
    text = json.dumps(rep, indent=1) + "\n"
    paths = rep["observed"].get("paths") or ["unknown"]
    ident = hashlib.sha1(text.encode()).hexdigest()[:10]
    path = corpus_dir / f"stuck-{'+'.join(paths)}-{ident}.json"
    return path if write_new(path, text) else None


def program_version(d: dict[str, Any]) -> str:
    """The version of the program a reproducer was found on.  Files written
    before the engine split name it under the program's own key."""
    for key in ("program", *(k for k, v in d.items() if isinstance(v, dict) and "version" in v and k != "found")):
        v = d.get(key)
        if isinstance(v, dict) and isinstance(v.get("version"), str):
            return v["version"]
    return "?"


def load(path: str | Path) -> tuple[Any, dict[str, Any], BlackBoxTarget]:
    """Validate a stress reproducer; ReproducerError (one line) if unusable."""
    p = Path(path)
    d = parse_json(read_limited(p), str(p))
    if not is_stress_reproducer(d):
        raise ReproducerError(f"{p}: format: not {FORMAT!r}")
    v = d.get("version")
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise ReproducerError(f"{p}: version: expected an integer >= 1")
    if v > VERSION:
        raise ReproducerError(f"{p}: version: {v} is newer than this qfuzz reads ({VERSION}); upgrade qfuzz")
    if d.get("target") not in TARGETS:
        raise ReproducerError(f"{p}: target: expected one of {', '.join(map(repr, TARGETS))}, got {d.get('target')!r}")
    target = get(d["target"])
    try:
        cfg = target.config(d.get("config"), f"{p}: config")
    except QfuzzError as exc:  # already one line naming the field
        raise ReproducerError(str(exc)) from None
    if not isinstance(d.get("observed", {}), dict):
        raise ReproducerError(f"{p}: observed: expected an object")
    return cfg, d, target
