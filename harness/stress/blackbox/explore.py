"""Seeded exploration of a black-box target: one bounded run per configuration,
the target's seed shapes first, then random shapes from its mix,
alternating between the queue paths still unfound.  Controls: right after
any run that shows STUCK, the same shape runs with `nbthread 1`, and every
`control_every` runs the previous shape does too (the target's `control`:
one thread, nothing can race).  Every run that shows
STUCK is saved as a stress reproducer."""
from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from ...errors import QfuzzError
from . import BlackBoxTarget
from .repro import make, write
from .run import Progress, RunResult, run_once

MIN_RUN = 3.0  # a run shorter than this cannot show a 1 s queue timeout reliably
MAX_ERRORS = 5  # runs that fail to start before the exploration gives up


@dataclass
class Row:
    index: int
    config: Any  # the target's Config
    control: bool
    result: RunResult
    wall_start: float  # seconds since the exploration started, when this run began
    saved: Optional[Path] = None


@dataclass
class Exploration:
    seed: int
    started: float
    rows: list[Row] = field(default_factory=list)
    first_stuck: dict[str, float] = field(default_factory=dict)  # path -> exploration seconds
    errors: list[str] = field(default_factory=list)  # runs that could not run

    @property
    def controls(self) -> list[Row]:
        return [r for r in self.rows if r.control]

    @property
    def control_stuck(self) -> int:
        return sum(r.result.stuck for r in self.controls)


def plan(target: BlackBoxTarget, seed: int, paths: tuple[str, ...]) -> Callable[[int, set[str]], tuple[dict[str, Any], str]]:
    """The i-th configuration to try (without seconds/seed): the seeds of the
    paths not found yet, then random shapes for those paths in turn."""
    rnd = random.Random(seed)
    seeds = target.seeds
    queue: list[tuple[dict[str, Any], str]] = []
    for k in range(max(len(v) for v in seeds.values())):
        for p in paths:
            if k < len(seeds.get(p, [])):
                queue.append((seeds[p][k], p))
    turn = [0]

    def nxt(i: int, found: set[str]) -> tuple[dict[str, Any], str]:
        while queue:
            shape, p = queue.pop(0)
            if p not in found:
                return shape, p
        open_paths = [p for p in paths if p not in found] or list(paths)
        p = open_paths[turn[0] % len(open_paths)]
        turn[0] += 1
        return target.generate(rnd, p), p

    return nxt


def explore(
    target: BlackBoxTarget,
    *,
    seed: int,
    seconds: float,
    run_seconds: float,
    program: str,
    version: str,
    paths: Optional[tuple[str, ...]] = None,
    base: Optional[dict[str, Any]] = None,
    corpus: Optional[Path] = None,
    control_every: int = 4,
    until_found: bool = True,
    on_run: Optional[Callable[[Row], None]] = None,
    on_progress: Optional[Callable[[int, Any, Progress], None]] = None,
    on_error: Optional[Callable[[int, Any, str], None]] = None,
) -> Exploration:
    """Explore for `seconds` of wall time (each run at most `run_seconds`);
    with `until_found`, stop once every path in `paths` showed STUCK."""
    paths = paths or target.paths
    ex = Exploration(seed, time.monotonic())
    nxt = plan(target, seed, paths)
    last: Optional[dict[str, Any]] = None
    controls: list[dict[str, Any]] = []  # nbthread 1 runs owed: of each shape that showed STUCK
    i = 0
    while True:
        elapsed = time.monotonic() - ex.started
        left = seconds - elapsed
        done = until_found and all(p in ex.first_stuck for p in paths) and not controls
        if left < MIN_RUN + 2 or done:
            break
        is_control = bool(controls) or (
            control_every > 0 and last is not None and i % control_every == control_every - 1
        )
        if controls:
            shape = controls.pop(0)
        elif is_control:
            assert last is not None
            shape = target.control(last)
        else:
            shape, _ = nxt(i, set(ex.first_stuck))
            last = shape
        cfg = target.config(
            {**(base or {}), **shape, "seconds": round(max(MIN_RUN, min(run_seconds, left - 2)), 1),
             "seed": seed * 1000 + i},
            f"exploration run {i}",
        )
        progress = (lambda p, i=i, cfg=cfg: on_progress(i, cfg, p)) if on_progress else None
        try:
            result = run_once(target, cfg, program, version, on_progress=progress)
        except QfuzzError as exc:  # e.g. the program too starved of CPU to start: skip this run, not the search
            ex.errors.append(f"run {i}: {exc}")
            if on_error:
                on_error(i, cfg, str(exc))
            if len(ex.errors) >= MAX_ERRORS:
                raise
            i += 1
            continue
        row = Row(i, cfg, is_control, result, elapsed)
        if result.stuck and not is_control and control_every > 0:
            controls.append(target.control(shape))  # the same shape on one thread must stay clean
        if result.stuck:
            for p in result.paths:
                fs = result.first_stuck_seconds or 0.0
                ex.first_stuck.setdefault(p, elapsed + fs)
            if corpus is not None:
                row.saved = write(corpus, make(target, result, {
                    "engine": "explore", "seed": seed, "run": i, "control": is_control,
                    "exploration_seconds": round(elapsed + (result.first_stuck_seconds or 0.0), 1),
                }))
        ex.rows.append(row)
        if on_run:
            on_run(row)
        i += 1
    return ex
