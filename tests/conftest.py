"""Hypothesis profiles for the property tests: the package's own (harness.profiles).

    HYPOTHESIS_PROFILE=ci|dev|nightly pytest -n auto     (default: ci when CI=true, else dev)

ci       derandomized, no database: a red CI run is reproducible, a green one stays green
dev      random, the example database on (.hypothesis/ where pytest runs, shared by
         the pytest-xdist workers: each example is a file written atomically)
nightly  many examples, the database on"""
from __future__ import annotations

from hypothesis import settings

from harness import profiles

profiles.load()


# --fuzz-time S: lengthen the fuzz-based properties (local runs, nightly);
# the default keeps `pytest` to a few minutes.
def pytest_addoption(parser):  # type: ignore[no-untyped-def]
    parser.addoption("--fuzz-time", type=float, default=0.0, metavar="S",
                     help="seconds for each fuzz-based property test (default: the short CI budget)")


def pytest_configure(config):  # type: ignore[no-untyped-def]
    seconds = config.getoption("--fuzz-time")
    if seconds > 0:
        # hypothesis counts examples, not seconds: a few dozen examples a second (each explores schedules)
        settings.register_profile("fuzz-time", parent=settings.get_profile(profiles.chosen()),
                                  max_examples=max(100, int(40 * seconds)))
        settings.load_profile("fuzz-time")


import pytest  # noqa: E402


@pytest.fixture
def fuzz_time(request) -> float:  # type: ignore[no-untyped-def]
    """Seconds a fuzz-based property should spend beyond its fixed budget (0 by default)."""
    return float(request.config.getoption("--fuzz-time"))
