"""Hypothesis profiles for the property tests.

    HYPOTHESIS_PROFILE=ci|dev|nightly pytest -n auto     (default: ci when CI=true, else dev)

ci       derandomized (the same examples on every run and every machine), few
         examples, no database: a red CI run is reproducible, a green one stays green
dev      random, the example database on: a failure found once is replayed
         first on the next run
nightly  many examples, the database on
The database is one directory for every pytest-xdist worker (each example
is a file written atomically, so workers can share it) at the repository
root, wherever pytest was started from."""
from __future__ import annotations

import os
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis.database import DirectoryBasedExampleDatabase

DATABASE = DirectoryBasedExampleDatabase(str(Path(__file__).resolve().parent.parent / ".hypothesis" / "examples"))
SLOW_OK = [HealthCheck.too_slow]  # executions run real threads: some examples take milliseconds

settings.register_profile(
    "ci", derandomize=True, database=None, max_examples=50, deadline=None, print_blob=True, suppress_health_check=SLOW_OK
)
settings.register_profile("dev", max_examples=200, deadline=None, database=DATABASE, suppress_health_check=SLOW_OK)
settings.register_profile(
    "nightly", max_examples=20_000, deadline=None, database=DATABASE, print_blob=True, suppress_health_check=SLOW_OK
)


def _profile() -> str:
    name = os.environ.get("HYPOTHESIS_PROFILE", "").strip()
    if name:
        return name
    return "ci" if os.environ.get("CI", "").strip().lower() in ("true", "1") else "dev"


settings.load_profile(_profile())


# --fuzz-time S: lengthen the fuzz-based properties (local runs, nightly);
# the default keeps `pytest` to a few minutes.
def pytest_addoption(parser):  # type: ignore[no-untyped-def]
    parser.addoption("--fuzz-time", type=float, default=0.0, metavar="S",
                     help="seconds for each fuzz-based property test (default: the short CI budget)")


def pytest_configure(config):  # type: ignore[no-untyped-def]
    seconds = config.getoption("--fuzz-time")
    if seconds > 0:
        # hypothesis counts examples, not seconds: a few hundred examples a second
        settings.register_profile("fuzz-time", parent=settings.get_profile(_profile()),
                                  max_examples=max(50, int(300 * seconds)))
        settings.load_profile("fuzz-time")


import pytest  # noqa: E402


@pytest.fixture
def fuzz_time(request) -> float:  # type: ignore[no-untyped-def]
    """Seconds a fuzz-based property should spend beyond its fixed budget (0 by default)."""
    return float(request.config.getoption("--fuzz-time"))
