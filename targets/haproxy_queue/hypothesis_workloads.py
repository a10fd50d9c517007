"""haproxy_queue's hypothesis workload strategy (harness/strategies.py
reaches it through HaproxyQueue.hypothesis_workloads): the target's mixes,
made shrinkable."""
from __future__ import annotations

from typing import Any, Optional

from hypothesis import strategies as st

from harness.errors import QfuzzError

HQ_BALANCES = ("roundrobin", "first", "leastconn", "hash")
HQ_ACTIONS = ("enable", "disable", "set_maxconn", "shutdown")
HQ_MIXES = ("basic", "persist", "admin", "backup", "generic", "all")  # the target's workload mixes (HaproxyQueue.generate)
HQ_SLOWSTARTS = (20, 50, 100)  # ramps of 5 steps: 50 puts them on the 10 ms grid
# what each mix turns on (explicit knobs win): servers, max_events, cookies, pokes, backups, redispatch, and the
# fields of model version 3 (slowstart, connect failures with retries, balance random(draws), a timer window)
_HQ_MIX_KNOBS: dict[str, dict[str, Any]] = {
    "basic": {},
    "persist": {"cookies": True, "pokes": True, "redispatch": None},
    "admin": {"servers": (1, 3), "max_events": 3, "redispatch": None},
    "backup": {"servers": (1, 3), "max_events": 3, "backups": (1, 1), "redispatch": None},
    "generic": {"servers": (1, 3), "maxconn": (1, 3), "max_events": 3, "cookies": True, "pokes": True,
                "backups": (0, 1), "redispatch": None, "slowstart": True, "fails": True, "random": True, "jitter": True,
                "groups": True},
}
_HQ_BASIC = {"servers": (1, 2), "max_events": 0, "cookies": False, "pokes": False, "backups": (0, 0), "redispatch": False,
             "slowstart": False, "fails": False, "random": False, "jitter": False, "groups": False}


def workloads(*, mix: Optional[str] = None, **knobs: Any) -> st.SearchStrategy[dict[str, Any]]:
    """The target's mixes, made shrinkable (knobs: threads=(1, 4),
    servers=(1, 2), maxconn=(1, 2), max_requests=8, max_events=0,
    balance=None (any), cookies=False, pokes=False, backups=(0, 0),
    redispatch=False (None: either), and model version 3's fields:
    slowstart=False (a server may ramp up), fails=False (requests may fail
    to connect, with retries 0..3), random=False (balance random(draws) is
    one more choice), jitter=False (a timer window of 0, 5 or 10 ms),
    groups=False (thread groups: threads_per_group 1 or 2, or one group);
    mix="basic", "persist", "admin", "backup", "generic" (all of the above)
    or "all" (one of the first four) sets the knobs that mix of
    HaproxyQueue.generate exercises, and knobs given explicitly win)."""
    if mix is not None and mix not in HQ_MIXES:
        raise QfuzzError(f"mix: {mix!r} is not one of {', '.join(HQ_MIXES)}")
    unknown = set(knobs) - {"threads", "maxconn", "max_requests", "balance", *_HQ_BASIC}
    if unknown:
        raise QfuzzError(f"haproxy_queue workloads: unknown knob {sorted(unknown)[0]!r}")
    if mix == "all":
        return st.one_of(*(workloads(mix=m, **knobs) for m in HQ_MIXES[:4]))
    return _hq_strategy(**{**_HQ_BASIC, **_HQ_MIX_KNOBS[mix or "basic"], **knobs})


def _hq_strategy(
    *,
    threads: tuple[int, int] = (1, 4),
    servers: tuple[int, int],
    maxconn: tuple[int, int] = (1, 2),
    max_requests: int = 8,
    max_events: int,
    balance: Optional[str] = None,
    cookies: bool,
    pokes: bool,
    backups: tuple[int, int],
    redispatch: Optional[bool],
    slowstart: bool,
    fails: bool,
    random: bool,
    jitter: bool,
    groups: bool,
) -> st.SearchStrategy[dict[str, Any]]:
    """Short requests on a 10 ms grid so that arrivals meet service ends.
    Admin events (enable, disable, shutdown, set_maxconn 1..4) hit active
    servers; persistence cookies name one; pokes are client activity 10 or
    20 ms after arrival.  Thread and server numbers are drawn wide and
    reduced modulo the counts drawn, so the strategy is a flat tuple (fast
    to draw, and every part shrinks on its own, toward 0).  A knob that is
    off draws nothing (st.just), so the workloads drawn without the version-3
    knobs are the ones drawn before they existed."""
    balances = HQ_BALANCES + (("random",) if random else ())
    if balance is not None and balance not in balances:
        raise QfuzzError(f"balance: {balance!r} is not one of {', '.join(balances)}")
    slot = st.integers(0, 5)
    cookie = st.one_of(st.none(), st.integers(0, 7)) if cookies else st.none()
    poke = st.one_of(st.none(), st.integers(1, 2)) if pokes else st.none()
    request = st.tuples(slot, st.integers(0, 15), st.integers(1, 2), st.integers(0, 3), cookie, poke,
                        st.integers(0, 2) if fails else st.just(0))
    event = st.tuples(slot, st.integers(0, 15), st.integers(0, len(HQ_ACTIONS) - 1), st.integers(0, 7), st.integers(1, 4),
                      st.booleans())
    parts = st.tuples(
        st.integers(*threads),
        st.lists(st.integers(*maxconn), min_size=servers[0], max_size=servers[1]),
        st.just(balance) if balance else st.sampled_from(balances),
        st.lists(request, max_size=max_requests),
        st.lists(event, max_size=max_events) if max_events else st.just([]),
        st.integers(*backups),
        st.booleans() if redispatch is None else st.just(redispatch),
        st.one_of(st.none(), st.tuples(st.integers(0, 7), st.sampled_from(HQ_SLOWSTARTS))) if slowstart else st.just(None),
        st.integers(0, 3) if fails else st.just(3),  # retries
        st.integers(1, 3) if random else st.just(2),  # draws, when the balance is random
        st.sampled_from((0, 5, 10)) if jitter else st.just(0),
        st.sampled_from((0, 1, 2)) if groups else st.just(0),  # threads_per_group (0: one group, the field left out)
    )
    return parts.map(_hq_build)


def _hq_build(parts: tuple[Any, ...]) -> dict[str, Any]:
    nthreads, maxconns, balance, requests, events, nbackups, redispatch, ramp, retries, draws, jitter, per_group = parts
    servers = [{"maxconn": m} for m in maxconns] + [{"maxconn": 1, "backup": True}] * nbackups
    if ramp is not None:
        servers[ramp[0] % len(maxconns)]["slowstart"] = ramp[1]
    backend = {"balance": balance, "timeout_queue": 50, "redispatch": redispatch, "retries": retries}
    if balance == "random":
        backend["draws"] = draws
    return {
        "threads": nthreads,
        **({"threads_per_group": per_group} if per_group else {}),
        "servers": servers,
        "backend": backend,
        "jitter": jitter,
        "requests": [
            {"at": 10 * at, "thread": th % nthreads, "duration": 10 * dur, "key": key,
             "cookie": None if cookie is None else cookie % len(maxconns),
             "poke": None if poke is None else 10 * (at + poke), "fails": fails}
            for at, th, dur, key, cookie, poke, fails in requests
        ],
        "events": [
            {
                "at": 10 * at + (5 if half else 0),
                "thread": th % nthreads,
                "action": HQ_ACTIONS[a],
                "server": sv % len(maxconns),  # actives only: backups stay up, as in the target's mix
                "value": value if HQ_ACTIONS[a] == "set_maxconn" else 0,
            }
            for at, th, a, sv, value, half in events
        ],
    }
