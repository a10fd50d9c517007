"""The seeded campaigns' power schedule (harness/engines/energy.py): how many
schedules a drawn workload gets follows the rare interleaving features its
executions hit, and that stays deterministic however the process was used."""
from __future__ import annotations

import collections
import subprocess
import sys

from harness.engines.campaign import Campaign
from harness.engines.energy import BASE, MOST, Energy
from support import HQ, ROOT


def schedules_per_workload(campaign: Campaign, runs: int, **kw) -> list[int]:
    seen: list[int] = []
    campaign.run(runs=runs, on_execution=lambda i: seen.append(campaign.workload_number), **kw)
    counts = collections.Counter(seen)
    return [counts[n] for n in sorted(counts)]


def test_energy_grants_schedules_for_rare_hits_up_to_a_ceiling():
    e = Energy()
    for _ in range(BASE):
        assert not e.spent
        e.ran(0)
    assert e.spent  # nothing rare: BASE schedules
    e = Energy()
    for _ in range(MOST * 2):
        if e.spent:
            break
        e.ran(3)
    assert e.used == MOST  # rare hits every time: the ceiling


def test_a_campaign_gives_rare_workloads_more_schedules_and_plain_ones_the_base():
    counts = schedules_per_workload(Campaign(HQ, "pre-fix", "random", seed=3, minimize_seconds=0, attribute=False),
                                    runs=6000)[:-1]  # the last one was cut by `runs`
    assert max(counts) > BASE and min(counts) == BASE, counts
    assert all(BASE <= c <= MOST for c in counts), counts


def test_minimizing_does_not_change_what_the_campaign_runs_next():
    # minimizing runs executions for as long as its wall-time budget lasts: the feature
    # counters the energy reads must not see them, or the workloads drawn would depend on time
    plain = schedules_per_workload(Campaign(HQ, "pre-fix", "pct", seed=2, minimize_seconds=0, attribute=False), runs=3000)
    busy = schedules_per_workload(Campaign(HQ, "pre-fix", "pct", seed=2, minimize_seconds=0.3), runs=3000)
    assert plain == busy


def test_the_same_seed_runs_the_same_campaign_after_others_and_in_a_fresh_process():
    def findings(c: Campaign) -> list[tuple[str, int]]:
        return sorted((s, f.first_execution) for s, f in c.run(runs=2500).findings.items())

    mk = lambda: Campaign(HQ, "pre-fix", "random", seed=5, minimize_seconds=0, attribute=False)  # noqa: E731
    first = findings(mk())
    findings(Campaign(HQ, "revert-0144426df", "pos", seed=1, minimize_seconds=0, attribute=False))  # counters move
    assert findings(mk()) == first
    code = ("from harness.engines.campaign import Campaign; from harness.targets import get; "
            "c = Campaign(get('haproxy_queue'), 'pre-fix', 'random', seed=5, minimize_seconds=0, attribute=False); "
            "print(sorted((s, f.first_execution) for s, f in c.run(runs=2500).findings.items()))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.stdout.strip() == str(first), out.stderr
