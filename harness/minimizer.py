"""Shrink a failing case to what the bug needs.

Every candidate is checked by deterministic replay and kept only if it fails
with the same signature.  The workload shrinks first (fewer requests,
events, threads and servers, lower limits, compact times: target.shrink()),
then the schedule: decisions are zeroed (0 = no preemption) and trimmed.
When a smaller workload no longer fails under the old decisions (its choice
points moved), a few seeded PCT schedules are tried on it before giving up
on that candidate, so the result does not depend on how the bug was first
reached."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Optional

from .execution import Execution
from .runner import run
from .schedulers import PCT, POS, Replay

RESEARCH_SHARE = 0.7  # of the time left, what the schedule search on smaller workloads may use


@dataclass
class Size:
    threads: int
    servers: int
    requests: int
    events: int
    steps: int
    preemptions: int

    @classmethod
    def of(cls, ex: Execution) -> "Size":
        s = ex.target.size(ex.workload.data)
        return cls(s["threads"], s.get("servers", 0), s.get("requests", 0), s.get("events", 0), ex.steps, ex.preemptions)

    def to_json(self) -> dict[str, int]:
        return dict(self.__dict__)

    def __str__(self) -> str:
        return (
            f"{self.threads} threads, {self.servers} servers, {self.requests} requests, {self.events} events, "
            f"{self.steps} steps, {self.preemptions} preemptions"
        )


@dataclass
class Minimized:
    execution: Execution
    before: Size
    after: Size
    runs: int
    seconds: float


def _trimmed(decisions: bytes) -> bytes:
    return decisions.rstrip(b"\0")


def minimize(
    ex: Execution,
    *,
    seconds: float = 5.0,
    effort: int = 600,
    on_progress: Optional[Callable[[Size], None]] = None,
) -> Minimized:
    """Return the smallest execution found that fails like `ex`.  `effort`
    bounds the fresh schedules tried per smaller workload: a bug the search
    found after N executions deserves about 2N (campaigns pass that)."""
    target, variant, signature = ex.target, ex.variant, ex.verdict.signature
    start = time.monotonic()
    deadline = start + seconds
    runs = 0

    def attempt(workload: Any, decisions: bytes) -> Optional[Execution]:
        nonlocal runs
        runs += 1
        cand = run(target, variant, workload, Replay(decisions), trace=False)
        return cand if cand.verdict.signature == signature else None

    def research(workload: Any, seconds: float) -> Optional[Execution]:
        """Fresh schedules for a smaller workload, fewest preemptions first:
        PCT depth 2, then depth 3, then POS, round-robin over seeds."""
        nonlocal runs
        until = min(deadline, time.monotonic() + seconds)
        seed = 0
        while time.monotonic() < until and 3 * seed < effort:
            for sched in (PCT(seed=seed, depth=2), PCT(seed=seed, depth=3), POS(seed=seed)):
                runs += 1
                cand = run(target, variant, workload, sched, trace=False)
                if cand.verdict.signature == signature:
                    return cand
            seed += 1
        return None

    before = Size.of(ex)
    best = ex
    best_decisions = _trimmed(ex.decisions)

    # 1. the workload
    progress = True
    while progress and time.monotonic() < deadline:
        progress = False
        candidates = list(target.shrink(best.workload.data))
        for n, cand_workload in enumerate(candidates):
            if time.monotonic() > deadline:
                break
            w = target.workload(cand_workload)
            # share what is left of the workload budget among the candidates left
            share = RESEARCH_SHARE * (deadline - time.monotonic()) / (len(candidates) - n)
            found = attempt(w, best_decisions) or research(w, share)
            # a smaller workload is not simpler if it needs many more preemptions
            if found is not None and found.preemptions <= best.preemptions + 1:
                best, best_decisions = found, _trimmed(found.decisions)
                progress = True
                if on_progress:
                    on_progress(Size.of(best))
                break

    # 2. the schedule: zero decisions (fewest preemptions), largest chunks first
    chunk = max(1, len(best_decisions) // 2)
    while chunk >= 1 and time.monotonic() < deadline:
        i = 0
        while i < len(best_decisions) and time.monotonic() < deadline:
            piece = best_decisions[i : i + chunk]
            if any(piece):
                cand = best_decisions[:i] + bytes(len(piece)) + best_decisions[i + chunk :]
                found = attempt(best.workload, cand)
                if found is not None:
                    best, best_decisions = found, _trimmed(found.decisions)
                    continue
            i += chunk
        chunk //= 2
    # lower the remaining values (a smaller index picks a nearer thread)
    for i in range(len(best_decisions)):
        if time.monotonic() > deadline:
            break
        for smaller in range(1, best_decisions[i]):
            found = attempt(best.workload, best_decisions[:i] + bytes([smaller]) + best_decisions[i + 1 :])
            if found is not None:
                best, best_decisions = found, _trimmed(found.decisions)
                break

    # the final execution, with its trace, from the stored decisions
    final = run(target, variant, best.workload, Replay(best_decisions))
    assert final.verdict.signature == signature, "replay of the minimized case must fail the same way"
    return Minimized(final, before, Size.of(final), runs, time.monotonic() - start)
