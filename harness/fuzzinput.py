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

A target brings its decoder as decode_workload(reader) / encode_workload(workload)
methods of its descriptor (haproxy_queue: targets/haproxy_queue/fuzz_encoding.py),
or registers functions by target name (`register`).

A target whose input also picks the variant (a C program with several
`--variant`s and none pinned: ProgramTarget.chooses_variant) reads one byte
for it first, before its workload (decode_input); every other target's
inputs decode as they always did.
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


def chooses_variant(target: Target) -> bool:
    """Whether this target's inputs begin with a variant byte."""
    chooses = getattr(target, "chooses_variant", None)
    return bool(chooses and chooses())


def decode_input(
    target: str | Target, data: bytes, variant: str, *, workload: Any = None
) -> tuple[str, Workload, Scheduler]:
    """decode(), and the variant to run: the input's choice when the target lets
    its inputs choose (not with a pinned workload), else `variant`."""
    from .targets import get

    t = get(target)
    data = bytes(data)
    if workload is None and chooses_variant(t):
        r = Reader(data)
        variant = t.decode_variant(r)  # type: ignore[attr-defined]
        data = r.rest()
    w, scheduler = decode(t, data, workload=workload)
    return variant, w, scheduler


def encode(target: str | Target, workload: Any, decisions: bytes = b"", *, variant: Optional[str] = None,
           **schedule: Any) -> bytes:
    """An input that decodes to `workload` (as near as the encoding allows)
    under `decisions`, on `variant` when the target's inputs choose it: a
    seed for a fuzzing corpus."""
    from .targets import get

    t = get(target)
    head = b""
    if chooses_variant(t):
        head = t.encode_variant(variant if variant is not None else next(iter(t.variants)))  # type: ignore[attr-defined]
    enc = _ENCODERS.get(t.name)
    if enc is None and hasattr(t, "encode_workload"):
        enc = lambda target, w: target.encode_workload(w)  # noqa: E731
    if enc is None:
        raise QfuzzError(f"target {t.name} has no fuzz-input encoder (harness/fuzzinput.py)")
    return head + enc(t, t.workload(workload).to_json()) + encode_schedule(decisions, **schedule)
