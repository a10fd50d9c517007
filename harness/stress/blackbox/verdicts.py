"""The classification interface: every queue timeout of a run gets a verdict,
STUCK (a lost wake-up: a usable resource sat idle for the whole wait),
legitimate (overload) or unknown (not enough evidence; never counted as
STUCK).  A target's oracle produces them; the engine counts them and groups
STUCK ones into episodes (one lost wake-up strands everything queued behind
it)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Protocol

STUCK, LEGIT, UNKNOWN = "STUCK", "legitimate", "unknown"


class Judged(Protocol):
    kind: str  # STUCK, LEGIT or UNKNOWN
    why: str

    @property
    def path(self) -> str: ...  # the queue it waited in
    @property
    def start(self) -> float: ...  # when the wait began (epoch seconds)
    @property
    def end(self) -> float: ...  # when it ended
    @property
    def idle(self) -> list[str]: ...  # the resources (servers) seen idle during the wait
    def to_json(self) -> dict[str, Any]: ...


@dataclass
class Episode:
    start: float
    end: float
    verdicts: list[Any]  # Judged

    @property
    def paths(self) -> list[str]:
        return sorted({v.path for v in self.verdicts})

    def to_json(self) -> dict[str, Any]:
        first = self.verdicts[0]
        idle = sorted({name for v in self.verdicts for name in v.idle})
        return {
            "start": round(self.start, 3), "end": round(self.end, 3), "stuck": len(self.verdicts),
            "paths": self.paths, "idle_servers": idle, "first": first.to_json(),
        }


def episodes(verdicts: Iterable[Any], join: float = 0.5) -> list[Episode]:
    """STUCK verdicts whose waits overlap, or lie within `join` seconds."""
    stuck = sorted((v for v in verdicts if v.kind == STUCK), key=lambda v: v.start)
    out: list[Episode] = []
    for v in stuck:
        if out and v.start <= out[-1].end + join:
            out[-1].end = max(out[-1].end, v.end)
            out[-1].verdicts.append(v)
        else:
            out.append(Episode(v.start, v.end, [v]))
    return out
