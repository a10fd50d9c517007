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
"""
from __future__ import annotations

import fnmatch
from typing import Any, Callable, Iterable, Optional

from hypothesis import strategies as st

from .errors import QfuzzError
from .execution import Execution
from .schedulers import Replay, Scheduler
from .target import Target, Workload

__all__ = [
    "workloads", "decisions", "cases", "register", "check_no_failure", "no_failure", "find_failure",
    "PropertyFailure",
]

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
    """Valid workloads of `target`.  The knobs are the target's (haproxy_queue:
    threads=(1, 4), servers=(1, 2), maxconn=(1, 2), max_requests=8,
    max_events=0, balance=None (any), cookies=False, pokes=False)."""
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


def cases(
    target: str | Target = "haproxy_queue", workload: Optional[Any] = None, **knobs: Any
) -> st.SearchStrategy[tuple[Workload, Scheduler]]:
    """(workload, schedule) pairs; `workload` pins the workload."""
    w = st.just(_target(target).workload(workload)) if workload is not None else workloads(target, **knobs)
    return st.tuples(w, decisions())


# -- checking a property ----------------------------------------------------------------


class PropertyFailure(AssertionError):
    """A run failed a property; the message says how to replay it."""

    def __init__(self, ex: Execution):
        from .reproducer import from_execution

        v = ex.verdict
        size = ", ".join(f"{n} {what}" for what, n in ex.target.size(ex.workload.data).items())
        super().__init__(
            f"{v.signature} on {ex.variant}: {v.detail}\n"
            f"  {size}, {ex.preemptions} preemptions\n"
            f"  reproducer (save it as a .json file, then `qfuzz repro FILE`):\n{from_execution(ex).dumps()}"
        )
        self.execution = ex


def _matches(signature: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(signature, p) for p in patterns)


def check_no_failure(
    target: str | Target, variant: str, workload: Any, schedule: Scheduler, *, allow: Iterable[str] = ()
) -> Execution:
    """Run once; raise PropertyFailure unless the verdict is OK or its
    signature matches one of `allow` (shell patterns, e.g. "SAFETY:*")."""
    from .runner import run

    ex = run(target, variant, workload, schedule, trace=False)
    if ex.failed and not _matches(ex.verdict.signature, allow):
        raise PropertyFailure(ex)
    return ex


def no_failure(
    target: str | Target,
    variant: str,
    *,
    workload: Optional[Any] = None,
    allow: Iterable[str] = (),
    settings: Optional[Any] = None,
    **knobs: Any,
) -> Callable[[], None]:
    """A ready-made property test: `test_x = no_failure("haproxy_queue", "coarse")`.
    Fails (with a replayable reproducer in the message) on any failing
    verdict not in `allow`.  Each call gets its own example-database key."""
    from hypothesis import given

    name = _target(target).name
    allowed = tuple(allow)
    strategy = cases(name, workload, **knobs)

    def prop(case: tuple[Workload, Scheduler]) -> None:
        check_no_failure(name, variant, case[0], case[1], allow=allowed)

    # one database entry per property, not one for every no_failure() test
    prop._hypothesis_internal_add_digest = repr((name, variant, workload, allowed, sorted(knobs.items()))).encode()  # type: ignore[attr-defined]
    test = given(strategy)(prop)
    if settings is not None:
        test = settings(test)
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


# -- haproxy_queue --------------------------------------------------------------


HQ_BALANCES = ("roundrobin", "first", "leastconn", "hash")
HQ_ACTIONS = ("enable", "disable", "set_maxconn", "shutdown")


@register("haproxy_queue")
def _hq_workloads(
    *,
    threads: tuple[int, int] = (1, 4),
    servers: tuple[int, int] = (1, 2),
    maxconn: tuple[int, int] = (1, 2),
    max_requests: int = 8,
    max_events: int = 0,
    balance: Optional[str] = None,
    cookies: bool = False,
    pokes: bool = False,
) -> st.SearchStrategy[dict[str, Any]]:
    """The target's own mix, made shrinkable: short requests on a 10 ms grid
    so that arrivals meet service ends.  Admin events (enable, disable,
    shutdown, set_maxconn 1..4), persistence cookies and pokes (client
    activity 10 or 20 ms after arrival) are off by default, as in the
    target's basic mix.  Thread and server numbers are drawn wide
    and reduced modulo the counts drawn, so the strategy is a flat tuple
    (fast to draw, and every part shrinks on its own, toward 0)."""
    if balance is not None and balance not in HQ_BALANCES:
        raise QfuzzError(f"balance: {balance!r} is not one of {', '.join(HQ_BALANCES)}")
    slot = st.integers(0, 5)
    cookie = st.one_of(st.none(), st.integers(0, 7)) if cookies else st.none()
    poke = st.one_of(st.none(), st.integers(1, 2)) if pokes else st.none()
    request = st.tuples(slot, st.integers(0, 15), st.integers(1, 2), st.integers(0, 3), cookie, poke)
    event = st.tuples(slot, st.integers(0, 15), st.integers(0, len(HQ_ACTIONS) - 1), st.integers(0, 7), st.integers(1, 4))
    parts = st.tuples(
        st.integers(*threads),
        st.lists(st.integers(*maxconn), min_size=servers[0], max_size=servers[1]),
        st.just(balance) if balance else st.sampled_from(HQ_BALANCES),
        st.lists(request, max_size=max_requests),
        st.lists(event, max_size=max_events) if max_events else st.just([]),
    )
    return parts.map(_hq_build)


def _hq_build(parts: tuple[Any, ...]) -> dict[str, Any]:
    nthreads, maxconns, balance, requests, events = parts
    return {
        "threads": nthreads,
        "servers": [{"maxconn": m} for m in maxconns],
        "backend": {"balance": balance, "timeout_queue": 50},
        "requests": [
            {"at": 10 * at, "thread": th % nthreads, "duration": 10 * dur, "key": key,
             "cookie": None if cookie is None else cookie % len(maxconns),
             "poke": None if poke is None else 10 * (at + poke)}
            for at, th, dur, key, cookie, poke in requests
        ],
        "events": [
            {
                "at": 10 * at,
                "thread": th % nthreads,
                "action": HQ_ACTIONS[a],
                "server": sv % len(maxconns),
                "value": value if HQ_ACTIONS[a] == "set_maxconn" else 0,
            }
            for at, th, a, sv, value in events
        ],
    }
