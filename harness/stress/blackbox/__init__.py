"""The black-box stress engine: a real, unmodified program (a reverse proxy,
a server with a queue) under loopback HTTP load, its lost wake-ups judged
from the evidence the program itself produces.

The engine knows processes (procs), the load (load), a UDP line collector
(collector), periodic sampling (sampler), the STUCK / legitimate / unknown
classification interface and episodes (verdicts), one bounded run (run),
the seeded exploration with single-thread controls (explore), stress
reproducers (repro) and the A/B arithmetic (ab).  It knows no program: a
target speaks through a `BlackBoxTarget` descriptor (its configuration, how
to start it, how to sample it, how to judge a run, what to explore).  The
only one today is targets/haproxy_binary/ (HAProxy); a second program (say
nginx's upstream queue) is a second descriptor, with no engine change.
"""
from __future__ import annotations

import importlib
import random
from typing import Any, ContextManager, Optional, Protocol, Sequence

from ...errors import QfuzzError

# black-box targets by name: the module under harness.targets holding `BLACKBOX`
TARGETS = ("haproxy_binary",)


class Config(Protocol):
    """A target's run configuration (a frozen dataclass in practice)."""

    seconds: float
    seed: int
    threads: int

    def to_json(self) -> dict[str, Any]: ...
    def short(self) -> str: ...


class Running(Protocol):
    """The program under test, started for one run (a context manager that
    stops everything it started on exit)."""

    dir: Any  # the run's temporary directory (Path)
    port: int  # where the load connects (127.0.0.1)

    def probe(self) -> Optional[Any]:
        """One sample of the program's state (an object with `.t`, epoch
        seconds, and `.to_json()`), or None if it did not answer."""
    def exited(self) -> Optional[int]:
        """The program's exit status if it died, else None."""
    def finish(self) -> None:
        """Stop the program and drain its evidence (logs), before `judge`."""
    def judge(self, samples: Sequence[Any]) -> "Judgement": ...
    def pids(self) -> list[int]: ...
    # optional: `log_progress() -> (log file, bytes that mark a queue timeout in it)`, for live progress lines


class Judgement(Protocol):
    requests: int  # requests the program's evidence accounts for
    verdicts: list[Any]  # verdicts.Judged
    checks: dict[str, int]  # evidence completeness (e.g. dropped log lines): 0 is good
    entries: list[Any]


class BlackBoxTarget(Protocol):
    name: str
    program: str  # what is under test, for messages (e.g. "nginx")
    paths: tuple[str, ...]  # the queue paths a STUCK is reported on
    seeds: dict[str, list[dict[str, Any]]]
    keep_files: tuple[str, ...]

    def config(self, d: Any, where: str) -> Config: ...
    def generate(self, rnd: random.Random, path: str) -> dict[str, Any]: ...
    def control(self, shape: dict[str, Any]) -> dict[str, Any]: ...
    def start(self, cfg: Config, program: str) -> ContextManager[Running]: ...
    def stall_watch(self) -> Any:
        """A fresh live watcher: `.add(prev, sample)` and `.longest()` (seconds
        a usable server stood idle next to a queued request)."""
    def cli(self) -> Any:
        """The target's command module: main(argv, console) for `qfuzz stress
        NAME`, repro_file(path, console, runs, ...) and against(model
        reproducer, console, runs, seconds, ...) for `qfuzz repro`."""


def get(name: str) -> BlackBoxTarget:
    if name not in TARGETS:
        raise QfuzzError(f"unknown black-box target {name!r} (known: {', '.join(TARGETS)})")
    module = importlib.import_module(f"harness.targets.{name}")
    return module.BLACKBOX  # type: ignore[no-any-return]
