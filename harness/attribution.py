"""Attribution by differential: which fix removes a failure.

A label pattern says what a failure looks like, not why it happens: on
pre-fix with several servers, a backend-queue STUCK that also happens on the
fully fixed model (finding F1) looked exactly like the seed bug.  So a
failure found on a variant is searched for again, with a seeded search (the
same schedules every time: the original decision list first, then PCT and POS
seeds) on the same workload, once per candidate fix (the variant with that
one fix applied) and once with every fix applied.  A fix "removes" it when
the search no longer finds the same symptom: a request stuck on the same
queue path, or the same kind of failure at the same check.  A failure that
survives every fix is a finding of the model: its documented F-number
(docs/findings.md) when the fixed model's expectation list explains it,
else "new"."""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any, Iterator, Optional

from .execution import Execution, Verdict
from .runner import run
from .schedulers import PCT, POS, Replay, Scheduler
from .target import Pattern, Target, Variant

SCHEDULES = 150  # seeded schedules per candidate, besides the original decision list
NEW = "new"


@dataclass(frozen=True)
class Attribution:
    label: str  # the fix(es) that remove it ("5541d4995/server"), an F-number, "new", or "several fixes"
    removed_by: tuple[str, ...]  # every single fix that removes it
    finding: str  # when no fix removes it: "F1".."Fn" or "new"; else ""
    confirmed: bool  # the search re-finds it on its own variant without the original decisions
    schedules: int  # schedules tried per build
    runs: int  # executions spent

    def to_json(self) -> dict[str, Any]:
        return {"label": self.label, "removed_by": list(self.removed_by), "finding": self.finding,
                "confirmed": self.confirmed, "schedules": self.schedules, "runs": self.runs}

    def removes(self, fix: str) -> bool:
        """Does `fix` (a commit id, or "commit/part") remove it?"""
        return any(name == fix or name.split("/")[0] == fix for name in self.removed_by)

    def __str__(self) -> str:
        if self.removed_by:
            return "removed by " + " or ".join(self.removed_by)
        return self.label


def symptom(v: Verdict) -> tuple[str, ...]:
    """What "the same failure" means across builds: a STUCK request on the
    same queue path (which checks led there may differ once code changes), or
    the same kind of failure at the same check (invariant, spin loop, lock)."""
    if v.kind == "STUCK":
        return (v.kind, v.path)
    return (v.kind, v.path, v.labels[0])


def fix_of(pattern: Pattern) -> str:
    """The upstream commit a pattern's reason names first ("5541d4995: ...")."""
    m = re.match(r"\s*([0-9a-f]{7,40})\b", pattern.why)
    return m.group(1) if m else ""


def finding_of(pattern: Optional[Pattern]) -> str:
    """"F1" for a pattern whose reason is a documented finding, else ""."""
    m = re.match(r"\s*(F\d+)\b", pattern.why) if pattern else None
    return m.group(1) if m else ""


def counts_for(pattern: Pattern, attribution: Optional[Attribution]) -> bool:
    """May a failure with this attribution satisfy `pattern` as a must-show
    canary?  Only if the fix the pattern names removes it."""
    fix = fix_of(pattern)
    if not fix:
        return True  # a pattern naming no fix asks for the symptom only
    return attribution is not None and attribution.removes(fix)


def _schedules(decisions: bytes, n: int) -> Iterator[Scheduler]:
    yield Replay(decisions)
    for seed in range(n):
        yield (PCT(seed=seed, depth=2), PCT(seed=seed, depth=3), POS(seed=seed))[seed % 3]


def _build(target: Target, variant: Variant, bits: int, what: str) -> Variant:
    for v in target.variants.values():
        if v.bits == bits:
            return v
    return replace(variant, name=f"{variant.name}+{what}", bits=bits, shows=(), must_show=())


def attribute(ex: Execution, *, schedules: int = SCHEDULES) -> Attribution:
    """Which fix removes the failure `ex` shows (deterministic: a fixed set of
    schedules per build)."""
    target, variant = ex.target, ex.target.variant(ex.variant)
    want = symptom(ex.verdict)
    runs = 0

    def search(build: Variant, *, skip_replay: bool = False) -> Optional[Execution]:
        nonlocal runs
        for i, sched in enumerate(_schedules(bytes(ex.decisions), schedules)):
            if skip_replay and i == 0:
                continue
            runs += 1
            got = run(target, build, ex.workload, sched, trace=False)
            if got.failed and symptom(got.verdict) == want:
                return got
        return None

    confirmed = search(variant, skip_replay=True) is not None
    fixes = {bit: name for bit, name in target.fixes().items() if variant.bits & bit}
    base_bits = variant.bits & ~sum(fixes)
    base = _build(target, variant, base_bits, "every fix")
    on_base = search(base)
    if on_base is not None:
        v = on_base.verdict
        explained = base.explains(v.kind, v.path, *v.labels) or variant.explains(v.kind, v.path, *v.labels)
        finding = finding_of(explained) or NEW
        return Attribution(finding, (), finding, confirmed, schedules, runs)
    removed = tuple(name for bit, name in sorted(fixes.items())
                    if search(_build(target, variant, variant.bits & ~bit, "fix " + name)) is None)
    label = " or ".join(removed) if removed else "several fixes"
    return Attribution(label, removed, "", confirmed, schedules, runs)


def from_json(d: Any) -> Optional[Attribution]:
    if not isinstance(d, dict) or not isinstance(d.get("label"), str):
        return None
    return Attribution(d["label"], tuple(str(x) for x in d.get("removed_by") or ()), str(d.get("finding", "")),
                       bool(d.get("confirmed", False)), int(d.get("schedules", 0)), int(d.get("runs", 0)))
