"""HAProxy's state as the engine samples it (harness/stress/blackbox/sampler.py,
every 10 ms): `show stat` on the stats socket, per server qcur, scur, stot,
status and whether it is a backup, and the backend's qcur.  Samples are
written as JSON lines, the form tests/data/haproxy_binary/ records.
`StallWatch` watches them live for a stall (queued requests while a usable
server stays idle), so a run can stop once a STUCK is certain."""
from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass
from typing import Iterable, Optional

USABLE = ("UP", "no check", "OPEN")
WATCH_MAX_GAP = 0.25  # as oracle's max_gap: a longer silence restarts the live stall watch  # a server without health checks reports "no check"


@dataclass(frozen=True)
class ServerStat:
    qcur: int
    scur: int
    stot: int
    usable: bool
    backup: bool = False  # a backup server takes traffic only while no active server is usable


@dataclass(frozen=True)
class Sample:
    t: float  # epoch seconds, the midpoint of the request to the stats socket
    qcur: int  # the backend queue
    servers: dict[str, ServerStat]

    def to_json(self) -> dict[str, object]:
        return {
            "t": round(self.t, 4), "qcur": self.qcur,
            "servers": {n: [s.qcur, s.scur, s.stot, int(s.usable)] + ([1] if s.backup else []) for n, s in self.servers.items()},
        }

    @staticmethod
    def from_json(d: dict[str, object]) -> "Sample":
        servers = {str(n): ServerStat(int(v[0]), int(v[1]), int(v[2]), bool(v[3]), len(v) > 4 and bool(v[4]))  # type: ignore[arg-type]
                   for n, v in d["servers"].items()}  # type: ignore[union-attr]
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
    if "bck" in cols:
        ix["bck"] = cols.index("bck")
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
            backup = "bck" in ix and num("bck") > 0
            servers[name] = ServerStat(num("qcur"), num("scur"), num("stot"), status.startswith(USABLE), backup)
    return Sample(t, qcur, servers) if seen else None


def load_samples(lines: Iterable[str]) -> list[Sample]:
    return [Sample.from_json(json.loads(ln)) for ln in lines if ln.strip()]


def stats_command(path: str, command: str, timeout: float = 2.0) -> str:
    """One command on HAProxy's stats socket (non-interactive: one connection)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(path)
        s.sendall(command.encode() + b"\n")
        chunks = []
        while True:
            b = s.recv(65536)
            if not b:
                break
            chunks.append(b)
    return b"".join(chunks).decode(errors="replace")


def probe(stats_path: str) -> Optional[Sample]:
    """One sample of backend `be`, or None if HAProxy did not answer."""
    t0 = time.time()
    try:
        csv = stats_command(stats_path, "show stat be 6 -1", timeout=1.0)
    except OSError:
        return None
    return parse_stat(csv, (t0 + time.time()) / 2)


class StallWatch:
    """Live: the longest time a usable server stood idle while a queue it
    could serve was non-empty (a STUCK is certain once that exceeds
    `timeout queue`)."""

    def __init__(self) -> None:
        self._idle_since: dict[str, float] = {}
        self._queued_since: dict[str, float] = {}
        self.stall_seen: Optional[tuple[float, str, float]] = None  # (when, queue, idle seconds)

    def add(self, prev: Optional[Sample], s: Sample) -> None:
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

    def longest(self) -> float:
        return self.stall_seen[2] if self.stall_seen else 0.0
