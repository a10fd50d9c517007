"""One fuzzer input, both dimensions: raw bytes decode into a workload AND a
thread schedule, so that every libFuzzer mutation moves one or the other.

    workload, scheduler = decode("haproxy_queue", data)
    harness.run("haproxy_queue", "pre-fix", workload, scheduler)

Rules every target decoder keeps:
  * total: every byte string decodes to a valid run (no rejection, no error);
  * monotone in size: missing bytes read as 0, and 0 always means "smallest"
    (b"" is the smallest workload under a schedule without preemption);
  * pure: the same bytes give the same workload and schedule, on any machine
    (`qfuzz repro` replays libFuzzer crash files through decode()).

The schedule part is common to all targets (see decode_schedule): one mode
byte (random continuation on/off, its seed), then one byte per *preemption*:
the low 2 bits choose which other thread runs, the high 6 bits how many
choice points pass without preemption before it.  A bug of depth d needs d
bytes, not one byte per choice point, and deleting a byte removes exactly one
preemption; the explicit decisions are expanded for the Bytes scheduler.

Target decoders live in a small registry keyed by target name (`register`),
so a target's descriptor class needs no fuzzer-specific method; a target
built at run time (a C program, harness.program) brings its own as
decode_workload(reader) / encode_workload(workload) methods.
"""
from __future__ import annotations

from typing import Any, Callable, Optional

from .errors import QfuzzError
from .schedulers import Bytes, Scheduler
from .target import Target, Workload

MAX_DECISIONS = 4096  # expanded explicit decisions (the step budget is a few thousand)
GAP_BITS = 6


class Reader:
    """Bytes consumed front to back; past the end every byte reads as 0."""

    def __init__(self, data: bytes, pos: int = 0):
        self.data = data
        self.pos = pos

    @property
    def left(self) -> int:
        return max(0, len(self.data) - self.pos)

    def byte(self) -> int:
        b = self.data[self.pos] if self.pos < len(self.data) else 0
        self.pos += 1
        return b

    def rest(self) -> bytes:
        return self.data[self.pos :]


def decode_schedule(data: bytes) -> Bytes:
    """The schedule section: [mode][preemption]...  mode bit 0 = when the
    explicit decisions run out, continue with a seeded random walk (seed =
    mode >> 1) instead of never preempting."""
    mode = data[0] if data else 0
    decisions = bytearray()
    for b in data[1:]:
        gap, who = b >> (8 - GAP_BITS), b & ((1 << (8 - GAP_BITS)) - 1)
        if len(decisions) + gap + 1 > MAX_DECISIONS:
            break
        decisions += bytes(gap)
        decisions.append(1 + who)  # index >= 1: another thread than the one running
    return Bytes(data=bytes(decisions), seed=mode >> 1, fallback_random=bool(mode & 1))


def encode_schedule(decisions: bytes, *, seed: int = 0, fallback_random: bool = False) -> bytes:
    """The inverse of decode_schedule for decision lists (0 = no preemption,
    1..4 = which other candidate): seeds a fuzzing corpus with a known
    schedule.  Trailing zeros are dropped (they change nothing)."""
    out = bytearray([(seed & 0x7F) << 1 | int(fallback_random)])
    gap = 0
    for d in decisions.rstrip(b"\0"):
        if d == 0:
            gap += 1
            continue
        if gap >= 1 << GAP_BITS:
            raise QfuzzError(f"{gap} choice points in a row without preemption: more than one input byte can say")
        out.append(gap << (8 - GAP_BITS) | ((d - 1) & 3))
        gap = 0
    return bytes(out)


WorkloadDecoder = Callable[[Target, Reader], dict[str, Any]]
WorkloadEncoder = Callable[[Target, dict[str, Any]], bytes]
_DECODERS: dict[str, WorkloadDecoder] = {}
_ENCODERS: dict[str, WorkloadEncoder] = {}


def register(target: str, *, encode: Optional[WorkloadEncoder] = None) -> Callable[[WorkloadDecoder], WorkloadDecoder]:
    """Class-free extension point: @register("name") on a function that reads
    a raw workload from a Reader (and an optional encoder for seed inputs)."""

    def deco(fn: WorkloadDecoder) -> WorkloadDecoder:
        _DECODERS[target] = fn
        if encode is not None:
            _ENCODERS[target] = encode
        return fn

    return deco


def supported(target: str | Target) -> bool:
    if _name(target) in _DECODERS:
        return True
    from .targets import get

    return hasattr(get(target), "decode_workload")


def _name(target: str | Target) -> str:
    return target if isinstance(target, str) else target.name


def decode(
    target: str | Target, data: bytes, *, workload: Any = None
) -> tuple[Workload, Scheduler]:
    """Decode a fuzzer input.  With `workload` given (a pinned workload: a
    Workload or its raw data), every byte is schedule."""
    from .targets import get

    t = get(target)
    data = bytes(data)
    if workload is not None:
        return t.workload(workload), decode_schedule(data)
    fn = _DECODERS.get(t.name)
    if fn is None and hasattr(t, "decode_workload"):
        fn = lambda target, reader: target.decode_workload(reader)  # noqa: E731
    if fn is None:
        raise QfuzzError(f"target {t.name} has no fuzz-input decoder (harness/fuzzinput.py)")
    r = Reader(data)
    w = t.workload(fn(t, r))
    return w, decode_schedule(r.rest())


def encode(target: str | Target, workload: Any, decisions: bytes = b"", **schedule: Any) -> bytes:
    """An input that decodes to `workload` (as near as the encoding allows)
    under `decisions`: a seed for a fuzzing corpus."""
    from .targets import get

    t = get(target)
    enc = _ENCODERS.get(t.name)
    if enc is None and hasattr(t, "encode_workload"):
        enc = lambda target, w: target.encode_workload(w)  # noqa: E731
    if enc is None:
        raise QfuzzError(f"target {t.name} has no fuzz-input encoder (harness/fuzzinput.py)")
    return enc(t, t.workload(workload).to_json()) + encode_schedule(decisions, **schedule)


# -- haproxy_queue ------------------------------------------------------------
#
# [c0][c1][server]*nsrv [request, 2 bytes]*nreq [event, 2 bytes]*nev [schedule]
#   c0: threads-1 (2 bits) | balance (2) | servers-1 (2) | redispatch (1) | maxpollevents 1 (1)
#   c1: requests (4 bits) | events (2) | timeout_queue choice (2)
#   server: maxconn-1 (2 bits) | backup (1) | down (1) | maxqueue (2) | minconn 1, fullconn 2 (1) | spare (1)
#   request: [at slot (3) | thread (3) | key (2)]
#            [duration-1 (2) | at slot high (2) | cookie (1) | cookie server (2) | poked 10 ms after arrival (1)]
#   event: [at slot (3) | thread (3) | action (2)] [server (3) | set_maxconn value-1 (3) | spare (2)]
# Times sit on a 10 ms grid, where arrivals meet service ends: that is where
# threads race (the same reasoning as the target's generate()).  Counts never
# exceed the records actually present, so a short input is a small workload.
#
# Left out on purpose: `set maxconn` to 0 (unlimited).  With it the `coarse`
# control variant fails on one thread (queued requests are left behind by
# design, not by a race), so every finding there would be noise.

HQ_BALANCES = ("roundrobin", "first", "leastconn", "hash")
HQ_TIMEOUTS = (50, 30, 100, 200)
HQ_ACTIONS = ("disable", "enable", "set_maxconn", "shutdown")


@register("haproxy_queue", encode=lambda t, w: _hq_encode(w))
def _hq_decode(t: Target, r: Reader) -> dict[str, Any]:
    c0, c1 = r.byte(), r.byte()
    threads = 1 + (c0 & 3)
    nsrv = 1 + min((c0 >> 4) & 3, max(0, r.left - 1))
    nreq_field, nev_field = c1 & 15, (c1 >> 4) & 3

    servers = []
    for _ in range(nsrv):
        b = r.byte()
        maxconn = 1 + (b & 3)
        servers.append(
            {
                "maxconn": maxconn,
                "minconn": 1 if b & 0x40 else maxconn,
                "maxqueue": (b >> 4) & 3,
                "backup": bool(b & 4),
                "down": bool(b & 8),
            }
        )
    requests = []
    for _ in range(min(nreq_field, r.left // 2)):
        a, b = r.byte(), r.byte()
        at = 10 * ((a & 7) + 8 * ((b >> 2) & 3))
        requests.append(
            {
                "at": at,
                "thread": ((a >> 3) & 7) % threads,
                "key": a >> 6,
                "duration": 10 * (1 + (b & 3)),
                "cookie": ((b >> 5) & 3) % nsrv if b & 0x10 else None,
                "poke": at + 10 if b & 0x80 else None,
            }
        )
    events = []
    for _ in range(min(nev_field, r.left // 2)):
        a, b = r.byte(), r.byte()
        action = HQ_ACTIONS[a >> 6]
        events.append(
            {
                "at": 10 * (a & 7),
                "thread": ((a >> 3) & 7) % threads,
                "action": action,
                "server": (b & 7) % nsrv,
                "value": 1 + ((b >> 3) & 7) if action == "set_maxconn" else 0,
            }
        )
    return {
        "threads": threads,
        "servers": servers,
        "backend": {
            "balance": HQ_BALANCES[(c0 >> 2) & 3],
            "timeout_queue": HQ_TIMEOUTS[c1 >> 6],
            "redispatch": bool(c0 & 0x40),
            "maxpollevents": 1 if c0 & 0x80 else 64,
            # minconn only means something below fullconn; 2 is the smallest that scales
            "fullconn": 2 if any(s["minconn"] != s["maxconn"] for s in servers) else 0,
        },
        "requests": requests,
        "events": events,
    }


def _hq_encode(w: dict[str, Any]) -> bytes:
    """Nearest input for a canonical haproxy_queue workload (values outside
    the encoding's ranges are clamped)."""
    b = w["backend"]
    servers, requests, events = w["servers"][:4], w["requests"][:15], w["events"][:3]
    c0 = (min(w["threads"], 4) - 1) | HQ_BALANCES.index(b["balance"]) << 2 | (len(servers) - 1) << 4
    c0 |= 0x40 * bool(b["redispatch"]) | 0x80 * (b["maxpollevents"] == 1)
    tq = HQ_TIMEOUTS.index(b["timeout_queue"]) if b["timeout_queue"] in HQ_TIMEOUTS else 0
    out = bytearray([c0, len(requests) | len(events) << 4 | tq << 6])
    for s in servers:
        out.append(
            (min(max(s["maxconn"], 1), 4) - 1) | 4 * bool(s["backup"]) | 8 * bool(s["down"])
            | min(s["maxqueue"], 3) << 4 | 0x40 * (s["minconn"] != s["maxconn"])
        )
    for q in requests:
        slot = min(q["at"] // 10, 31)
        cookie = q.get("cookie")
        out += bytes([
            (slot & 7) | (q["thread"] & 7) << 3 | (q["key"] & 3) << 6,
            (min(max(q["duration"] // 10, 1), 4) - 1) | (slot >> 3) << 2
            | (0 if cookie is None else 0x10 | (cookie & 3) << 5) | 0x80 * (q.get("poke") is not None),
        ])
    for e in events:
        value = max(e["value"], 1) - 1 if e["action"] == "set_maxconn" else 0
        out += bytes([min(e["at"] // 10, 7) | (e["thread"] & 7) << 3 | HQ_ACTIONS.index(e["action"]) << 6,
                      (e["server"] & 7) | (value & 7) << 3])
    return bytes(out)
