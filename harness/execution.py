"""The result of one controlled execution: verdict, decisions, trace."""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Optional

from .schedulers import Scheduler
from .target import Target, Workload

# verdict kinds, in the order of the core's enum (qf.h); FAIL: exit status, abort or assert of a
# program; BLOCKING: a program's call that can block outside the runtime's control
KINDS = ("OK", "STUCK", "SAFETY", "DEADLOCK", "LIVELOCK", "LOCK_ORDER", "FAIL", "BLOCKING")
EVENT_KINDS = ("op", "note", "clock", "timer", "block", "fail")
_HEAD = struct.Struct("<IIhBBhhi")
_SITE = struct.Struct("<Q")


@dataclass(frozen=True)
class CriticalEvent:
    """One of the two events a failure hinges on."""

    step: int
    thread: int
    label: str  # stable identifier, used in signatures
    description: str
    site: str = ""  # a program's call site as a function name (in signatures); "" for compiled-in targets

    @property
    def key(self) -> str:
        """The event in a signature: its label, and for a program the function it was called from."""
        return f"{self.label}@{self.site}" if self.site else self.label

    def to_json(self) -> dict[str, Any]:
        d = {"step": self.step, "thread": self.thread, "label": self.label, "description": self.description}
        return d | {"site": self.site} if self.site else d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "CriticalEvent":
        return cls(int(d["step"]), int(d["thread"]), str(d["label"]), str(d.get("description", "")),
                   str(d.get("site", "")))


@dataclass(frozen=True)
class Verdict:
    kind: str  # one of KINDS
    path: str = "-"
    request: Optional[int] = None
    server: Optional[int] = None
    critical: tuple[Optional[CriticalEvent], Optional[CriticalEvent]] = (None, None)
    stranded_at: Optional[int] = None
    failed_at: Optional[int] = None
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.kind == "OK"

    @property
    def labels(self) -> tuple[str, str]:
        a, b = self.critical
        return (a.label if a else "-", b.label if b else "-")

    @property
    def signature(self) -> str:
        """What makes two failures the same bug: oracle, path, critical labels (a program's with the
        function each was called from, so two different waits are two bugs, and an edit elsewhere
        in the file changes nothing)."""
        if self.ok:
            return "OK"
        return ":".join((self.kind, self.path, *(c.key if c else "-" for c in self.critical)))

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "signature": self.signature,
            "path": self.path,
            "request": self.request,
            "server": self.server,
            "critical": [c.to_json() if c else None for c in self.critical],
            "stranded_at": self.stranded_at,
            "failed_at": self.failed_at,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class TraceEvent:
    step: int
    time: int
    thread: Optional[int]  # None: the core itself (clock)
    kind: str  # one of EVENT_KINDS
    label: str
    description: str
    request: Optional[int]
    value: int
    counters: tuple[int, ...]
    site: str = ""  # a program's call site, `function (file:line)`; "" for compiled-in targets


@dataclass
class Execution:
    target: Target
    variant: str
    workload: Workload
    scheduler: Scheduler
    verdict: Verdict
    decisions: bytes
    steps: int
    switches: int
    preemptions: int  # switches away from a thread that could have gone on
    end_time: int
    nthreads: int
    raw_trace: bytes = field(repr=False, default=b"")
    stride: int = field(repr=False, default=0)
    ncounters: int = field(repr=False, default=0)
    raw_sites: bytes = field(repr=False, default=b"")  # one uint64 call-site offset per trace record (programs)
    output: bytes = field(repr=False, default=b"")  # what a program wrote to stdout and stderr (its last bytes)
    rare_hits: int = 0  # hits on interleaving features seen fewer than 4 times before (harness/engines/energy.py)

    @property
    def failed(self) -> bool:
        return not self.verdict.ok


    @cached_property
    def counter_names(self) -> list[str]:
        names = self.target.counter_names(self.workload.data)[: self.ncounters]
        return names + [f"counter{i}" for i in range(len(names), self.ncounters)]

    @cached_property
    def trace(self) -> list[TraceEvent]:
        out = []
        labels: dict[int, tuple[str, str]] = {}
        counters = struct.Struct(f"<{self.ncounters}i")
        records = range(0, len(self.raw_trace), self.stride) if self.stride else range(0)
        offsets = [_SITE.unpack_from(self.raw_sites, 8 * i)[0] if 8 * i + 8 <= len(self.raw_sites) else 0
                   for i in range(len(records))]
        sites = self.target.sites(self.variant, offsets) if any(offsets) else [""] * len(records)
        for i, off in enumerate(records):
            step, time, lab, thread, kind, req, _pad, value = _HEAD.unpack_from(self.raw_trace, off)
            if lab not in labels:
                labels[lab] = self.target.label(lab, self.variant)
            ident, desc = labels[lab]
            out.append(
                TraceEvent(
                    step, time, None if thread == 255 else thread,
                    EVENT_KINDS[kind] if kind < len(EVENT_KINDS) else f"kind{kind}", ident, desc,
                    None if req < 0 else req, value, counters.unpack_from(self.raw_trace, off + _HEAD.size), sites[i],
                )
            )
        return out
