"""harness.run(): one call into the native core per execution; run_schedules():
one per run of a workload's seeded schedules."""
from __future__ import annotations

import dataclasses
import time
from typing import Any, Callable, Optional

from .execution import KINDS, CriticalEvent, Execution, Verdict
from .native import core
from .pinning import default_cpu
from .schedulers import PCT, Scheduler
from .target import Target, Variant, Workload


def _critical(target: Target, variant: str, label: int, step: int, thread: int, site: int = 0,
              caller: int = 0) -> Optional[CriticalEvent]:
    if label < 0:
        return None
    ident, desc = target.label(label, variant)
    return CriticalEvent(step, thread, ident, desc, target.site_function(variant, site, caller) if site else "")


def verdict_of(target: Target, r: dict[str, Any], variant: Optional[str] = None) -> Verdict:
    kind = KINDS[r["kind"]] if 0 <= r["kind"] < len(KINDS) else f"KIND{r['kind']}"
    if kind == "OK":
        return Verdict("OK")
    path = target.verdict_path(kind, r["path"], r["detail"])
    return Verdict(
        kind=kind,
        path=path,
        request=r["request"] if r["request"] >= 0 else None,
        server=r["object"] if r["object"] >= 0 else None,
        critical=(
            _critical(target, variant, r["label_a"], r["step_a"], r["thread_a"], r.get("site_a", 0), r.get("caller_a", 0)),
            _critical(target, variant, r["label_b"], r["step_b"], r["thread_b"], r.get("site_b", 0), r.get("caller_b", 0)),
        ),
        stranded_at=r["t_from"],
        failed_at=r["t_at"],
        detail=r["detail"],
    )


# A campaign runs many schedules of one Workload in a row: what the target derives from it (the
# step estimate, the step budget, the timer window) is computed once per workload, not per execution
# (the Python side of a campaign's execution, the core stubbed out: 22 us before, 19 us after).
_derived: tuple[Any, ...] = (None, None, 0, 0, 0)


def _sizes(t: Target, w: Workload) -> tuple[int, int, int]:
    global _derived
    if _derived[0] is not w or _derived[1] is not t:
        _derived = (w, t, t.estimate_steps(w.data), t.budget(w.data), t.jitter(w.data))
    return _derived[2], _derived[3], _derived[4]


# Told every execution's input before it runs (t, variant, workload, scheduler): a worker
# child that may die notes it so its parent can save the input (harness/program/isolated_search.py).
watch: Optional[Callable[[Target, Variant, Workload, Scheduler], None]] = None


def run(
    target: str | Target,
    variant: str | Variant,
    workload: Any,
    scheduler: Optional[Scheduler] = None,
    *,
    trace: bool = True,
    features: bool = True,
    budget: Optional[int] = None,
    cpu: Optional[int] = None,
    fork: bool = False,
) -> Execution:
    """Run `workload` once on `variant` of `target` under `scheduler`
    (default: PCT with seed 0) and judge it.  Deterministic: the same
    arguments give the same decisions, trace and verdict.  `fork`: a
    program's execution runs in a forked child (a crash raises ValueError
    instead of killing this process: harness.program.isolate.run_isolated)."""
    from .targets import get

    t = get(target)
    v = variant if isinstance(variant, Variant) else t.variant(variant)  # a Variant: an unnamed build (attribution)
    w: Workload = t.workload(workload)
    s = scheduler if scheduler is not None else PCT()
    k, steps_budget, jitter = _sizes(t, w)
    if isinstance(s, PCT) and s.k is None and hasattr(t, "measured_steps"):
        k = t.measured_steps(v.name, w)  # a program's run length, measured (harness/program/target.py)
    if watch is not None:  # last before the core: measured_steps() may run one of its own
        watch(t, v, w, s)
    r = core.run(
        t.native_index(variant),
        v.bits,
        w.packed,
        s.kind,
        budget=budget or steps_budget,
        cpu=default_cpu() if cpu is None else cpu,
        trace=int(trace),
        features=int(features),
        jitter=jitter,
        **s.native_args(k),
        **({"fork": 1} if fork else {}),
    )
    return _execution(t, v, w, s, r, variant)


def _execution(t: Target, v: Variant, w: Workload, s: Scheduler, r: dict[str, Any], variant: str | Variant) -> Execution:
    return Execution(
        target=t,
        variant=v.name,
        workload=w,
        scheduler=s,
        verdict=verdict_of(t, r, variant),
        decisions=r["decisions"],
        steps=r["steps"],
        switches=r["switches"],
        preemptions=r["preemptions"],
        end_time=r["end_time"],
        nthreads=r["nthreads"],
        raw_trace=r["trace"],
        stride=r["stride"],
        ncounters=r["ncounters"],
        raw_sites=r.get("sites", b""),
        output=r.get("output", b""),
        rare_hits=r["rare_hits"],
    )


SEED_MASK = (1 << 63) - 1


def run_schedules(
    target: Target,
    variant: Variant,
    workload: Workload,
    make_scheduler: Callable[[int], Scheduler],
    first_seed: int,
    count: int,
    *,
    deadline: Optional[float] = None,
    before: Optional[Callable[[int, Optional[int]], None]] = None,
    longest: int = 0,
) -> tuple[bytes, Optional[Execution], int]:
    """A seeded campaign's next `count` executions of one workload, untraced,
    under make_scheduler(first_seed + j) (seeds mod 2^63), stopping after the
    first that fails or once `deadline` (time.monotonic()) has passed (at
    least one runs).  `before(j, k)` is told each one before it runs, with the
    k PCT runs it with when it follows `longest` (else None).  PCT
    without a k of its own spreads its change points over `longest`, the
    longest execution of this workload so far (Shuttle's rule; the target's
    estimate while there is none), updated as they run.  Returns the
    rare-hit counts of those that ran (clipped to 255), the failing
    Execution or None (its scheduler with the k it ran with), and `longest`.
    The same executions as run() one by one, without Python between them
    (core.run_batch); a program's executions (forked, measured, watched)
    still go one by one."""
    first = make_scheduler(first_seed)
    adapt = isinstance(first, PCT) and first.k is None and longest >= 0  # -1: the estimate throughout
    if hasattr(target, "measured_steps") or watch is not None:  # a program: PCT's k is measured (program/target.py)
        hits = bytearray()
        for j in range(count):
            if j and deadline is not None and time.monotonic() >= deadline:
                break
            if before is not None:
                before(j, None)
            ex = run(target, variant.name, workload, first if j == 0 else make_scheduler((first_seed + j) & SEED_MASK),
                     trace=False)
            hits.append(min(ex.rare_hits, 255))
            if ex.failed:
                return bytes(hits), ex, longest
        return bytes(hits), None, longest
    k, steps_budget, jitter = _sizes(target, workload)
    native = first.native_args(k)
    seed = native.pop("seed")
    hits, r, longest = core.run_batch(target.native_index(variant.name), variant.bits, workload.packed, first.kind, seed,
                                      count, budget=steps_budget, cpu=default_cpu(), jitter=jitter,
                                      deadline=deadline or 0.0, longest=longest if adapt else -1,
                                      before=None if before is None else (lambda j, k: before(j, k if adapt else None)),
                                      **native)
    if r is None:
        return hits, None, max(longest, 0)
    s = make_scheduler((first_seed + len(hits) - 1) & SEED_MASK)
    if adapt:
        s = dataclasses.replace(s, k=r["k"])
    return hits, _execution(target, variant, workload, s, r, variant), max(longest, 0)
