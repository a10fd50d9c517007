"""How many schedules a drawn workload gets: a power schedule (AFL's
"energy"; libFuzzer's entropic schedule also favours inputs with rare
features).  A workload starts with BASE schedules; every execution of it
that hits an interleaving feature seen fewer than 4 times in the campaign
(the core's counters, `rare_hits`) earns it BONUS more, up to MOST.  A race
that needs a rare workload *and* a rare schedule on it (b11495652 under
random walk) then gets the schedules where they pay, while a workload that
shows nothing new gives way to the next one soon (docs/engines.md has the
figures).

The counters are zeroed when a campaign starts and kept apart from what
minimizing and attributing run, so the same seed draws the same workloads
and schedules in any process."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Optional

from ..native import core

BASE = 4  # schedules every workload gets
BONUS = 8  # more for each execution that hit a rare feature
MOST = 128  # a workload's ceiling


class Energy:
    """The workload under way: its schedules granted and used."""

    def __init__(self, fixed: Optional[int] = None) -> None:
        self.fixed = fixed  # that many schedules for every workload (the campaigns before 2026-12: 16)
        self.granted = fixed or BASE
        self.used = 0

    def ran(self, rare_hits: int) -> None:
        self.used += 1
        if rare_hits and self.granted < MOST and not self.fixed:
            self.granted = min(MOST, self.granted + BONUS)

    @property
    def spent(self) -> bool:
        return self.used >= self.granted


def zero_features() -> None:
    """A campaign's start: no feature seen yet."""
    counters = core.features()
    counters[:] = bytes(len(counters))


@contextmanager
def features_kept() -> Iterator[None]:
    """Minimizing and attributing run executions of their own, for as long as
    their wall-time budget lasts: the campaign's counters must not see them."""
    counters = core.features()
    saved = bytes(counters)
    try:
        yield
    finally:
        counters[:] = saved
