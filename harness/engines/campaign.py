"""Seeded campaigns: the core's random, PCT and POS strategies over a fixed
workload or the target's workload mix.  Every new unique failure is
minimized and stored in the corpus; a campaign is deterministic for a given
seed and number of executions."""
from __future__ import annotations

import dataclasses
import random
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from ..attribution import Attribution, attribute
from ..corpus import Corpus, Stored
from ..execution import Execution
from ..minimizer import Minimized, minimize
from ..reproducer import from_execution, now_iso
from ..runner import run, run_schedules
from ..schedulers import make
from ..target import Pattern, Target, Workload
from .energy import Energy, features_kept, zero_features

MIN_MINIMIZE = 0.5  # seconds: a failure found as the budget ends is still minimized this long
SECOND_LOOKS = 3  # later failures attributed per signature whose first one no fix removed
FIXED_BATCH = 64  # executions per call into the core on a campaign's one fixed workload


@dataclass
class Finding:
    signature: str
    first_execution: int
    first_seconds: float
    execution: Execution  # minimized when minimization is on
    count: int = 1
    expected: Optional[Pattern] = None
    minimized: Optional[Minimized] = None
    stored: Optional[Stored] = None
    attribution: Optional[Attribution] = None  # which fix removes it (harness/attribution.py)
    second_looks: int = 0  # later failures with this signature attributed too (Campaign._second_look)

    @property
    def kind(self) -> str:
        return self.execution.verdict.kind

    @property
    def path(self) -> str:
        return self.execution.verdict.path


@dataclass
class CampaignResult:
    executions: int = 0
    seconds: float = 0.0  # wall time, minimizing and storing included
    findings: dict[str, Finding] = field(default_factory=dict)
    minimize_seconds: float = 0.0  # the part of `seconds` spent minimizing and storing new failures
    budget: Optional[float] = None  # the wall-time budget it ran under
    skipped: int = 0  # workloads not run: they hung before (harness/program/isolate.py)

    @property
    def search_seconds(self) -> float:
        return max(0.0, self.seconds - self.minimize_seconds)

    @property
    def exec_per_second(self) -> float:
        return self.executions / self.search_seconds if self.search_seconds else 0.0

    @property
    def remaining(self) -> Optional[float]:
        return None if self.budget is None else max(0.0, self.budget - self.seconds)


def schedule_seed(seed: int, i: int) -> int:
    return (seed * 1_000_003 + i) % (1 << 63)


class Campaign:
    def __init__(
        self,
        target: Target,
        variant: str,
        strategy: str = "pct",
        *,
        seed: int = 0,
        workload: Optional[Workload] = None,
        corpus: Optional[Corpus] = None,
        minimize_seconds: float = 5.0,
        params: Optional[dict[str, Any]] = None,
        mix: Optional[str] = None,
        attribute: bool = True,
        fixed_schedules: Optional[int] = None,
    ):
        self.target = target
        self.variant = target.variant(variant)
        self.strategy = strategy
        self.seed = seed
        self.workload = workload
        self.corpus = corpus
        self.minimize_seconds = minimize_seconds
        self.params = dict(params or {})
        self.attribute = attribute and bool(target.fixes())  # no fix switches: nothing to attribute to
        self.mix = mix or target.default_mix  # one mix for every variant; the variant's own is an option
        self.fixed_schedules = fixed_schedules  # instead of the power schedule (benchmarks: before and after)
        make(strategy, 0, **self.params)  # validate the name and parameters now

        self.workload_number = 0  # of the execution under way (a crashed worker's input: workload_at)
        self.pct_k: Optional[int] = None  # PCT's k for it, when it follows the workload (scheduler_for)

    def workload_at(self, n: int) -> Workload:
        """The campaign's n-th workload drawn from the mix (or its fixed one)."""
        if self.workload is not None:
            return self.workload
        rnd = random.Random(schedule_seed(self.seed, n))
        return self.target.workload(self.target.generate(rnd, self.mix))

    def run(
        self,
        *,
        seconds: Optional[float] = None,
        runs: Optional[int] = None,
        on_new: Optional[Callable[[Finding], None]] = None,
        on_tick: Optional[Callable[[CampaignResult], None]] = None,
        stop: Optional[Callable[[Finding], bool]] = None,
        first: int = 0,
        first_workload: int = 0,
        should_stop: Optional[Callable[[], bool]] = None,
        on_execution: Optional[Callable[[int], None]] = None,
        deadline: Optional[float] = None,
        skip: Optional[Callable[[Workload], bool]] = None,
    ) -> CampaignResult:
        """Run until `seconds` or `runs` is reached (or `stop(finding)` is true
        for a new finding, or `should_stop()`).  Execution numbers start at
        `first` and workloads at `first_workload` (a restarted worker goes on
        where it died); `on_execution(i)` is told each number before it runs,
        and `self.workload_number` (and `self.pct_k`) are then its own, so a
        crash can be pinned to its input.  How many schedules each workload gets is
        harness/engines/energy.py's power schedule; the feature counters it
        reads are zeroed here.  `seconds` is wall time, minimizing included (each new failure
        is minimized within what is left of it, MIN_MINIMIZE at least);
        `deadline` (time.monotonic()) is a hard wall-clock end as well.
        `skip(workload)` true: that workload is not run, and counted in
        `skipped` (a workload that hung once would hang again)."""
        result = CampaignResult(budget=seconds)
        start = time.monotonic()
        end = min(start + seconds if seconds is not None else float("inf"),
                  deadline if deadline is not None else float("inf"))
        next_tick = start + 0.25
        zero_features()
        w: Optional[Workload] = None
        energy = Energy(self.fixed_schedules)
        longest = 0  # steps of the workload's longest execution so far (PCT's k: runner.run_schedules)
        n = first_workload
        i = first
        while True:
            now = time.monotonic()
            if (runs is not None and i - first >= runs) or now >= end:
                break
            if should_stop is not None and should_stop():
                break
            if on_tick and now >= next_tick:
                result.executions, result.seconds = i - first, now - start
                on_tick(result)
                next_tick = now + 0.25
            if w is None or (self.workload is None and energy.spent):
                if w is not None:
                    n += 1
                w, energy, longest = self.workload_at(n), Energy(self.fixed_schedules), 0
            if skip is not None and skip(w):
                if self.workload is not None:
                    break  # the one workload there is
                result.skipped += 1
                energy.used = energy.granted  # on to the next one
                continue
            self.workload_number = n
            # the workload's schedules left, in one call into the core: granting more after
            # them picks the same executions as deciding after each one (granted only grows)
            count = max(1, energy.granted - energy.used) if self.workload is None else FIXED_BATCH
            if runs is not None:
                count = min(count, runs - (i - first))
            first_i = i
            until = min(end, next_tick) if on_tick else end  # back here for the budget and the next tick
            hits, ex, longest = run_schedules(
                self.target, self.variant, w, self._scheduler, schedule_seed(self.seed, i), count,
                deadline=None if until == float("inf") else until,
                before=None if on_execution is None else (lambda j, k: self._before(on_execution, first_i + j, k)),
                longest=longest)
            i += len(hits)
            for h in hits:
                energy.ran(h)
            if ex is None:
                continue
            sig = ex.verdict.signature
            if sig in result.findings:
                result.findings[sig].count += 1
                looked_at = time.monotonic()
                with features_kept():
                    sig = self._second_look(result, sig, ex)
                result.minimize_seconds += time.monotonic() - looked_at  # wall time, not searching
                if sig is None:
                    continue
            found_at = time.monotonic()
            wanted = self.minimize_seconds
            if end != float("inf"):  # the budget is wall time: minimize within what is left of it
                self.minimize_seconds = min(wanted, max(end - found_at, min(wanted, MIN_MINIMIZE)))
            try:
                # first_seconds: time spent searching (earlier minimizations left out), as benchmarks compare
                with features_kept():
                    finding = self._new_finding(ex, i, found_at - start - result.minimize_seconds)
            finally:
                self.minimize_seconds = wanted
            result.minimize_seconds += time.monotonic() - found_at
            result.findings[sig] = finding
            if on_new:
                with features_kept():  # a printer may replay it
                    on_new(finding)
            if stop and stop(finding):
                break
        result.executions, result.seconds = i - first, time.monotonic() - start
        return result

    def _second_look(self, result: CampaignResult, sig: str, ex: Execution) -> Optional[str]:
        """A signature says what a failure looks like, not which bug it is: if
        the first failure with this one was removed by no fix (a finding of the
        model), attribute a few later ones too, and keep one that a fix does
        remove as a finding of its own (a canary may need exactly that one)."""
        known, key = result.findings[sig], f"{sig} [removed by a fix]"
        if key in result.findings:
            result.findings[key].count += 1
            return None
        if not self.attribute or known.attribution is None or known.attribution.removed_by:
            return None
        if known.second_looks >= SECOND_LOOKS:
            return None
        known.second_looks += 1
        return key if attribute(ex).removed_by else None

    def _before(self, on_execution: Callable[[int], None], i: int, k: Optional[int]) -> None:
        self.pct_k = k
        on_execution(i)

    def scheduler_for(self, i: int, pct_k: Optional[int] = None):  # -> Scheduler
        """Execution i's scheduler; `pct_k`: the k PCT ran it with (self.pct_k then)."""
        s = self._scheduler(schedule_seed(self.seed, i))
        return dataclasses.replace(s, k=pct_k) if pct_k else s

    def _scheduler(self, seed: int):  # -> Scheduler
        return make(self.strategy, seed, **self.params)

    def _new_finding(self, ex: Execution, i: int, elapsed: float) -> Finding:
        v = ex.verdict
        finding = Finding(
            v.signature, i, elapsed, ex, expected=self.variant.explains(v.kind, v.path, *v.labels)
        )
        if self.minimize_seconds > 0:
            finding.minimized = minimize(ex, seconds=self.minimize_seconds)
            finding.execution = finding.minimized.execution
        else:
            finding.execution = run(ex.target, ex.variant, ex.workload, ex.scheduler)  # with its trace
        if self.attribute:
            finding.attribution = attribute(finding.execution)
        if self.corpus is not None:
            rep = from_execution(
                finding.execution,
                found={
                    "engine": self.strategy,
                    "seed": self.seed,
                    "schedule": ex.scheduler.to_json(),
                    "executions": i,
                    **({} if self.workload is not None else {"workload_number": self.workload_number}),
                    "seconds": round(elapsed, 3),
                    "date": now_iso(),
                },
            )
            rep.attribution = finding.attribution.to_json() if finding.attribution else None
            if finding.minimized:
                rep.minimized = {"before": finding.minimized.before.to_json(), "after": finding.minimized.after.to_json()}
            finding.stored = self.corpus.store(rep)
        return finding
