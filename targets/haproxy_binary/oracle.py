"""Classify every queue timeout of a run as STUCK or legitimate, from real
evidence only: the HAProxy log line and the `show stat` samples.

The rule.  A log line with termination state `sQ` waited Tw ms in a queue,
over the window W = [tr+TR, tr+TR+Tw].  The servers it could use are the
server named in the line (server queue) or, for `<NOSRV>` (backend queue),
every server usable over the whole window (UP, not in maintenance); a
backup counts only when no active server was usable all along.  Shrink W by `margin` at both ends
(sampling and clock granularity).  The timeout is

* STUCK if some server it could use was idle over the whole shrunk window:
  its `stot` did not increase and every sample shows `scur == 0`.  A free
  slot sat next to a queued request for ~`timeout queue`: a lost wake-up.
* legitimate if every server it could use was busy at some point of it
  (served something, or had a connection open): ordinary overload.
* unknown otherwise: no busy evidence, and the samples do not cover the
  window densely (a gap longer than `max_gap`: HAProxy, starved of CPU, did
  not answer), or Tw is far below `timeout queue`.  Never counted as STUCK.

Busy evidence counts even across gaps (a connection seen, or stot growing
between two samples inside the window); idleness needs samples bracketing
the window with no gap longer than `max_gap`.

STUCK timeouts are grouped into episodes by the engine
(harness/stress/blackbox/verdicts.py)."""
from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any, Iterable, Optional, Sequence

from harness.stress.blackbox.verdicts import LEGIT, STUCK, UNKNOWN, Episode, episodes

from .log import LogEntry
from .stats import Sample

__all__ = ["LEGIT", "STUCK", "UNKNOWN", "Episode", "episodes", "Verdict", "classify", "classify_one"]


@dataclass(frozen=True)
class ServerWindow:
    """What one server did over a timeout's window."""

    server: str
    stot_from: int
    stot_to: int
    scur_max: int
    qcur_max: int
    samples: int

    @property
    def idle(self) -> bool:
        return self.stot_to == self.stot_from and self.scur_max == 0

    def to_json(self) -> dict[str, Any]:
        return {
            "server": self.server, "stot": [self.stot_from, self.stot_to], "scur_max": self.scur_max,
            "qcur_max": self.qcur_max, "samples": self.samples, "idle": self.idle,
        }


@dataclass
class Verdict:
    entry: LogEntry
    kind: str
    why: str
    window: tuple[float, float]  # the shrunk window judged
    servers: list[ServerWindow] = field(default_factory=list)
    backend_qcur_max: int = 0

    # the engine's verdicts.Judged
    @property
    def path(self) -> str:
        return self.entry.path

    @property
    def start(self) -> float:
        return self.entry.queued_at

    @property
    def end(self) -> float:
        return self.entry.left_queue_at

    @property
    def idle(self) -> list[str]:
        return [s.server for s in self.servers if s.idle]

    def to_json(self) -> dict[str, Any]:
        e = self.entry
        return {
            "kind": self.kind, "why": self.why, "path": e.path, "server": e.server or "<NOSRV>",
            "queued_at": round(e.queued_at, 3), "Tw_ms": e.Tw, "status": e.status, "term": e.term,
            "srv_queue_pos": e.srv_queue, "backend_queue_pos": e.backend_queue, "request": e.request,
            "log_line": e.line, "window": [round(self.window[0], 3), round(self.window[1], 3)],
            "backend_qcur_max": self.backend_qcur_max, "servers": [s.to_json() for s in self.servers],
        }


def _window_samples(samples: Sequence[Sample], times: Sequence[float], a: float, b: float) -> Optional[Sequence[Sample]]:
    """Samples from the last one at or before `a` to the first at or after `b`."""
    i = bisect.bisect_right(times, a) - 1
    j = bisect.bisect_left(times, b)
    if i < 0 or j >= len(samples):
        return None
    return samples[i : j + 1]


def _busy(name: str, inside: Sequence[Sample]) -> bool:
    """Positive evidence that `name` served during the window: a sample
    inside it shows a connection, or stot grew between two samples inside."""
    seen = [s.servers[name] for s in inside if name in s.servers]
    return any(st.scur > 0 for st in seen) or (len(seen) > 1 and seen[-1].stot > seen[0].stot)


def classify_one(
    e: LogEntry, samples: Sequence[Sample], times: Sequence[float], timeout_queue_ms: int,
    margin: float = 0.05, max_gap: float = 0.25,
) -> Verdict:
    a, b = e.queued_at + margin, e.left_queue_at - margin
    if e.Tw < 0.9 * timeout_queue_ms or b <= a:
        return Verdict(e, UNKNOWN, f"Tw {e.Tw} ms is not about timeout queue {timeout_queue_ms} ms", (a, b))
    inside = samples[bisect.bisect_left(times, a) : bisect.bisect_right(times, b)]
    ws = _window_samples(samples, times, a, b)
    first = ws[0] if ws else (inside[0] if inside else None)
    if first is None:
        return Verdict(e, UNKNOWN, "no stat samples around the window", (a, b))
    if e.server is not None:
        names = [e.server]
    else:  # the backend queue: any server usable over the whole window could have taken it
        span = ws or inside
        names = [n for n in first.servers if all(n in s.servers and s.servers[n].usable for s in span)]
        # a backup may serve the backend queue only while no active server is usable (HAProxy's rule)
        if any(not first.servers[n].backup for n in names):
            names = [n for n in names if not first.servers[n].backup]
    bq = max((s.qcur for s in (ws or inside)), default=0)
    # busy evidence needs no dense sampling: legitimate whatever the gaps
    if names and inside and all(_busy(n, inside) for n in names):
        found = [_server_window(n, inside) for n in names]
        busy = ", ".join(f"{w.server} stot +{w.stot_to - w.stot_from} scur<={w.scur_max}" for w in found)
        return Verdict(e, LEGIT, f"busy: {busy}", (a, b), found, bq)
    # STUCK needs samples bracketing the window, none far apart
    if ws is None:
        return Verdict(e, UNKNOWN, "the stat samples do not cover the window", (a, b))
    gap = max((y.t - x.t for x, y in zip(ws, ws[1:])), default=0.0)
    if gap > max_gap:
        return Verdict(e, UNKNOWN, f"stat samples {gap * 1000:.0f} ms apart inside the window", (a, b))
    found = [_server_window(n, ws) for n in names if n in ws[0].servers and n in ws[-1].servers]
    if not found:
        return Verdict(e, UNKNOWN, "no usable server in the samples", (a, b), found, bq)
    idle = [w for w in found if w.idle]
    if idle:
        w = idle[0]
        why = (f"{w.server} served nothing for {(b - a) * 1000:.0f} ms while this request waited "
               f"(stot stayed {w.stot_from}, scur 0 in all {w.samples} samples)")
        return Verdict(e, STUCK, why, (a, b), found, bq)
    busy = ", ".join(f"{w.server} stot +{w.stot_to - w.stot_from} scur<={w.scur_max}" for w in found)
    return Verdict(e, LEGIT, f"busy: {busy}", (a, b), found, bq)


def _server_window(n: str, ws: Sequence[Sample]) -> ServerWindow:
    seen = [s.servers[n] for s in ws if n in s.servers]
    return ServerWindow(n, seen[0].stot, seen[-1].stot, max(st.scur for st in seen), max(st.qcur for st in seen), len(seen))


def classify(
    entries: Iterable[LogEntry], samples: Sequence[Sample], timeout_queue_ms: int,
    margin: float = 0.05, max_gap: float = 0.25,
) -> list[Verdict]:
    """A verdict for every queue timeout (`sQ`) among `entries`."""
    times = [s.t for s in samples]
    return [
        classify_one(e, samples, times, timeout_queue_ms, margin, max_gap) for e in entries if e.queue_timeout
    ]
