"""One bounded stress run of a black-box target: start the program (the
target's `start`), sample it, drive the load, stop everything, then let
the target judge every queue timeout from its evidence."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from ...child import python
from ...errors import QfuzzError
from . import BlackBoxTarget
from .procs import die_with_parent, harness_root, stop_process
from .sampler import Sampler
from .verdicts import LEGIT, STUCK, UNKNOWN, Episode, episodes

SAMPLE_INTERVAL = 0.01


@dataclass
class Progress:
    elapsed: float
    lines: int
    queue_timeouts: int
    stall: float  # the longest live stall seen so far (seconds)


@dataclass
class RunResult:
    config: Any  # the target's Config
    version: str  # the program's version
    started: float
    seconds: float
    requests: int  # requests the program's evidence (log) accounts for
    responses: int  # responses the clients received
    client_errors: dict[str, int]
    status: dict[str, int]
    verdicts: list[Any]
    episodes: list[Episode]
    samples: int
    max_sample_gap: float
    checks: dict[str, int]  # evidence completeness counters from the target (0 is good, -1 unknown)
    logs_missing: int  # responses without a log line
    stopped_early: bool
    program_exit: Optional[int] = None  # set if the program died during the run
    entries: list[Any] = field(default_factory=list, repr=False)
    outcomes: dict[int, str] = field(default_factory=dict)  # a timed scenario: request index -> status
    # what the target's instrumentation reported (e.g. a perturbation's plan and hit counts); {} if none
    instrumentation: dict[str, Any] = field(default_factory=dict)

    def count(self, kind: str) -> int:
        return sum(v.kind == kind for v in self.verdicts)

    @property
    def stuck(self) -> int:
        return self.count(STUCK)

    @property
    def legit(self) -> int:
        return self.count(LEGIT)

    @property
    def unknown(self) -> int:
        return self.count(UNKNOWN)

    @property
    def stuck_per_million(self) -> float:
        return 1e6 * self.stuck / self.requests if self.requests else 0.0

    @property
    def first_stuck_seconds(self) -> Optional[float]:
        """From the start of the load to the end of the first STUCK wait (when it became visible)."""
        ts = [v.end for v in self.verdicts if v.kind == STUCK]
        return min(ts) - self.started if ts else None

    @property
    def paths(self) -> list[str]:
        return sorted({v.path for v in self.verdicts if v.kind == STUCK})

    def summary(self) -> dict[str, Any]:
        return {
            "requests": self.requests, "responses": self.responses, "seconds": round(self.seconds, 2),
            "queue_timeouts": len(self.verdicts), "stuck": self.stuck, "legitimate": self.legit,
            "unknown": self.unknown, "stuck_per_million": round(self.stuck_per_million, 2),
            "episodes": len(self.episodes), "paths": self.paths,
            "first_stuck_seconds": None if self.first_stuck_seconds is None else round(self.first_stuck_seconds, 2),
            "status": self.status, "client_errors": self.client_errors, **self.checks,
            "logs_missing": self.logs_missing, "samples": self.samples,
            "max_sample_gap_ms": round(self.max_sample_gap * 1000, 1), "program_version": self.version,
            "program_exit": self.program_exit,
            **({"instrumentation": self.instrumentation} if self.instrumentation else {}),
        }


class LogTail:
    """Counts lines and queue timeouts (`marker`, the target's word for one) of a growing log, for live progress."""

    def __init__(self, path: Path, marker: bytes):
        self.path = path
        self.marker = marker
        self.pos = 0
        self.lines = 0
        self.queue_timeouts = 0
        self.rest = b""

    def poll(self) -> None:
        try:
            with open(self.path, "rb") as f:
                f.seek(self.pos)
                data = f.read()
        except OSError:
            return
        self.pos += len(data)
        data = self.rest + data
        cut = data.rfind(b"\n") + 1
        chunk, self.rest = data[:cut], data[cut:]
        self.lines += chunk.count(b"\n")
        self.queue_timeouts += chunk.count(self.marker)


def run_once(
    target: BlackBoxTarget,
    cfg: Any,
    program: str,
    version: str = "?",
    *,
    stop_on_stuck: bool = True,
    keep: Optional[Path] = None,
    on_progress: Optional[Callable[[Progress], None]] = None,
) -> RunResult:
    """Run `cfg` once.  With `stop_on_stuck`, the load stops as soon as the
    live watch has seen a usable server idle next to a queued request for
    longer than the queue timeout (the STUCK timeout is then certain to be
    logged).  A `Running` with `load_extra()` adds keys to the load's
    JSON (a timed scenario: its script and absolute start time)."""
    timeout = cfg.timeout_queue / 1000.0
    with target.start(cfg, program) as running:
        with open(running.dir / "samples.jsonl", "w") as sample_out:
            sampler = Sampler(running.probe, SAMPLE_INTERVAL, sample_out, target.stall_watch()).start()
            load: Optional[subprocess.Popen[bytes]] = None
            try:
                spec = {**cfg.to_json(), **(running.load_extra() if hasattr(running, "load_extra") else {})}
                load = subprocess.Popen(
                    python("-m", "harness.stress.blackbox.load", str(running.port), json.dumps(spec)),
                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                    preexec_fn=die_with_parent, env={**os.environ, "PYTHONPATH": harness_root()},
                )
                stopped_early, program_exit = _drive(timeout, running, sampler, load, stop_on_stuck, on_progress)
                out, err = load.communicate(timeout=timeout + getattr(cfg, "slow_ms", 0) / 1000.0 + 15)
                if load.returncode != 0:
                    raise QfuzzError(f"the load generator failed: {err.decode(errors='replace').strip().splitlines()[-1:]}")
                load_result = json.loads(out.decode())
            finally:
                stop_process(load, 1.0)
                sampler.stop()
        running.finish()
        (running.dir / "load.json").write_text(json.dumps(load_result) + "\n")
        samples = sampler.snapshot()
        judged = running.judge(samples)
        if keep is not None:
            keep.mkdir(parents=True, exist_ok=True)
            for name in (*target.keep_files, "samples.jsonl", "load.json"):
                if (running.dir / name).exists():
                    shutil.copy(running.dir / name, keep / name)
    responses = sum(load_result["status"].values())
    return RunResult(
        config=cfg, version=version, started=load_result["t0"], seconds=load_result["t1"] - load_result["t0"],
        requests=judged.requests, responses=responses, client_errors=load_result["errors"], status=load_result["status"],
        verdicts=judged.verdicts, episodes=episodes(judged.verdicts), samples=len(samples), max_sample_gap=sampler.max_gap,
        checks=judged.checks, logs_missing=max(0, responses - judged.requests), stopped_early=stopped_early,
        program_exit=program_exit, entries=judged.entries,
        outcomes={int(k): v for k, v in load_result.get("outcomes", {}).items()},
        instrumentation=dict(getattr(judged, "instrumentation", {}) or {}),
    )


def _drive(
    timeout: float, running: Any, sampler: Sampler, load: subprocess.Popen[bytes], stop_on_stuck: bool,
    on_progress: Optional[Callable[[Progress], None]],
) -> tuple[bool, Optional[int]]:
    """Wait for the load to finish; stop it early on a certain stall or if
    the program dies.  Returns (stopped early, the program's exit status if it died)."""
    # a target whose Running keeps a log names its queue-timeout marker (Running.log_progress)
    tail = LogTail(*running.log_progress()) if hasattr(running, "log_progress") else None
    t0 = time.monotonic()
    next_report = t0
    while load.poll() is None:
        time.sleep(0.05)
        now = time.monotonic()
        status = running.exited()
        if status is not None:
            load.terminate()
            return True, status
        if stop_on_stuck and sampler.longest_stall() > 0.9 * timeout:
            load.terminate()  # no new requests; queued ones end (or time out) by themselves
            return True, None
        if on_progress and now >= next_report:
            lines = queue_timeouts = 0
            if tail is not None:
                tail.poll()
                lines, queue_timeouts = tail.lines, tail.queue_timeouts
            on_progress(Progress(now - t0, lines, queue_timeouts, sampler.longest_stall()))
            next_report = now + 1.0
    return False, None
