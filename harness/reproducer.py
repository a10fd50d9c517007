"""Reproducer format v1: a failing case as a small JSON file that replays to
the same verdict on any machine.  Loading treats the file as data only (no
pickle, no eval), bounds its size, and reports any problem on one line
naming the file and field."""
from __future__ import annotations

import datetime
import hashlib
import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from . import __version__
from .errors import QfuzzError, ReproducerError, WorkloadError
from .execution import KINDS, Execution
from .runner import run
from .schedulers import Replay

FORMAT = "qfuzz-reproducer"
VERSION = 1
MAX_BYTES = 1 << 20  # a minimized reproducer is a few kB
MAX_DECISIONS = 1 << 20


@dataclass
class Reproducer:
    target: str
    variant: str
    workload: dict[str, Any]
    decisions: bytes
    verdict: dict[str, Any]
    schedule: dict[str, Any] = field(default_factory=dict)  # how it was found: strategy, seed, params
    found: dict[str, Any] = field(default_factory=dict)  # engine, executions, seconds, date
    minimized: Optional[dict[str, Any]] = None  # sizes before and after
    attribution: Optional[dict[str, Any]] = None  # which fix removes it (harness/attribution.py)
    qfuzz: str = __version__
    path: Optional[Path] = None

    @property
    def signature(self) -> str:
        return str(self.verdict.get("signature", "OK"))

    @property
    def kind(self) -> str:
        return str(self.verdict.get("kind", "OK"))

    def replay(self, variant: Optional[str] = None, *, trace: bool = True) -> Execution:
        """Run the stored schedule again (on `variant`, default its own)."""
        return run(self.target, variant or self.variant, self.workload, Replay(self.decisions), trace=trace)

    def size(self) -> tuple[int, ...]:
        """What "smaller" means for dedupe: requests+events, threads, servers, preemptions, decisions."""
        from .targets import get

        s = get(self.target).size(self.workload)
        preempt = int((self.minimized or {}).get("after", {}).get("preemptions", sum(1 for d in self.decisions if d)))
        return (
            s.get("requests", 0) + s.get("events", 0), s.get("threads", 0), s.get("servers", 0), preempt,
            len(self.decisions),
        )

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "format": FORMAT,
            "version": VERSION,
            "qfuzz": self.qfuzz,
            "target": self.target,
            "target_version": _target_version(self.target),
            "variant": self.variant,
            "workload": self.workload,
            "schedule": {**self.schedule, "decisions": list(self.decisions)},
            "verdict": self.verdict,
        }
        if self.found:
            d["found"] = self.found
        if self.minimized:
            d["minimized"] = self.minimized
        if self.attribution:
            d["attribution"] = self.attribution
        return d

    def dumps(self) -> str:
        text = json.dumps(self.to_json(), indent=1, sort_keys=False)
        # lists of numbers (the decisions) on one line: the file stays readable
        return re.sub(r"\[\s*(-?\d+(?:,\s*-?\d+)*)\s*\]", lambda m: "[" + ", ".join(re.findall(r"-?\d+", m.group(1))) + "]", text) + "\n"

    def content_id(self) -> str:
        """Short hash of what decides the replay: target, variant, workload, decisions."""
        key = json.dumps([self.target, self.variant, self.workload, list(self.decisions)], sort_keys=True)
        return hashlib.sha1(key.encode()).hexdigest()[:10]


def from_execution(ex: Execution, found: Optional[dict[str, Any]] = None) -> Reproducer:
    sched = ex.scheduler.to_json()
    sched.pop("decisions", None)
    return Reproducer(
        target=ex.target.name,
        variant=ex.variant,
        workload=ex.workload.to_json(),
        decisions=bytes(ex.decisions).rstrip(b"\0"),  # replay pads with 0: same schedule
        verdict=ex.verdict.to_json(),
        schedule=sched,
        found=dict(found or {}),
    )


def now_iso() -> str:
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()


# -- loading ---------------------------------------------------------------------


def one_line(msg: str) -> str:
    """`msg` with every unprintable character (newlines, escapes, lone
    surrogates) written as a Python escape: one line, safe on a terminal."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in msg)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def parse_json(data: bytes, source: str) -> Any:
    if len(data) > MAX_BYTES:
        raise ReproducerError(f"{source}: {len(data)} bytes, larger than the {MAX_BYTES} allowed")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ReproducerError(f"{source}: not UTF-8 text (a libFuzzer crash file needs --target and --variant)") from None
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise ReproducerError(f"{source}: JSON nested too deeply") from None
    except ValueError as exc:
        raise ReproducerError(f"{source}: not valid JSON ({exc})") from None


def read_limited(path: Path) -> bytes:
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_BYTES + 1)
    except IsADirectoryError:
        raise ReproducerError(f"{path}: is a directory") from None
    except OSError as exc:
        raise ReproducerError(f"{path}: cannot read ({exc.strerror})") from None
    if len(data) > MAX_BYTES:
        raise ReproducerError(f"{path}: larger than the {MAX_BYTES} bytes allowed")
    return data


def from_json(d: Any, source: str) -> Reproducer:
    from .targets import get

    if not isinstance(d, dict) or "format" not in d:
        raise ReproducerError(f"{source}: not a qfuzz reproducer (no \"format\" field)")
    if d["format"] != FORMAT:
        raise ReproducerError(f"{source}: format: {d['format']!r} is not {FORMAT!r}")
    version = d.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise ReproducerError(f"{source}: version: expected an integer")
    if version > VERSION:
        raise ReproducerError(f"{source}: version: {version} is newer than this qfuzz reads ({VERSION}); upgrade qfuzz")
    if version < 1:
        raise ReproducerError(f"{source}: version: {version} is not a known format version")
    for key in ("target", "variant"):
        if not isinstance(d.get(key), str):
            raise ReproducerError(f"{source}: {key}: missing or not a string")
    try:
        target = get(d["target"])
        target.variant(d["variant"])
        workload = target.canonical(d.get("workload"), f"{source}: workload")
    except QfuzzError as exc:
        msg = str(exc)
        # a workload error can quote the file's own keys: keep the message on one line
        raise ReproducerError(one_line(msg if msg.startswith(source) else f"{source}: {msg}")) from None
    schedule = d.get("schedule")
    if not isinstance(schedule, dict):
        raise ReproducerError(f"{source}: schedule: missing or not an object")
    decisions = schedule.get("decisions")
    if not isinstance(decisions, list) or len(decisions) > MAX_DECISIONS:
        raise ReproducerError(f"{source}: schedule.decisions: expected a list of at most {MAX_DECISIONS} integers")
    for i, x in enumerate(decisions):
        if isinstance(x, bool) or not isinstance(x, int) or not 0 <= x <= 255:
            raise ReproducerError(f"{source}: schedule.decisions[{i}]: {x!r} is not an integer 0..255")
    verdict = d.get("verdict")
    if not isinstance(verdict, dict) or verdict.get("kind") not in KINDS or not isinstance(verdict.get("signature"), str):
        raise ReproducerError(f"{source}: verdict: missing, or without a known kind and a signature")
    meta = {k: v for k, v in schedule.items() if k != "decisions"}
    for key in ("found", "minimized", "attribution"):
        if key in d and not isinstance(d[key], dict):
            raise ReproducerError(f"{source}: {key}: expected an object")
    recorded = d.get("target_version", 1)
    if isinstance(recorded, bool) or not isinstance(recorded, int) or not 1 <= recorded <= target.version:
        raise ReproducerError(f"{source}: target_version: {recorded!r} is not a {target.name} model version this "
                              f"qfuzz knows (1..{target.version})")
    rep = Reproducer(
        target=target.name,
        variant=d["variant"],
        workload=workload,
        decisions=bytes(decisions),
        verdict=verdict,
        schedule=meta,
        found=d.get("found") or {},
        minimized=d.get("minimized"),
        attribution=d.get("attribution"),
        qfuzz=str(d.get("qfuzz", "?")),
    )
    if recorded < target.version:
        # the model's schedule points changed since: an old file is kept only if
        # it still means what it says, never replayed to another verdict silently
        got = rep.replay(trace=False).verdict.signature
        if got != verdict["signature"]:
            raise ReproducerError(one_line(
                f"{source}: recorded on {target.name} model version {recorded}, which version {target.version} "
                f"replays as {got}, not {verdict['signature']}: re-find it with qfuzz fuzz --workload, or replay "
                f"it with the qfuzz that wrote it ({d.get('qfuzz', '?')})"))
    return rep


def _target_version(name: str) -> int:
    from .targets import get

    return get(name).version


def load(path: str | os.PathLike[str]) -> Reproducer:
    p = Path(path)
    rep = from_json(parse_json(read_limited(p), str(p)), str(p))
    rep.path = p
    return rep


def load_workload(path: str | os.PathLike[str], target: str) -> dict[str, Any]:
    """A workload file (just the workload object, or a reproducer's)."""
    from .targets import get

    p = Path(path)
    d = parse_json(read_limited(p), str(p))
    if isinstance(d, dict) and d.get("format") == FORMAT:
        d = d.get("workload")
    try:
        return get(target).canonical(d, f"{p}")
    except WorkloadError:
        raise
    except QfuzzError as exc:
        raise WorkloadError(f"{p}: {exc}") from None


# -- writing -----------------------------------------------------------------------


def write_new(path: Path, text: str) -> bool:
    """Write `path` atomically, never replacing an existing file.  Returns
    False (and writes nothing) if it already exists."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fchmod(f.fileno(), 0o644)  # mkstemp makes it private; a corpus is shared
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)  # atomic, and fails if the name is taken
        except FileExistsError:
            return False
        return True
    finally:
        os.unlink(tmp)
