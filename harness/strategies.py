"""Hypothesis strategies for property tests of a target, and helpers that
make a property test a few lines:

    from hypothesis import given
    from harness.strategies import workloads, decisions, check_no_failure, no_failure

    test_coarse_never_fails = no_failure("haproxy_queue", "coarse")

    @given(workloads("haproxy_queue", balance="hash"), decisions())
    def test_fixed_hash_never_sticks(workload, schedule):
        check_no_failure("haproxy_queue", "fixed", workload, schedule)

workloads() draws harness.target.Workload values, decisions() draws
harness.Replay schedules; both compose like any hypothesis strategy
(.map, .filter, st.tuples, st.one_of...).  Shrinking makes the workload
smaller (fewer requests, threads and servers; earlier, compact times) and
the schedule simpler: fewer preemptions, each moved earlier and aimed at
the nearest thread, i.e. decisions pushed toward 0 (0 = no preemption).
Workload strategies are target-specific and sit in a registry keyed by
target name, like the fuzz-input decoders (harness/fuzzinput.py).

A drawn schedule alone rarely meets a race: the preemption must land within
a step or two of the right place.  So no_failure() (and check_no_failure
with explore=N) also runs each drawn workload under N seeded PCT and POS
schedules, as the seeded engines do: the seed bug then fails a property in
its first few dozen examples, and shrinking a workload re-searches its
schedule.  A failure is minimized (harness.minimizer) and written as a
reproducer file; the assertion message gives its path and the one command
that replays it.  Named settings profiles are in harness.profiles.
"""
from __future__ import annotations

import fnmatch
import inspect
import os
import random
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

from hypothesis import strategies as st

from .errors import QfuzzError
from .execution import Execution
from .schedulers import PCT, POS, RandomWalk, Replay, Scheduler
from .target import Target, Workload

__all__ = [
    "workloads", "decisions", "cases", "register", "check_no_failure", "no_failure", "find_failure",
    "PropertyFailure", "PropertyCrash", "explored", "generated", "EXPLORE",
]

EXPLORE = 16  # seeded schedules per drawn workload in no_failure(), besides the drawn schedule
PROPERTY_MINIMIZE_BUDGET = 5_000  # executions to minimize a property's failure (a livelock's run thousands of steps)
FAILURES_DIR = "QFUZZ_FAILURES"  # environment: where property failures are written (default .qfuzz/failures)

WorkloadStrategy = Callable[..., st.SearchStrategy[dict[str, Any]]]
_WORKLOADS: dict[str, WorkloadStrategy] = {}


def register(target: str) -> Callable[[WorkloadStrategy], WorkloadStrategy]:
    """@register("name") on a function(**knobs) returning a strategy of raw workload dicts."""

    def deco(fn: WorkloadStrategy) -> WorkloadStrategy:
        _WORKLOADS[target] = fn
        return fn

    return deco


def _target(target: str | Target) -> Target:
    from .targets import get

    return get(target)


def workloads(target: str | Target = "haproxy_queue", **knobs: Any) -> st.SearchStrategy[Workload]:
    """Valid workloads of `target`.  The knobs are the target's (haproxy_queue's:
    targets/haproxy_queue/hypothesis_workloads.py)."""
    t = _target(target)
    if t.name in _WORKLOADS:
        return _WORKLOADS[t.name](**knobs).map(t.workload)
    if hasattr(t, "hypothesis_workloads"):  # a target built at run time (a C program) brings its own
        return t.hypothesis_workloads(**knobs).map(t.workload)
    raise QfuzzError(f"target {t.name} has no hypothesis workload strategy (harness/strategies.py)")


def decisions(*, max_preemptions: int = 8, max_gap: int = 40, max_choice: int = 3) -> st.SearchStrategy[Replay]:
    """Schedules as a few preemptions: each waits `gap` choice points (0..max_gap)
    and then switches to the `choice`-th other runnable thread.  Past the last
    preemption nothing is preempted.  Shrinks toward fewer, earlier
    preemptions to the nearest thread (decisions pushed toward 0)."""
    preemption = st.tuples(st.integers(0, max_gap), st.integers(1, max_choice))
    return st.lists(preemption, max_size=max_preemptions).map(_expand)


def _expand(preemptions: Iterable[tuple[int, int]]) -> Replay:
    out = bytearray()
    for gap, choice in preemptions:
        out += bytes(gap)
        out.append(choice)
    return Replay(bytes(out))


def generated(target: str | Target, mix: str = "basic") -> st.SearchStrategy[Workload]:
    """Workloads from the target's own generator (Target.generate, the seeded
    engines' workload mix), seeded by hypothesis.  They shrink only toward
    seed 0: a failure found here is shrunk by harness.minimizer."""
    t = _target(target)
    return st.integers(0, 2**32 - 1).map(lambda seed: t.workload(t.generate(random.Random(seed), mix)))


def cases(
    target: str | Target = "haproxy_queue", workload: Optional[Any] = None, **knobs: Any
) -> st.SearchStrategy[tuple[Workload, Scheduler]]:
    """(workload, schedule) pairs; `workload` pins the workload."""
    w = st.just(_target(target).workload(workload)) if workload is not None else workloads(target, **knobs)
    return st.tuples(w, decisions())


# -- checking a property ----------------------------------------------------------------


class PropertyFailure(AssertionError):
    """A run failed a property.  The message names the minimized reproducer
    file and the command that replays it (`path`; None while hypothesis is
    still shrinking: only the final example is minimized and written)."""

    def __init__(self, ex: Execution, path: Optional[Path] = None):
        v = ex.verdict
        size = ", ".join(f"{n} {what}" for what, n in ex.target.size(ex.workload.data).items())
        lines = [f"{v.signature} on {ex.variant}: {v.detail}", f"  {size}, {ex.preemptions} preemptions"]
        if path is not None:
            lines += [f"  reproducer: {path}", f"  replay:     qfuzz repro {path}"]
        super().__init__("\n".join(lines))
        self.execution = ex
        self.path = path


def _matches(signature: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(signature, p) for p in patterns)


def explored(seed: int, n: int) -> list[Scheduler]:
    """`n` seeded schedules of the seeded engines' kinds: half of them POS (the
    quickest on most of the catalog's races), then PCT at bug depths 3 and 2
    and the random walk (races that need many preemptions)."""
    base = (seed % (1 << 32)) * 1_000_003
    kinds: tuple[Callable[[int], Scheduler], ...] = (
        lambda s: POS(seed=s), lambda s: PCT(seed=s, depth=3), lambda s: POS(seed=s), lambda s: RandomWalk(seed=s),
        lambda s: POS(seed=s), lambda s: PCT(seed=s, depth=2),
    )
    return [kinds[i % len(kinds)](base + i) for i in range(n)]


def _final_example() -> bool:
    """True unless hypothesis is running an example it may still shrink."""
    try:
        from hypothesis.control import current_build_context

        return bool(current_build_context().is_final)
    except Exception:  # not inside a hypothesis test (InvalidArgument), or an API change
        return True


def _failure_path(ex: Execution) -> Path:
    """Minimize `ex` and write it as a reproducer; return the file's path."""
    from .corpus import slug
    from .minimizer import minimize
    from .reproducer import from_execution, write_new

    m = minimize(ex, budget=PROPERTY_MINIMIZE_BUDGET)
    rep = from_execution(m.execution, found={"engine": "hypothesis property"})
    rep.minimized = {"before": m.before.to_json(), "after": m.after.to_json()}
    root = Path(os.environ.get(FAILURES_DIR) or Path.cwd() / ".qfuzz" / "failures").absolute()
    path = root / ex.target.name / f"{rep.variant}--{slug(rep.signature)}-{rep.content_id()}.json"
    write_new(path, rep.dumps())  # the same case twice: the same name, kept
    return path


def check_no_failure(
    target: str | Target,
    variant: str,
    workload: Any,
    schedule: Scheduler,
    *,
    allow: Iterable[str] = (),
    explore: int = 0,
    seed: int = 0,
) -> Execution:
    """Run `workload` under `schedule`, then under `explore` seeded schedules
    (harness.strategies.explored(seed, explore)); raise PropertyFailure at
    the first verdict that is neither OK nor matches one of `allow` (shell
    patterns, e.g. "SAFETY:*").  Returns the last execution."""
    from .runner import run

    allowed = tuple(allow)
    t = _target(target)
    isolated = t.program_block() is not None  # a C program may crash: each execution in a forked child
    for sched in [schedule, *explored(seed, explore)]:
        ex = _isolated(t, variant, workload, sched) if isolated else run(target, variant, workload, sched, trace=False)
        if ex.failed and not _matches(ex.verdict.signature, allowed):
            if not _final_example():
                raise PropertyFailure(ex)  # hypothesis only needs to know; it shrinks on
            path = _failure_path(ex)
            from .reproducer import load

            raise PropertyFailure(load(path).replay(), path) from None
    return ex


class PropertyCrash(AssertionError):
    """A program's execution crashed (a signal) in its forked child; the message names
    the crash reproducer and its replay command."""

    def __init__(self, variant: str, reason: str, path: Optional[Path] = None):
        lines = [f"CRASH on {variant}: the program died of {reason}"]
        if path is not None:
            lines += [f"  crash reproducer: {path}", f"  replay:           qfuzz repro {path}"]
        super().__init__("\n".join(lines))
        self.reason = reason
        self.path = path


def _isolated(t: Target, variant: str, workload: Any, sched: Scheduler) -> Execution:
    from .program.isolate import ProgramCrashed, run_isolated, save_crash

    try:
        return run_isolated(t, variant, workload, sched)
    except ProgramCrashed as crash:
        if not _final_example():
            raise PropertyCrash(variant, crash.reason) from None
        root = Path(os.environ.get(FAILURES_DIR) or Path.cwd() / ".qfuzz" / "failures").absolute()
        path = save_crash(t, variant, workload, sched, crash.reason, root / t.name / "crashes",
                          {"engine": "hypothesis property"})
        raise PropertyCrash(variant, crash.reason, path) from None


def no_failure(
    target: str | Target,
    variant: str,
    *,
    workload: Optional[Any] = None,
    allow: Iterable[str] = (),
    settings: Optional[Any] = None,
    explore: int = EXPLORE,
    **knobs: Any,
) -> Callable[[], None]:
    """A ready-made property test: `test_x = no_failure("haproxy_queue", "coarse")`.
    Each example is a drawn workload under a drawn schedule and `explore`
    seeded ones.  Fails on any failing verdict not in `allow`, naming the
    minimized reproducer file and its replay command.  Without knobs, the
    workloads are those of the variant's own mix (Variant.mix), when the
    target's strategy takes a `mix` knob.  Each call gets its own
    example-database key."""
    from hypothesis import HealthCheck, Phase, given
    from hypothesis import settings as hsettings
    from hypothesis import strategies as st_

    PHASES = (Phase.explicit, Phase.reuse, Phase.generate)
    t = _target(target)
    name = t.name
    v = t.variant(variant)
    allowed = tuple(allow)
    if workload is not None:
        pairs = cases(name, workload)
    elif knobs:
        pairs = cases(name, **knobs)
    else:  # the variant's mix: drawn to shrink, or as the seeded engines draw it
        drawn = []
        if name in _WORKLOADS:
            takes_mix = "mix" in inspect.signature(_WORKLOADS[name]).parameters
            drawn.append(workloads(name, **({"mix": v.mix} if takes_mix else {})))
        pairs = st_.tuples(st_.one_of(*drawn, generated(name, v.mix)), decisions())
    strategy = st_.tuples(pairs, st_.integers(0, 2**32 - 1))

    def prop(case: tuple[tuple[Workload, Scheduler], int]) -> None:
        (w, schedule), seed = case
        check_no_failure(name, variant, w, schedule, allow=allowed, explore=explore, seed=seed)

    # one database entry per property, not one for every no_failure() test
    prop._hypothesis_internal_add_digest = repr((name, variant, workload, allowed, explore, sorted(knobs.items()))).encode()  # type: ignore[attr-defined]
    test = given(strategy)(prop)
    # the loaded profile's settings, but no deadline (executions run real threads: an
    # example can take milliseconds, more on a loaded machine) and no shrinking by
    # hypothesis: harness.minimizer shrinks the failure it reports, faster and further.
    # `settings` replaces all of this.
    test = (settings or hsettings(deadline=None, suppress_health_check=[HealthCheck.too_slow], phases=PHASES))(test)
    test.__name__ = test.__qualname__ = f"no_failure_{name}_{variant}"
    return test


def find_failure(
    target: str | Target,
    variant: str,
    *,
    matching: str = "*",
    workload: Optional[Any] = None,
    max_examples: int = 2000,
    seed: Optional[int] = None,
    minimize_seconds: float = 2.0,
    **knobs: Any,
) -> Optional[Execution]:
    """Search with hypothesis for a run whose failure signature matches
    `matching`, shrink it (same signature), and return it; None if not found.

    Hypothesis shrinks schedules well (fewer, earlier preemptions) but a
    workload only while the shrunk schedule still fails on it: removing a
    request moves every later choice point.  So the result then goes through
    harness.minimizer (for `minimize_seconds`; 0: not at all), which
    re-searches a schedule for each smaller workload."""
    import random

    from hypothesis import HealthCheck, Phase, find
    from hypothesis import settings as hsettings
    from hypothesis.errors import NoSuchExample

    from .runner import run

    t = _target(target)
    t.variant(variant)
    wanted: list[str] = []  # the first matching signature; shrinking keeps it

    def fails(case: tuple[Workload, Scheduler]) -> bool:
        ex = run(t, variant, case[0], case[1], trace=False)
        sig = ex.verdict.signature
        if not ex.failed or not fnmatch.fnmatchcase(sig, matching) or (wanted and sig != wanted[0]):
            return False
        wanted[:] = [sig]
        return True

    conf = hsettings(
        max_examples=max_examples, database=None, deadline=None, phases=(Phase.generate, Phase.shrink),
        suppress_health_check=list(HealthCheck),
    )
    try:
        case = find(cases(t, workload, **knobs), fails, settings=conf, random=random.Random(seed))
    except NoSuchExample:
        return None
    ex = run(t, variant, case[0], case[1], trace=False)
    if minimize_seconds > 0 and workload is None:
        from .minimizer import minimize

        return minimize(ex, seconds=minimize_seconds).execution
    return run(t, variant, case[0], case[1])
