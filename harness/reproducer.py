"""Reproducer format: a failing case as a small JSON file that replays to
the same verdict on any machine.  Loading treats the file as data only (no
pickle, no eval), bounds its size, and reports any problem on one line
naming the file and field.

v1: a compiled-in target (target, variant, workload, schedule, verdict).
v2: adds "program" for a program target (harness.program): its sources with
their sha256, cflags, variants (name -> macros) and argument lists; a
reproducer whose sources changed refuses to replay, naming the file.
Reproducers of compiled-in targets are still written as v1."""
from __future__ import annotations

import datetime
import hashlib
import json
import os
import re
import stat
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
VERSION = 1  # what a compiled-in target's reproducer is written as
PROGRAM_VERSION = 2  # a program target's (the "program" block)
LATEST = PROGRAM_VERSION  # the newest this qfuzz reads
MAX_BYTES = 1 << 20  # a minimized reproducer is a few kB
MAX_DECISIONS = 1 << 20
_STRING = r'"(?:[^"\\]|\\.)*"'
_STRING_LIST = rf"\[\s*({_STRING}(?:,\s*{_STRING})*)\s*\]"


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
    program: Optional[dict[str, Any]] = None  # v2: the program's sources, flags, variants, args
    resolved: Optional[Any] = field(default=None, repr=False, compare=False)  # the Target, once looked up

    def target_object(self) -> Any:
        """The Target this reproducer replays on (a program target from its "program" block)."""
        if self.resolved is None:
            from .targets import get

            if self.program is not None:
                from .program import from_reproducer_block

                near = self.path.parent if self.path is not None else None
                self.resolved = from_reproducer_block(self.program, str(self.path or self.target), near)
            else:
                self.resolved = get(self.target)
        return self.resolved

    @property
    def signature(self) -> str:
        return str(self.verdict.get("signature", "OK"))

    @property
    def kind(self) -> str:
        return str(self.verdict.get("kind", "OK"))

    def replay(self, variant: Optional[str] = None, *, trace: bool = True) -> Execution:
        """Run the stored schedule again (on `variant`, default its own)."""
        return run(self.target_object(), variant or self.variant, self.workload, Replay(self.decisions), trace=trace)

    def size(self) -> tuple[int, ...]:
        """What "smaller" means for dedupe (see size_of), measured by replaying
        it: never the counts the file itself claims."""
        return size_of(self.replay(trace=False))

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "format": FORMAT,
            "version": VERSION if self.program is None else PROGRAM_VERSION,
            "qfuzz": self.qfuzz,
            "target": self.target,
            "target_version": self.target_object().version,
        }
        if self.program is not None:
            d["program"] = self.program
        d |= {
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
        text = re.sub(r"\[\s*(-?\d+(?:,\s*-?\d+)*)\s*\]", lambda m: "[" + ", ".join(re.findall(r"-?\d+", m.group(1))) + "]", text)
        if self.program is not None:  # lists of strings too (macros, arguments), checked to mean the same
            compact = re.sub(_STRING_LIST, lambda m: "[" + ", ".join(re.findall(_STRING, m.group(1))) + "]", text)
            if json.loads(compact) == json.loads(text):
                text = compact
        return text + "\n"

    def content_id(self) -> str:
        """Short hash of what decides the replay: target, variant, workload, decisions."""
        parts: list[Any] = [self.target, self.variant, self.workload, list(self.decisions)]
        if self.program is not None:  # other code, other reproducer
            parts.append(self.program)
        key = json.dumps(parts, sort_keys=True)
        return hashlib.sha1(key.encode()).hexdigest()[:10]


def size_of(ex: Execution) -> tuple[int, ...]:
    """requests+events, threads, servers, preemptions, decisions: of the execution."""
    s = ex.target.size(ex.workload.data)
    return (
        s.get("requests", 0) + s.get("events", 0), s.get("threads", 0), s.get("servers", 0), ex.preemptions,
        len(bytes(ex.decisions).rstrip(b"\0")),
    )


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
        program=ex.target.program_block(),
        resolved=ex.target,
    )


def now_iso() -> str:
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()


# -- loading ---------------------------------------------------------------------


MAX_LINE = 400  # an error quoting a 300k-element field stays one readable line


def one_line(msg: str, limit: int = MAX_LINE) -> str:
    """`msg` with every unprintable character (newlines, escapes, lone
    surrogates) written as a Python escape: one line, safe on a terminal,
    and cut to about `limit` characters (the file and field come first in
    every message; what is cut is the tail of a quoted value)."""
    if len(msg) > limit:
        msg = f"{msg[:limit]}... ({len(msg) - limit:,} more characters)"
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in msg)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def parse_json(data: bytes, source: str) -> Any:
    if len(data) > MAX_BYTES:
        raise ReproducerError(f"{source}: {len(data)} bytes, larger than the {MAX_BYTES} allowed")
    try:
        text = data.decode("utf-8-sig")  # a leading BOM is not part of the JSON
    except UnicodeDecodeError:
        raise ReproducerError(f"{source}: not UTF-8 text (a libFuzzer crash file needs --target and --variant)") from None
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise ReproducerError(f"{source}: JSON nested too deeply") from None
    except ValueError as exc:
        raise ReproducerError(f"{source}: not valid JSON ({exc})") from None


BOM = b"\xef\xbb\xbf"  # what some editors put before UTF-8 text: ignored, as Python's utf-8-sig does


def read_limited(path: Path) -> bytes:
    """A regular file's bytes (a FIFO, a device or a directory is refused
    before reading, so nothing blocks), bounded in size."""
    try:
        # O_NONBLOCK: opening a FIFO with no writer returns at once; fstat then says what it is
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except IsADirectoryError:
        raise ReproducerError(f"{path}: is a directory") from None
    except OSError as exc:
        raise ReproducerError(f"{path}: cannot read ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as f:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise ReproducerError(f"{path}: is a directory")
        if not stat.S_ISREG(mode):
            what = "a FIFO" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "a device"
            raise ReproducerError(f"{path}: not a regular file ({what})")
        os.set_blocking(fd, True)
        try:
            data = f.read(MAX_BYTES + 1)
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
    if version > LATEST:
        raise ReproducerError(f"{source}: version: {version} is newer than this qfuzz reads ({LATEST}); upgrade qfuzz")
    if version < 1:
        raise ReproducerError(f"{source}: version: {version} is not a known format version")
    for key in ("target", "variant"):
        if not isinstance(d.get(key), str):
            raise ReproducerError(f"{source}: {key}: missing or not a string")
    program = d.get("program")
    if program is not None and version < PROGRAM_VERSION:
        raise ReproducerError(f"{source}: program: a version {version} reproducer has no program block")
    try:
        if program is not None:
            from .program import from_reproducer_block

            target = from_reproducer_block(program, source, Path(source).parent)
            if target.name != d["target"]:
                raise ReproducerError(f"{source}: target: {d['target']!r} but its program is named {target.name!r}")
        else:
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
        program=program,
        resolved=target,
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
