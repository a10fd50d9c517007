"""A perturbation plan for the instrumented HAProxy (perturb_build.py) and
the runtime's shared file (native/rt/perturb/perturb.h).

A plan is JSON, saved in the stress reproducer's config and applied again
by `qfuzz repro`:

    {"version": "2.6.12", "seed": 7, "mode": "prob", "ppm": 500000,
     "delay_us": [200, 200],
     "points": [{"function": "pendconn_add", "at": "entry", "role": "delay", "why": "..."}, ...]}

`mode` "prob": each hit of a delay point is delayed with probability
ppm/1e6.  "pct": in every round of `n` hits of a point, `k` seeded change
points are delayed (PCT's few change points, in real time).  Either way
the decision for hit i of point p is a pure function of (seed, p, i).  A
"count" point is only counted (evidence that that side of the race ran).
Function names are resolved to offsets in the binary's symbol table at
start (`nm`): a static function inlined in several files has several
copies, each its own runtime point, and their hits are summed by name."""
from __future__ import annotations

import functools
import mmap
import os
import struct
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional

from harness.errors import QfuzzError

MAX_POINTS = 16  # QP_MAX_POINTS
MODES = ("prob", "pct")
ATS = ("entry", "exit")
ROLES = ("delay", "count")
MAX_DELAY_US = 100_000
MAGIC = 0x3152545250465151
_HEAD = struct.Struct("<QIIQQQQQ")
_RECORD = struct.Struct("<IIQQQII")


@dataclass(frozen=True)
class Point:
    function: str
    at: str = "entry"
    role: str = "delay"
    why: str = ""

    def to_json(self) -> dict[str, Any]:
        d = {"function": self.function, "at": self.at, "role": self.role}
        return {**d, "why": self.why} if self.why else d

    def short(self) -> str:
        return f"{self.function}:{self.at}" + ("" if self.role == "delay" else " (count)")


@dataclass(frozen=True)
class Plan:
    version: str
    points: tuple[Point, ...]
    seed: int = 0
    mode: str = "prob"
    ppm: int = 500_000
    k: int = 3
    n: int = 100
    delay_us: tuple[int, int] = (200, 200)

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"version": self.version, "seed": self.seed, "mode": self.mode}
        d.update({"ppm": self.ppm} if self.mode == "prob" else {"k": self.k, "n": self.n})
        d["delay_us"] = list(self.delay_us)
        d["points"] = [p.to_json() for p in self.points]
        return d

    def short(self) -> str:
        how = f"p={self.ppm / 1e6:g} per hit" if self.mode == "prob" else f"{self.k} change points per {self.n} hits"
        lo, hi = self.delay_us
        dur = f"{lo} us" if lo == hi else f"{lo}-{hi} us"
        return (f"perturb {', '.join(p.short() for p in self.points)}; seed {self.seed}, {self.mode}: {how}, "
                f"delay {dur}")

    def delay_points(self) -> list[Point]:
        return [p for p in self.points if p.role == "delay"]


def _int(d: Mapping[str, Any], key: str, lo: int, hi: int, where: str, default: int) -> int:
    v = d.get(key, default)
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise QfuzzError(f"{where}.{key}: expected an integer in {lo}..{hi}, got {v!r}")
    return v


def plan_from_json(d: Any, where: str) -> Plan:
    """Validate a plan; QfuzzError (one line naming the field) if it is bad."""
    if not isinstance(d, dict):
        raise QfuzzError(f"{where}: expected an object")
    known = {"version", "seed", "mode", "ppm", "k", "n", "delay_us", "points"}
    extra = sorted(set(d) - known)
    if extra:
        raise QfuzzError(f"{where}.{extra[0]}: unknown field")
    version = d.get("version")
    if not isinstance(version, str) or not version:
        raise QfuzzError(f"{where}.version: expected the HAProxy version the plan was made for")
    mode = d.get("mode", "prob")
    if mode not in MODES:
        raise QfuzzError(f"{where}.mode: {mode!r} is not one of {', '.join(MODES)}")
    delay = d.get("delay_us", [200, 200])
    if (not isinstance(delay, (list, tuple)) or len(delay) != 2
            or any(isinstance(x, bool) or not isinstance(x, int) or not 0 <= x <= MAX_DELAY_US for x in delay)
            or delay[0] > delay[1]):
        raise QfuzzError(f"{where}.delay_us: expected [MIN, MAX] microseconds within 0..{MAX_DELAY_US}")
    raw = d.get("points")
    if not isinstance(raw, list) or not raw:
        raise QfuzzError(f"{where}.points: expected a non-empty list")
    points = []
    for i, p in enumerate(raw):
        w = f"{where}.points[{i}]"
        if not isinstance(p, dict) or not isinstance(p.get("function"), str) or not p["function"].isidentifier():
            raise QfuzzError(f"{w}.function: expected a C function name")
        if p.get("at", "entry") not in ATS or p.get("role", "delay") not in ROLES:
            raise QfuzzError(f"{w}: at must be one of {', '.join(ATS)} and role one of {', '.join(ROLES)}")
        points.append(Point(p["function"], p.get("at", "entry"), p.get("role", "delay"), str(p.get("why", ""))))
    if not any(p.role == "delay" for p in points):
        raise QfuzzError(f"{where}.points: no point has role \"delay\": nothing would be perturbed")
    return Plan(version=version, points=tuple(points), seed=_int(d, "seed", 0, 2**63 - 1, where, 0), mode=mode,
                ppm=_int(d, "ppm", 0, 1_000_000, where, 500_000), k=_int(d, "k", 1, 1000, where, 3),
                n=_int(d, "n", 1, 10_000_000, where, 100), delay_us=(int(delay[0]), int(delay[1])))


def parse_points(spec: str) -> list[Point]:
    """`--perturb FUNC[:entry|:exit][,FUNC...]` into delay points."""
    out = []
    for item in spec.split(","):
        name, _, at = item.strip().partition(":")
        at = at or "entry"
        if not name.isidentifier() or at not in ATS:
            raise QfuzzError(f"--perturb {spec!r}: expected FUNCTION[:entry|:exit][,...], e.g. pendconn_add:entry")
        out.append(Point(name, at, "delay", "given on the command line"))
    return out


# -- the binary's symbol table ------------------------------------------------------


@functools.lru_cache(maxsize=8)
def _symbols(exe: str, mtime: float) -> dict[str, tuple[int, ...]]:
    try:
        out = subprocess.run(["nm", "--defined-only", exe], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise QfuzzError(f"nm {exe}: {exc}") from None
    table: dict[str, list[int]] = {}
    for line in out.splitlines():
        parts = line.split()
        # gcc's clones (foo.part.0, foo.isra.0) are skipped: the hooks in a
        # clone pass the address of the function as written
        if len(parts) == 3 and parts[1] in ("t", "T") and "." not in parts[2]:
            table.setdefault(parts[2], []).append(int(parts[0], 16))
    return {k: tuple(sorted(set(v))) for k, v in table.items()}


def symbols(exe: str) -> dict[str, tuple[int, ...]]:
    """Function name -> offsets (nm's values: link-time addresses, which are
    offsets from the load base for a PIE and absolute otherwise; the runtime
    adds the executable's load bias, 0 for a non-PIE)."""
    return _symbols(exe, os.stat(exe).st_mtime)


def is_instrumented(exe: str) -> bool:
    """The runtime is linked in (our hooks, not glibc's no-op ones)."""
    s = symbols(exe)
    return "__cyg_profile_func_enter" in s and "qp_decide" in s


@dataclass
class Resolved:
    """A plan bound to one binary: runtime point i -> plan point index."""
    plan: Plan
    env: dict[str, str]
    owner: list[int] = field(default_factory=list)


def resolve(plan: Plan, exe: str, shared_file: Path) -> Resolved:
    if not is_instrumented(exe):
        raise QfuzzError(f"{exe} is not an instrumented build: perturbation needs --haproxy-version V with --perturb")
    table = symbols(exe)
    items, owner = [], []
    for i, p in enumerate(plan.points):
        offs = table.get(p.function)
        if not offs:
            raise QfuzzError(f"--perturb: function {p.function!r} is not in {exe}'s symbol table")
        kind = ("e" if p.at == "entry" else "x") if p.role == "delay" else ("E" if p.at == "entry" else "X")
        for off in offs:
            items.append(f"{off:x}:{kind}")
            owner.append(i)
    if len(items) > MAX_POINTS:
        raise QfuzzError(f"--perturb: {len(items)} runtime points (copies included); the runtime takes {MAX_POINTS}")
    env = {
        "QFUZZ_PERTURB_POINTS": ",".join(items),
        "QFUZZ_PERTURB_SEED": str(plan.seed),
        "QFUZZ_PERTURB_MODE": f"prob:{plan.ppm}" if plan.mode == "prob" else f"pct:{plan.k}:{plan.n}",
        "QFUZZ_PERTURB_DELAY": f"{plan.delay_us[0]}:{plan.delay_us[1]}",
        "QFUZZ_PERTURB_FILE": str(shared_file),
    }
    return Resolved(plan, env, owner)


# -- the shared file ------------------------------------------------------------------


@dataclass
class Counters:
    hits: list[int]  # per runtime point
    delays: list[int]
    delay_ns: list[int]
    records: list[tuple[int, int, int, int, int]]  # (point, tid, hit, dur_ns, t_ns)
    dropped: int  # delays past the record slots


def read_shared(path: Path) -> Optional[Counters]:
    """The runtime's counters and records, or None if the file is absent or
    not (yet) initialised.  Safe while the program runs or after it died."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size < _HEAD.size + 3 * 8 * MAX_POINTS:
                return None
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
                magic, version, npoints, _seed, cap, _pid, _base, nrec = _HEAD.unpack_from(m, 0)
                if magic != MAGIC or version != 1:
                    return None
                off = _HEAD.size
                arrays = [list(struct.unpack_from(f"<{MAX_POINTS}Q", m, off + 8 * MAX_POINTS * j))[:npoints]
                          for j in range(3)]
                base = off + 3 * 8 * MAX_POINTS
                recs = []
                for r in range(min(nrec, cap, (size - base) // _RECORD.size)):
                    point, tid, hit, dur, t, done, _ = _RECORD.unpack_from(m, base + r * _RECORD.size)
                    if done:
                        recs.append((point, tid, hit, dur, t))
    except (OSError, ValueError):
        return None
    return Counters(arrays[0], arrays[1], arrays[2], recs, max(0, nrec - cap))


def summarize(res: Resolved, c: Optional[Counters]) -> dict[str, Any]:
    """Per plan point (by name): hits, delays, total delay; JSON for the run's result."""
    per: dict[str, dict[str, Any]] = {}
    for i, p in enumerate(res.plan.points):
        per[p.short()] = {"hits": 0, "delays": 0, "delay_ms": 0.0, "role": p.role}
    if c is not None:
        for rt, i in enumerate(res.owner):
            if rt < len(c.hits):
                e = per[res.plan.points[i].short()]
                e["hits"] += c.hits[rt]
                e["delays"] += c.delays[rt]
                e["delay_ms"] = round(e["delay_ms"] + c.delay_ns[rt] / 1e6, 3)
    return {
        "plan": res.plan.to_json(),
        "initialised": c is not None,
        "points": per,
        "recorded": 0 if c is None else len(c.records),
        "not_recorded": 0 if c is None else c.dropped,
        "first_delays": [] if c is None else [
            {"point": res.plan.points[res.owner[r[0]]].short(), "tid": r[1], "hit": r[2], "us": r[3] // 1000,
             "t": r[4] / 1e9} for r in sorted(c.records, key=lambda r: r[4])[:20]],
    }


def fired(summary: Mapping[str, Any]) -> int:
    """Hits of the plan's delay points in a run (0: the hooks never fired)."""
    return sum(e["hits"] for e in summary.get("points", {}).values() if e.get("role") == "delay")
