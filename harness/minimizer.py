"""Shrink a failing case to what the bug needs, deterministically.

Every candidate is checked by deterministic replay and kept only if it fails
with the same signature and with no more preemptions than the best so far
(preemptions never grow).  Two stages alternate until neither shrinks
anything (the fixpoint):

  schedule  zero decisions (0 = no preemption), largest chunks first, then
            lower the values left (a smaller index picks a nearer thread);
  workload  the target's own proposals (target.shrink(): fewer requests,
            threads, ..., smaller numbers), each first under the current
            decisions, then, as those no longer line up once the workload
            changed, under a preemption-bounded search of fresh schedules:
            every schedule with 0, then 1, then 2 ... non-zero decisions,
            exhaustively while a level fits the per-workload effort, else a
            sample drawn from a generator seeded by the workload itself.

At the fixpoint the same preemption-bounded search looks for a schedule with
fewer preemptions on the final workload; if it finds one, both stages run
again.

Budgets count executions, so the result depends only on the input, never
on the machine's speed or load: the same failure minimized twice, on one
machine or two, gives the identical case.  Replays are memoized (by
workload and decision list, the decision list the core recorded included),
and a workload without choice points (one runnable thread at every step)
gets no schedule search: every schedule is the same execution there.  The
wall-clock limit is only a safety net; when it ends a minimization early,
Minimized.stopped says so and a line goes to stderr.  (The execution budget
ending one early is deterministic: Minimized.stopped says "budget".)"""
from __future__ import annotations

import hashlib
import json
import random
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Optional

from .errors import QfuzzError
from .execution import Execution
from .runner import run
from .schedulers import Replay
from .target import Workload

BUDGET = 30_000  # executions per minimization, at most (the seed bug's reproducers need a few thousand)
EFFORT = 400  # fresh schedules per smaller workload, at most
SAFETY_SECONDS = 60.0  # wall-clock safety net only; budgets are in executions
MAX_CHOICE = 3  # decision values tried at a choice point: 1..MAX_CHOICE (clipped to threads - 1)


class Size:
    """How big a failing case is, in a fixed order: threads, preemptions,
    then the target's own size() keys in the order it gives them, then
    steps.  Earlier keys matter more."""

    def __init__(self, values: dict[str, int]):
        self.values = dict(values)

    @classmethod
    def of(cls, ex: Execution) -> "Size":
        own = ex.target.size(ex.workload.data)
        values = {"threads": int(own.get("threads", ex.nthreads)), "preemptions": ex.preemptions}
        values.update((k, int(v)) for k, v in own.items() if k not in values)
        values["steps"] = ex.steps
        return cls(values)

    @property
    def key(self) -> tuple[int, ...]:
        """Everything but steps (a schedule detail, not the case's size)."""
        return tuple(v for k, v in self.values.items() if k != "steps")

    def __getattr__(self, name: str) -> int:
        try:
            return self.__dict__["values"][name]
        except KeyError:
            raise AttributeError(name) from None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Size) and self.values == other.values

    def to_json(self) -> dict[str, int]:
        return dict(self.values)

    def __str__(self) -> str:
        return ", ".join(f"{v} {k}" for k, v in self.values.items())

    def __repr__(self) -> str:
        return f"Size({self.values!r})"


@dataclass
class Minimized:
    execution: Execution
    before: Size
    after: Size
    runs: int  # executions run (memoized replays not counted)
    seconds: float
    stopped: Optional[str] = None  # None: at the fixpoint; else why it stopped early ("budget", "time")


class _Stop(Exception):
    pass


def _trimmed(decisions: bytes) -> bytes:
    return bytes(decisions).rstrip(b"\0")


def _key(w: Workload) -> str:
    return json.dumps(w.data, sort_keys=True, separators=(",", ":"))


class _Search:
    """One minimization: the memo, the budgets, the best case so far."""

    def __init__(self, ex: Execution, budget: int, effort: int, seconds: float):
        self.target, self.variant, self.signature = ex.target, ex.variant, ex.verdict.signature
        self.budget, self.effort = budget, effort
        self.deadline = time.monotonic() + seconds
        self.runs = 0
        self.memo: dict[tuple[str, bytes], Execution] = {}
        self.searched: set[tuple[str, int]] = set()  # (workload, preemption bound) searched without success
        self.visited: set[str] = {_key(ex.workload)}  # workloads that were the best once: never again

    def fails(self, ex: Optional[Execution], bound: int) -> bool:
        return ex is not None and ex.verdict.signature == self.signature and ex.preemptions <= bound

    def first(self, ex: Execution) -> Execution:
        """The case as given, replayed (outside the budgets: a result always exists)."""
        self.runs += 1
        again = run(self.target, self.variant, ex.workload, Replay(_trimmed(ex.decisions)), trace=False)
        self.memo[(_key(again.workload), _trimmed(ex.decisions))] = again
        self.memo.setdefault((_key(again.workload), _trimmed(again.decisions)), again)
        return again

    def execute(self, w: Workload, decisions: bytes) -> Execution:
        key = (_key(w), _trimmed(decisions))
        ex = self.memo.get(key)
        if ex is not None:
            return ex
        if self.runs >= self.budget:
            raise _Stop("budget")
        if time.monotonic() >= self.deadline:
            raise _Stop("time")
        self.runs += 1
        ex = run(self.target, self.variant, w, Replay(key[1]), trace=False)
        self.memo[key] = ex
        self.memo.setdefault((key[0], _trimmed(ex.decisions)), ex)  # what the core really chose
        return ex

    # -- fresh schedules for a workload -------------------------------------------------

    def schedule_for(self, w: Workload, bound: int) -> Optional[Execution]:
        """The first schedule, fewest non-zero decisions first, under which
        `w` fails the same way with at most `bound` preemptions."""
        wkey = _key(w)
        if (wkey, bound) in self.searched:
            return None
        base = self.execute(w, b"")
        if self.fails(base, bound):
            return base
        if not base.decisions:  # no choice points: every schedule is this one
            self.searched.add((wkey, bound))
            return None
        choices = max(1, min(MAX_CHOICE, base.nthreads - 1))
        rnd = random.Random(hashlib.sha1(wkey.encode()).digest())
        left = self.effort
        level: list[bytes] = [b""]  # schedules with `n` non-zero decisions, their last one at the end
        n = 0
        while left > 0 and level:
            n += 1
            # the next level: one more non-zero decision after the last one of each schedule
            extensions = [
                (prefix, pos, v)
                for prefix in level
                for pos in range(len(prefix), len(self.execute(w, prefix).decisions))
                for v in range(1, choices + 1)
            ]
            if len(extensions) > left:  # too many to try them all: a sample, the same for this workload every time
                extensions = rnd.sample(extensions, left)
            nxt: list[bytes] = []
            for prefix, pos, v in extensions:
                left -= 1
                cand = prefix + bytes(pos - len(prefix)) + bytes([v])
                ex = self.execute(w, cand)
                if self.fails(ex, bound):
                    return ex
                d = _trimmed(ex.decisions)
                if sum(1 for x in d if x) == n:  # else a value wrapped to 0 (fewer threads could run there)
                    nxt.append(d)
            level = sorted(set(nxt), key=lambda d: (len(d), d))
        if left > 0:  # exhausted: nothing with this bound fails this way
            self.searched.add((wkey, bound))
        return None


def minimize(
    ex: Execution,
    *,
    seconds: float = SAFETY_SECONDS,
    effort: int = EFFORT,
    budget: int = BUDGET,
    on_progress: Optional[Callable[[Size], None]] = None,
) -> Minimized:
    """Return the smallest execution found that fails like `ex`.  `budget`
    bounds the executions in all, `effort` the fresh schedules tried per
    smaller workload; `seconds` is a wall-clock safety net (a minimization
    it cuts short says so in .stopped and on stderr)."""
    if ex.verdict.ok:
        raise QfuzzError("minimize: the execution does not fail; nothing to minimize")
    start = time.monotonic()
    s = _Search(ex, budget, max(1, effort), seconds)
    before = Size.of(ex)
    best = s.first(ex)
    if best.verdict.signature != ex.verdict.signature:
        raise RuntimeError(f"internal error: replaying {ex.verdict.signature} on {ex.variant} gave {best.verdict.signature}")
    stopped: Optional[str] = None

    def accept(found: Execution) -> None:
        nonlocal best
        best = found
        s.visited.add(_key(found.workload))
        if on_progress:
            on_progress(Size.of(best))

    try:
        while True:
            changed = _shrink_schedule(s, best, accept)
            changed = _shrink_workload(s, best, accept) or changed
            if changed:
                continue
            # the fixpoint of both stages: is there a schedule with fewer preemptions?
            fewer = s.schedule_for(best.workload, best.preemptions - 1) if best.preemptions else None
            if fewer is None:
                break
            accept(fewer)
    except _Stop as stop:
        stopped = str(stop)
        if stopped == "time":  # the budgets did not decide: the result may differ on another machine
            sys.stderr.write(f"qfuzz: minimizing {s.signature} hit the {seconds:g} s safety net after {s.runs} "
                             f"executions, before its fixpoint: the result depends on this machine's speed\n")

    # the final execution, with its trace, from the stored decisions
    final = run(s.target, s.variant, best.workload, Replay(_trimmed(best.decisions)))
    if final.verdict.signature != s.signature:
        raise RuntimeError(
            f"internal error: the minimized case of {s.signature} on {s.variant} replays as {final.verdict.signature}"
        )
    return Minimized(final, before, Size.of(final), s.runs, time.monotonic() - start, stopped)


def _shrink_schedule(s: _Search, best: Execution, accept: Callable[[Execution], None]) -> bool:
    """Zero chunks of decisions, then lower the values left.  True if anything changed."""
    changed = False
    cur = _trimmed(best.decisions)
    chunk = max(1, len(cur) // 2)
    while chunk >= 1:
        i = 0
        while i < len(cur):
            piece = cur[i : i + chunk]
            if any(piece):
                found = s.execute(best.workload, cur[:i] + bytes(len(piece)) + cur[i + chunk :])
                if s.fails(found, best.preemptions) and _trimmed(found.decisions) != cur:
                    best, cur, changed = found, _trimmed(found.decisions), True
                    accept(best)
                    continue
            i += chunk
        chunk //= 2
    for i in range(len(cur)):
        for smaller in range(1, cur[i] if i < len(cur) else 0):
            found = s.execute(best.workload, cur[:i] + bytes([smaller]) + cur[i + 1 :])
            if s.fails(found, best.preemptions) and _trimmed(found.decisions) != cur:
                best, cur, changed = found, _trimmed(found.decisions), True
                accept(best)
                break
    return changed


def _candidates(s: _Search, best: Execution) -> Iterator[Workload]:
    for data in best.target.shrink(best.workload.data):
        try:
            w = s.target.workload(data)
        except QfuzzError:
            continue  # a proposal the target's own validation rejects
        if _key(w) not in s.visited:
            yield w


def _shrink_workload(s: _Search, best: Execution, accept: Callable[[Execution], None]) -> bool:
    """The first of the target's proposals that still fails (under the
    current decisions, else a fresh schedule) and is no bigger.  True if one was taken."""
    limit = Size.of(best).key
    for w in _candidates(s, best):
        found = s.execute(w, best.decisions)
        if not s.fails(found, best.preemptions):
            found = s.schedule_for(w, best.preemptions)  # type: ignore[assignment]
        if found is not None and Size.of(found).key <= limit:
            accept(found)
            return True
    return False
