"""Sample HAProxy's `show stat` often (default every 10 ms) on a background
thread: per server qcur, scur, stot and status, and the backend's qcur.

Samples are kept in memory and written as JSON lines (one per sample), the
form tests/data/haproxy_binary/ records.  The sampler also watches live for a
stall (queued requests while a usable server stays idle), so a run can stop
once a STUCK is certain instead of running its full time."""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from typing import IO, Iterable, Optional

from .binary_procs import stats_command

USABLE = ("UP", "no check", "OPEN")
WATCH_MAX_GAP = 0.25  # as binary_oracle's max_gap: a longer silence restarts the live stall watch  # a server without health checks reports "no check"


@dataclass(frozen=True)
class ServerStat:
    qcur: int
    scur: int
    stot: int
    usable: bool


@dataclass(frozen=True)
class Sample:
    t: float  # epoch seconds, the midpoint of the request to the stats socket
    qcur: int  # the backend queue
    servers: dict[str, ServerStat]

    def to_json(self) -> dict[str, object]:
        return {
            "t": round(self.t, 4), "qcur": self.qcur,
            "servers": {n: [s.qcur, s.scur, s.stot, int(s.usable)] for n, s in self.servers.items()},
        }

    @staticmethod
    def from_json(d: dict[str, object]) -> "Sample":
        servers = {str(n): ServerStat(int(v[0]), int(v[1]), int(v[2]), bool(v[3])) for n, v in d["servers"].items()}  # type: ignore[union-attr]
        return Sample(float(d["t"]), int(d["qcur"]), servers)  # type: ignore[arg-type]


def parse_stat(csv: str, t: float, backend: str = "be") -> Optional[Sample]:
    """One `show stat` CSV answer to a Sample of `backend` (None if absent)."""
    lines = csv.splitlines()
    if not lines or not lines[0].startswith("# "):
        return None
    cols = lines[0][2:].split(",")
    try:
        ix = {k: cols.index(k) for k in ("pxname", "svname", "qcur", "scur", "stot", "status")}
    except ValueError:
        return None
    qcur, servers, seen = 0, {}, False
    for line in lines[1:]:
        f = line.split(",")
        if len(f) <= max(ix.values()) or f[ix["pxname"]] != backend:
            continue

        def num(key: str) -> int:
            v = f[ix[key]]
            return int(v) if v.isdigit() else 0

        name = f[ix["svname"]]
        if name == "BACKEND":
            qcur, seen = num("qcur"), True
        elif name != "FRONTEND":
            status = f[ix["status"]]
            servers[name] = ServerStat(num("qcur"), num("scur"), num("stot"), status.startswith(USABLE))
    return Sample(t, qcur, servers) if seen else None


def load_samples(lines: Iterable[str]) -> list[Sample]:
    return [Sample.from_json(json.loads(ln)) for ln in lines if ln.strip()]


class Sampler:
    """Polls the stats socket every `interval` seconds until stopped."""

    def __init__(self, stats_path: str, interval: float = 0.01, out: Optional[IO[str]] = None):
        self.path = stats_path
        self.interval = interval
        self.out = out
        self.samples: list[Sample] = []
        self.errors = 0
        self.max_gap = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="qfuzz-stat-sampler", daemon=True)
        self._lock = threading.Lock()
        # live stall watch: since when each server has been idle, the queues non-empty
        self._idle_since: dict[str, float] = {}
        self._queued_since: dict[str, float] = {}
        self.stall_seen: Optional[tuple[float, str, float]] = None  # (when, queue, idle seconds)

    def start(self) -> "Sampler":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        nxt = time.monotonic()
        while not self._stop.is_set():
            t0 = time.time()
            try:
                csv = stats_command(self.path, "show stat be 6 -1", timeout=1.0)
            except OSError:
                self.errors += 1
                csv = ""
            t1 = time.time()
            s = parse_stat(csv, (t0 + t1) / 2)
            if s is not None:
                self._add(s)
            nxt += self.interval
            delay = nxt - time.monotonic()
            if delay > 0:
                self._stop.wait(delay)
            else:
                nxt = time.monotonic()  # fell behind: do not burst to catch up

    def _add(self, s: Sample) -> None:
        with self._lock:
            prev = self.samples[-1] if self.samples else None
            self.samples.append(s)
        if prev is not None:
            self.max_gap = max(self.max_gap, s.t - prev.t)
        if self.out is not None:
            self.out.write(json.dumps(s.to_json(), separators=(",", ":")) + "\n")
        self._watch(prev, s)

    def _watch(self, prev: Optional[Sample], s: Sample) -> None:
        blind = prev is None or s.t - prev.t > WATCH_MAX_GAP  # HAProxy did not answer: we know nothing
        for name, st in s.servers.items():
            p = prev.servers.get(name) if prev else None
            busy = blind or st.scur > 0 or p is None or st.stot != p.stot or not st.usable
            if busy:
                self._idle_since[name] = s.t
            for queue, length in ((name, st.qcur), ("backend", s.qcur)):
                if length == 0:
                    self._queued_since.pop(queue, None)
                else:
                    self._queued_since.setdefault(queue, s.t)
        for name in s.servers:
            for queue in (name, "backend"):
                if queue in self._queued_since:
                    stalled = s.t - max(self._idle_since[name], self._queued_since[queue])
                    if stalled > 0 and (self.stall_seen is None or stalled > self.stall_seen[2]):
                        self.stall_seen = (s.t, "backend-queue" if queue == "backend" else "server-queue", stalled)

    def longest_stall(self) -> float:
        return self.stall_seen[2] if self.stall_seen else 0.0

    def snapshot(self) -> list[Sample]:
        with self._lock:
            return list(self.samples)
