"""The arithmetic of stress figures: rates with 95% confidence intervals.

STUCK requests are not independent (one lost wake-up strands every request
queued behind it: an episode), so intervals are computed on episodes, the
independent events, as an exact (Garwood) Poisson interval over the
requests run; STUCK per million is reported beside them as a point figure.
Re-run rates (k of n runs showed STUCK) get a Wilson score interval."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable

Z95 = 1.959963984540054


def _poisson_cdf(k: int, lam: float) -> float:
    """P(X <= k) for X ~ Poisson(lam), summed in log space (k up to ~1e5)."""
    if lam <= 0:
        return 1.0
    term = -lam  # log P(X = 0)
    total = math.exp(term)
    for i in range(1, k + 1):
        term += math.log(lam) - math.log(i)
        total += math.exp(term)
    return min(1.0, total)


def _solve(f: Any, lo: float, hi: float) -> float:
    for _ in range(200):  # bisection to far below any figure we print
        mid = (lo + hi) / 2
        if f(mid):
            hi = mid
        else:
            lo = mid
    return (lo + hi) / 2


def poisson_ci(k: int, alpha: float = 0.05) -> tuple[float, float]:
    """The exact two-sided interval of a Poisson mean, having seen k events."""
    hi_bound = k + 20 * math.sqrt(k + 1) + 20
    lower = 0.0 if k == 0 else _solve(lambda lam: _poisson_cdf(k - 1, lam) <= 1 - alpha / 2, 0.0, hi_bound)
    upper = _solve(lambda lam: _poisson_cdf(k, lam) <= alpha / 2, 0.0, hi_bound)
    return lower, upper


def per_million_ci(events: int, requests: int) -> tuple[float, float]:
    """95% interval of events per million requests (0, inf if no requests)."""
    if requests <= 0:
        return 0.0, math.inf
    lo, hi = poisson_ci(events)
    return 1e6 * lo / requests, 1e6 * hi / requests


def wilson(k: int, n: int) -> tuple[float, float]:
    """95% Wilson interval of a proportion k/n."""
    if n <= 0:
        return 0.0, 1.0
    p = k / n
    d = 1 + Z95 ** 2 / n
    c = (p + Z95 ** 2 / (2 * n)) / d
    h = Z95 * math.sqrt(p * (1 - p) / n + Z95 ** 2 / (4 * n * n)) / d
    return max(0.0, c - h), min(1.0, c + h)


@dataclass
class Cell:
    """One (version, path, threads-or-control) cell of an A/B table."""

    runs: int = 0
    requests: int = 0
    stuck: int = 0
    episodes: int = 0
    unknown: int = 0
    seconds: float = 0.0
    first_stuck_requests: list[int] = field(default_factory=list)

    def add(self, requests: int, stuck: int, episodes: int, unknown: int, seconds: float) -> None:
        self.runs += 1
        self.requests += requests
        self.stuck += stuck
        self.episodes += episodes
        self.unknown += unknown
        self.seconds += seconds

    @property
    def stuck_per_million(self) -> float:
        return 1e6 * self.stuck / self.requests if self.requests else 0.0

    @property
    def episodes_per_million(self) -> float:
        return 1e6 * self.episodes / self.requests if self.requests else 0.0

    @property
    def ci(self) -> tuple[float, float]:
        """95% interval of episodes per million requests."""
        return per_million_ci(self.episodes, self.requests)

    def to_json(self) -> dict[str, Any]:
        lo, hi = self.ci
        return {"runs": self.runs, "requests": self.requests, "stuck": self.stuck, "episodes": self.episodes,
                "unknown": self.unknown, "seconds": round(self.seconds, 1),
                "stuck_per_million": round(self.stuck_per_million, 2),
                "episodes_per_million": round(self.episodes_per_million, 2),
                "episodes_per_million_95": [round(lo, 2), round(hi, 2)]}


def table(rows: Iterable[tuple[str, str, bool, Any]]) -> dict[tuple[str, str, bool], Cell]:
    """(version, path, control, run.RunResult) rows to cells."""
    cells: dict[tuple[str, str, bool], Cell] = {}
    for version, path, control, r in rows:
        cells.setdefault((version, path, control), Cell()).add(r.requests, r.stuck, len(r.episodes), r.unknown, r.seconds)
    return cells
