"""One stress run of the real HAProxy: start the stack, sample its stats,
drive the load, stop everything, then judge every queue timeout from the log
and the samples (binary_oracle)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from ..child import python
from ..errors import QfuzzError
from .binary_config import StressConfig
from .binary_log import LogEntry, parse_file
from .binary_oracle import LEGIT, STUCK, UNKNOWN, Episode, Verdict, classify, episodes
from .binary_procs import Stack, _die_with_parent, _harness_root, stats_command, stop_process
from .binary_stats import Sample, Sampler

SAMPLE_INTERVAL = 0.01
KEEP_FILES = ("haproxy.cfg", "haproxy.log", "haproxy.err", "samples.jsonl", "load.json")


@dataclass
class Progress:
    elapsed: float
    lines: int
    queue_timeouts: int
    stall: float  # the longest live stall seen so far (seconds)


@dataclass
class RunResult:
    config: StressConfig
    haproxy_version: str
    started: float
    seconds: float
    requests: int  # httplog lines of our requests
    responses: int  # responses the clients received
    client_errors: dict[str, int]
    status: dict[str, int]
    verdicts: list[Verdict]
    episodes: list[Episode]
    samples: int
    max_sample_gap: float
    dropped_logs: int  # HAProxy's own DroppedLogs counter
    udp_drops: int  # the kernel's drops on our log socket
    logs_missing: int  # responses without a log line
    stopped_early: bool
    haproxy_exit: Optional[int] = None  # set if HAProxy died during the run
    entries: list[LogEntry] = field(default_factory=list, repr=False)

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
        ts = [v.entry.left_queue_at for v in self.verdicts if v.kind == STUCK]
        return min(ts) - self.started if ts else None

    @property
    def paths(self) -> list[str]:
        return sorted({v.entry.path for v in self.verdicts if v.kind == STUCK})

    def summary(self) -> dict[str, Any]:
        return {
            "requests": self.requests, "responses": self.responses, "seconds": round(self.seconds, 2),
            "queue_timeouts": len(self.verdicts), "stuck": self.stuck, "legitimate": self.legit,
            "unknown": self.unknown, "stuck_per_million": round(self.stuck_per_million, 2),
            "episodes": len(self.episodes), "paths": self.paths,
            "first_stuck_seconds": None if self.first_stuck_seconds is None else round(self.first_stuck_seconds, 2),
            "status": self.status, "client_errors": self.client_errors, "dropped_logs": self.dropped_logs, "udp_drops": self.udp_drops,
            "logs_missing": self.logs_missing, "samples": self.samples,
            "max_sample_gap_ms": round(self.max_sample_gap * 1000, 1), "haproxy": self.haproxy_version,
            "haproxy_exit": self.haproxy_exit,
        }


class LogTail:
    """Counts lines and queue timeouts of the growing log, for live progress."""

    def __init__(self, path: Path):
        self.path = path
        self.pos = 0
        self.lines = 0
        self.sq = 0
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
        self.sq += chunk.count(b" sQ")


def _dropped_logs(stats_path: str) -> int:
    try:
        for line in stats_command(stats_path, "show info").splitlines():
            if line.startswith("DroppedLogs:"):
                return int(line.split(":")[1])
    except (OSError, ValueError):
        pass
    return -1


def run_once(
    cfg: StressConfig,
    haproxy: str,
    haproxy_version: str = "?",
    *,
    stop_on_stuck: bool = True,
    keep: Optional[Path] = None,
    on_progress: Optional[Callable[[Progress], None]] = None,
) -> RunResult:
    """Run `cfg` once.  With `stop_on_stuck`, the load stops as soon as the
    sampler has seen a usable server idle next to a queued request for longer
    than `timeout queue` (the STUCK timeout is then certain to be logged)."""
    tq = cfg.timeout_queue / 1000.0
    with Stack(cfg, haproxy) as stack:
        assert stack.dir is not None
        with open(stack.dir / "samples.jsonl", "w") as sample_out:
            sampler = Sampler(stack.stats_path, SAMPLE_INTERVAL, sample_out).start()
            load: Optional[subprocess.Popen[bytes]] = None
            try:
                load = subprocess.Popen(
                    python("-m", "harness.stress.binary_load", str(stack.port), json.dumps(cfg.to_json())),
                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                    preexec_fn=_die_with_parent, env={**os.environ, "PYTHONPATH": _harness_root()},
                )
                stopped_early, haproxy_exit = _drive(cfg, stack, sampler, load, stop_on_stuck, on_progress)
                out, err = load.communicate(timeout=tq + cfg.slow_ms / 1000.0 + 15)
                if load.returncode != 0:
                    raise QfuzzError(f"the load generator failed: {err.decode(errors='replace').strip().splitlines()[-1:]}")
                load_result = json.loads(out.decode())
                time.sleep(0.3)  # HAProxy logs a stream after its response is sent
                dropped = _dropped_logs(stack.stats_path)
            finally:
                stop_process(load, 1.0)
                sampler.stop()
        stack.stop_haproxy()
        (stack.dir / "load.json").write_text(json.dumps(load_result) + "\n")
        parsed = parse_file(str(stack.log_path))
        if keep is not None:
            keep.mkdir(parents=True, exist_ok=True)
            for name in KEEP_FILES:
                if (stack.dir / name).exists():
                    shutil.copy(stack.dir / name, keep / name)
    ours = [e for e in parsed.entries if e.request_id is not None]
    samples: list[Sample] = sampler.snapshot()
    verdicts = classify(ours, samples, cfg.timeout_queue)
    responses = sum(load_result["status"].values())
    return RunResult(
        config=cfg, haproxy_version=haproxy_version, started=load_result["t0"], seconds=load_result["t1"] - load_result["t0"],
        requests=len(ours), responses=responses, client_errors=load_result["errors"], status=load_result["status"],
        verdicts=verdicts, episodes=episodes(verdicts), samples=len(samples), max_sample_gap=sampler.max_gap,
        dropped_logs=dropped, udp_drops=stack.udp_drops, logs_missing=max(0, responses - len(ours)), stopped_early=stopped_early,
        haproxy_exit=haproxy_exit, entries=ours,
    )


def _drive(
    cfg: StressConfig, stack: Stack, sampler: Sampler, load: subprocess.Popen[bytes], stop_on_stuck: bool,
    on_progress: Optional[Callable[[Progress], None]],
) -> tuple[bool, Optional[int]]:
    """Wait for the load to finish; stop it early on a certain stall or if
    HAProxy dies.  Returns (stopped early, HAProxy's exit status if it died)."""
    tq = cfg.timeout_queue / 1000.0
    tail = LogTail(stack.log_path)
    t0 = time.monotonic()
    next_report = t0
    while load.poll() is None:
        time.sleep(0.05)
        now = time.monotonic()
        assert stack.haproxy_proc is not None
        if stack.haproxy_proc.poll() is not None:
            load.terminate()
            return True, stack.haproxy_proc.returncode
        if stop_on_stuck and sampler.longest_stall() > 0.9 * tq:
            load.terminate()  # no new requests; queued ones end (or time out) by themselves
            return True, None
        if on_progress and now >= next_report:
            tail.poll()
            on_progress(Progress(now - t0, tail.lines, tail.sq, sampler.longest_stall()))
            next_report = now + 1.0
    return False, None
