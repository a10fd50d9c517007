"""The hypothesis engine: property-based search over workloads and
schedules (harness.strategies), with hypothesis's own shrinking.

Each round is one hypothesis.find() with a fresh seed: it generates cases
until one fails with a signature not yet found (and matching `matching`),
then shrinks it keeping that signature: a smaller workload, fewer and
earlier preemptions.  Rounds repeat until the time or example budget is
spent; every new signature is minimized once more by harness.minimizer and
stored in the corpus, like the other engines' findings."""
from __future__ import annotations

import fnmatch
import random
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Optional

from ..execution import Execution
from ..runner import run
from ..target import Target

EXAMPLES_PER_ROUND = 2000


class _OutOfTime(Exception):
    pass


@dataclass
class Found:
    signature: str
    first_seconds: float  # search time to the first failing case (before shrinking)
    first_examples: int  # examples run up to it, all rounds counted
    execution: Execution  # the shrunk case, with its trace


@dataclass
class SearchResult:
    examples: int = 0
    seconds: float = 0.0
    found: dict[str, Found] = field(default_factory=dict)

    @property
    def exec_per_second(self) -> float:
        return self.examples / self.seconds if self.seconds else 0.0


def search(
    target: Target,
    variant: str,
    *,
    seconds: Optional[float] = 10.0,
    examples: Optional[int] = None,
    seed: int = 0,
    workload: Any = None,
    matching: str = "*",
    stop_at_first: bool = False,
    on_new: Optional[Callable[[Found], None]] = None,
    known: Iterable[str] = (),
    first_round: int = 0,
    execute: Optional[Callable[[Target, str, Any, Any], Optional[Execution]]] = None,
    progress: Optional[Callable[[int, int], None]] = None,
    **knobs: Any,
) -> SearchResult:
    """Rounds of hypothesis.find() until `seconds` or `examples` run out (or
    the first finding, with stop_at_first).  For a search resumed in a new
    worker child (harness/program/isolated_search.py): `known` signatures
    are not searched for again, rounds start at `first_round` (each round's
    random seed is a function of the seed and the round), `progress(round,
    examples)` is told as each round starts and each example is counted; `execute(target, variant, workload,
    schedule)` runs an example (default: in process, no trace), None for one
    that crashed in its own child (neither a failure nor a finding)."""
    from hypothesis import HealthCheck, Phase, find, settings
    from hypothesis.errors import NoSuchExample

    from ..strategies import cases

    target.variant(variant)
    strategy = cases(target, workload, **knobs)
    result = SearchResult()
    start = time.monotonic()
    deadline = start + seconds if seconds else float("inf")
    budget = examples if examples else float("inf")
    conf = settings(
        max_examples=EXAMPLES_PER_ROUND, database=None, deadline=None, phases=(Phase.generate, Phase.shrink),
        suppress_health_check=list(HealthCheck),
    )
    round_no = first_round
    skip = set(known)
    run_one = execute or (lambda t, v, w, s: run(t, v, w, s, trace=False))
    while time.monotonic() < deadline and result.examples < budget:
        if progress:
            progress(round_no, result.examples)
        wanted: list[str] = []
        first: list[tuple[float, int]] = []

        def fails(case: Any) -> bool:
            if not wanted:  # searching: the budget applies; shrinking always completes
                if time.monotonic() >= deadline or result.examples >= budget:
                    raise _OutOfTime
                result.examples += 1
                if progress:
                    progress(round_no, result.examples)
            ex = run_one(target, variant, case[0], case[1])
            if ex is None:
                return False
            sig = ex.verdict.signature
            if not ex.failed or not fnmatch.fnmatchcase(sig, matching) or sig in result.found or sig in skip:
                return False
            if wanted and sig != wanted[0]:
                return False
            if not wanted:
                wanted.append(sig)
                first.append((time.monotonic() - start, result.examples))
            return True

        try:
            case = find(strategy, fails, settings=conf, random=random.Random(seed * 1_000_003 + round_no))
        except (NoSuchExample, _OutOfTime):
            case = None
        round_no += 1
        if case is None:
            continue
        f = Found(wanted[0], first[0][0], first[0][1], run(target, variant, case[0], case[1]))
        result.found[f.signature] = f
        if on_new:
            on_new(f)
        if stop_at_first:
            break
    result.seconds = time.monotonic() - start
    return result
