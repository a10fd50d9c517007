"""Hypothesis settings profiles for qfuzz property tests, registered when this
module is imported:

    # conftest.py
    from harness import profiles
    profiles.load()          # HYPOTHESIS_PROFILE if set, else ci when CI=true, else dev

ci       derandomized (the same examples on every run and every machine), no
         database: a red CI run is reproducible, a green one stays green
dev      random, hypothesis's example database on: a failure found once is
         replayed first on the next run
nightly  many examples, the database on, the failure blob printed

Executions run real threads, so no deadline (an example can take
milliseconds) and no too_slow health check.  `pytest --hypothesis-profile=ci`
works once this module is imported by a conftest.py.  Registering a profile
under an existing name replaces it: import this module before registering
your own profiles of the same names."""
from __future__ import annotations

import os
from typing import Optional

from hypothesis import HealthCheck, settings

PROFILES = ("ci", "dev", "nightly")
_SLOW_OK = [HealthCheck.too_slow]

settings.register_profile("ci", derandomize=True, database=None, max_examples=2000, deadline=None,
                          suppress_health_check=_SLOW_OK)
settings.register_profile("dev", max_examples=400, deadline=None, suppress_health_check=_SLOW_OK)
settings.register_profile("nightly", max_examples=20_000, deadline=None, print_blob=True,
                          suppress_health_check=_SLOW_OK)


def chosen() -> str:
    """HYPOTHESIS_PROFILE when set, else ci when CI is true (as CI services set it), else dev."""
    name = os.environ.get("HYPOTHESIS_PROFILE", "").strip()
    if name:
        return name
    return "ci" if os.environ.get("CI", "").strip().lower() in ("true", "1", "yes") else "dev"


def load(name: Optional[str] = None) -> str:
    """Load profile `name` (default: chosen()); returns its name."""
    name = name or chosen()
    settings.load_profile(name)
    return name
