"""The stress engine for model targets: rounds of workloads on free-running
threads (harness._stress) until the time is up.

Each round sets up one workload, runs it on real pthreads in real time and
ends when every task is done or a verdict stops it (see docs/stress.md).
The first failure of each signature keeps the events around it, for the
report."""
from __future__ import annotations

import itertools
import json
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

from ..errors import QfuzzError
from ..execution import Verdict
from ..runner import verdict_of
from ..target import Target, Workload
from .model_report import StressEvent, decode_events, select_events

try:
    from .. import _stress as core
except ImportError as exc:  # pragma: no cover - only on a broken install
    raise QfuzzError(
        f"the stress core is not built ({exc}); install with `pip install .` or `pip install -e .`"
    ) from exc

MAX_THREADS: int = core.MAX_THREADS


@dataclass(frozen=True)
class Settings:
    """How the free-running rounds run (the CLI's options)."""

    threads: Optional[int] = None  # deal each workload's requests over this many threads (None: its own)
    noise: float = 0.0  # probability that a schedule point first spins a while
    noise_us: float = 10.0  # the longest such spin
    seed: int = 0  # workload mix and noise
    scale_us: float = 10.0  # real microseconds per unit of workload time
    hang: float = 1.0  # CPU seconds one task may use: beyond, DEADLOCK or LIVELOCK
    round_limit: float = 60.0  # a round still running after this long: LIVELOCK

    def to_json(self) -> dict[str, Any]:
        return {
            "threads": self.threads, "noise": self.noise, "noise_us": self.noise_us, "seed": self.seed,
            "scale_us": self.scale_us, "hang_seconds": self.hang, "round_limit_seconds": self.round_limit,
        }


@dataclass
class StressFailure:
    verdict: Verdict
    round: int  # 0-based round of the run
    seconds: float  # of stressing since the run began (saving earlier failures does not count)
    round_seconds: float  # into its round, when the verdict was given
    workload: Workload
    new: bool = False  # the first of its signature in this run
    events: list[StressEvent] = field(default_factory=list)  # kept for the first of each signature
    report: Optional[Path] = None

    @property
    def kind(self) -> str:
        return self.verdict.kind

    @property
    def path(self) -> str:
        return self.verdict.path

    @property
    def signature(self) -> str:
        return self.verdict.signature


@dataclass
class StressResult:
    rounds: int = 0
    requests: int = 0
    seconds: float = 0.0
    first_failure_seconds: Optional[float] = None
    failures: list[StressFailure] = field(default_factory=list)
    steps: int = 0  # schedule points, all threads
    wedged: bool = False  # a thread never stopped: this process can run no more rounds

    @property
    def requests_per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def stuck(self) -> int:
        return sum(f.kind == "STUCK" for f in self.failures)

    def by_signature(self) -> dict[str, list[StressFailure]]:
        out: dict[str, list[StressFailure]] = {}
        for f in self.failures:
            out.setdefault(f.signature, []).append(f)
        return out


# -- the workloads of a run ----------------------------------------------------


def with_threads(target: Target, data: Any, threads: int) -> dict[str, Any]:
    """The workload dealt over `threads` threads: the i-th item of each list
    (requests, events) goes to thread i mod threads."""
    if not isinstance(data, dict) or "threads" not in data:
        raise QfuzzError(f"--threads: {target.name} workloads do not have a thread count")
    d = json.loads(json.dumps(data))
    d["threads"] = threads
    for items in d.values():
        if isinstance(items, list):
            for i, item in enumerate(items):
                if isinstance(item, dict) and "thread" in item:
                    item["thread"] = i % threads
    return d


def workload_mix(target: Target, workload: Any, seed: int, threads: Optional[int]) -> Iterator[Workload]:
    """The given workload every round; by default the target's seed workloads
    and its generated mix, alternately."""

    def make(data: Any, where: str) -> Workload:
        if threads is not None:
            data = with_threads(target, target.workload(data, where).data, threads)
        return target.workload(data, where)

    if workload is not None:
        w = make(workload.data if isinstance(workload, Workload) else workload, "workload")
        yield from itertools.repeat(w)
        return
    seeds = [make(d, f"seed workload {name}") for name, d in target.seed_workloads().items()]
    rnd = random.Random(seed)
    for i in itertools.count():
        if seeds and (i % 2 == 0):
            yield seeds[(i // 2) % len(seeds)]
            continue
        try:
            data = target.generate(rnd)
        except NotImplementedError:
            if not seeds:
                raise QfuzzError(f"{target.name} has neither seed workloads nor a workload mix: give --workload") from None
            yield seeds[(i // 2) % len(seeds)]
            continue
        yield make(data, "generated workload")


def requests_in(target: Target, w: Workload) -> int:
    try:
        return int(target.size(w.data).get("requests", 0))
    except NotImplementedError:
        return 0


def stress_index(target: Target) -> int:
    names = core.targets()
    if target.name not in names:
        raise QfuzzError(f"target {target.name} is not built into the stress core (rebuild with pip install -e .)")
    return names.index(target.name)


# -- the run -------------------------------------------------------------------------


def stress(
    target: str | Target,
    variant: str,
    seconds: float,
    threads: Optional[int] = None,
    noise: float = 0.0,
    seed: int = 0,
    workload: Any = None,
    *,
    noise_us: float = Settings.noise_us,
    scale_us: float = Settings.scale_us,
    hang: float = Settings.hang,
    round_limit: float = Settings.round_limit,
    report_dir: Optional[str | Path] = None,
    on_tick: Optional[Callable[[StressResult], None]] = None,
    on_failure: Optional[Callable[[StressFailure], None]] = None,
    stop: Optional[Callable[[StressFailure], bool]] = None,
) -> StressResult:
    """Run rounds of `variant` of `target` on free-running threads for
    `seconds` (see Settings for the knobs).  `workload` (raw data or a
    Workload) runs every round; by default the target's seed workloads and
    generated mix alternate.  With `report_dir`, the first failure of each
    signature is saved there as a stress report.  Stops early when
    `stop(failure)` is true."""
    from ..targets import get
    from .model_report import write_report

    t = get(target)
    v = t.variant(variant)
    if seconds <= 0:
        raise QfuzzError("seconds must be positive")
    s = Settings(threads, noise, noise_us, seed, scale_us, hang, round_limit)
    if s.threads is not None and not 1 <= s.threads <= MAX_THREADS:
        raise QfuzzError(f"threads must be 1..{MAX_THREADS}")
    if not 0.0 <= s.noise <= 1.0:
        raise QfuzzError("noise must be a probability, 0..1")
    if s.scale_us <= 0 or s.noise_us < 0 or s.hang <= 0 or s.round_limit <= 0:
        raise QfuzzError("scale, hang and round limit must be positive, noise length not negative")
    index = stress_index(t)
    mix = workload_mix(t, workload, s.seed, s.threads)
    result = StressResult()
    seen: set[str] = set()
    start = time.monotonic()
    next_tick = start + 0.25
    for i in itertools.count():
        now = time.monotonic()
        if now - start >= seconds:
            break
        if on_tick and now >= next_tick:
            result.seconds = now - start
            on_tick(result)
            next_tick = now + 0.25
        w = next(mix)
        try:
            r = core.round(
                index, v.bits, w.packed,
                unit_ns=max(1, round(s.scale_us * 1000)), noise=s.noise, noise_ns=round(s.noise_us * 1000),
                seed=(s.seed * 1_000_003 + i) % (1 << 64), hang_ns=round(s.hang * 1e9),
                limit_ns=round(s.round_limit * 1e9),
            )
        except ValueError as exc:
            raise QfuzzError(f"workload: {exc}") from None
        except RuntimeError as exc:  # an earlier round left a thread that never stopped
            raise QfuzzError(f"stress core: {exc}") from None
        result.rounds += 1
        result.requests += requests_in(t, w)
        result.steps += r["steps"]
        done_at = time.monotonic() - start
        if r["kind"]:
            f = StressFailure(verdict_of(t, r), i, done_at, max(r["detect_ns"], 0) / 1e9, w)
            if f.signature not in seen:
                seen.add(f.signature)
                f.new = True
                f.events = select_events(decode_events(t, core.events(), core.EVENT_FORMAT, s.scale_us), f.verdict)
                if report_dir is not None:
                    f.report = write_report(Path(report_dir), t, variant, s, f, result)
                start += time.monotonic() - start - done_at  # like campaigns: the clock counts stressing only
            if result.first_failure_seconds is None:
                result.first_failure_seconds = done_at
            result.failures.append(f)
            if on_failure:
                on_failure(f)
            if stop and stop(f):
                break
        if r["wedged"]:
            result.wedged = True
            break
    result.seconds = time.monotonic() - start
    return result
