"""What a target is on the Python side: its variants, its workload format, and
how a workload is packed for the native core.  Each target under targets/
subclasses Target (see targets/haproxy_queue/__init__.py and docs/targets.md)."""
from __future__ import annotations

import fnmatch
import json
import random
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping, Optional

from .errors import WorkloadError
from .native import TARGET_INDEX, TARGET_LABELS


@dataclass(frozen=True)
class Pattern:
    """A class of failures, matched against a verdict's signature parts.
    Fields are shell-style patterns; `why` says which upstream bug it is."""

    kind: str
    path: str = "*"
    label_a: str = "*"
    label_b: str = "*"
    why: str = ""

    def matches(self, kind: str, path: str, label_a: str, label_b: str) -> bool:
        return all(
            fnmatch.fnmatchcase(value, pat)
            for value, pat in ((kind, self.kind), (path, self.path), (label_a, self.label_a), (label_b, self.label_b))
        )

    def __str__(self) -> str:
        parts = [self.kind, self.path]
        if self.label_a != "*" or self.label_b != "*":
            parts += [self.label_a, self.label_b]
        return ":".join(parts)


@dataclass(frozen=True)
class Variant:
    """One build of the target: a set of switches and what it is expected to show."""

    name: str
    bits: int
    about: str
    expect: str  # "bugs", "clean", or "clean as far as upstream knows"
    shows: tuple[Pattern, ...] = ()  # failures it may show (known bugs of this tree), most specific first
    must_show: tuple[Pattern, ...] = ()  # failures a campaign must find (canaries)
    mix: str = "basic"  # a hand-picked mix that exercises it (optional; campaigns use the target's default_mix)

    @property
    def expected_clean(self) -> bool:
        return self.expect != "bugs"

    def explains(self, kind: str, path: str, label_a: str, label_b: str) -> Pattern | None:
        for pattern in self.shows:
            if pattern.matches(kind, path, label_a, label_b):
                return pattern
        return None


@dataclass(frozen=True)
class Bug:
    """A catalog entry: an upstream bug, modelled as a variant with its fix reverted."""

    commit: str
    subject: str
    date: str
    oracle: str  # which oracle must fire: STUCK, SAFETY, DEADLOCK, LIVELOCK, LOCK_ORDER
    variant: str
    pattern: Pattern
    story: str  # the interleaving in a sentence


@dataclass(frozen=True)
class Workload:
    """A validated workload in canonical form (every default filled in) plus
    its packed native form.  `data` is what reproducers store."""

    target: str
    data: Mapping[str, Any]
    packed: bytes = field(repr=False, compare=False)

    def to_json(self) -> dict[str, Any]:
        return json.loads(json.dumps(self.data))


@dataclass(frozen=True)
class Wait:
    """The failing wait, as the target tells it (Target.wait): one line for
    the summary and, when `limit` is set, a gauge of the wait against it."""

    line: str
    start: Optional[int] = None  # when the wait began
    stranded_from: Optional[int] = None  # from when it could have ended
    end: Optional[int] = None  # when it failed
    limit: Optional[int] = None  # the wait allowed
    start_text: str = ""  # under the gauge's left end
    end_text: str = ""  # under its right end
    legend: tuple[str, str] = ("", "")  # what the two parts of the gauge mean


class Target:
    """Base class of a target's Python descriptor."""

    name: str = ""
    description: str = ""
    variants: dict[str, Variant] = {}
    bugs: tuple[Bug, ...] = ()
    path_names: dict[int, str] = {0: "-"}
    version: int = 1  # bump when schedule points change: old decision lists would mean something else
    default_mix: str = "basic"  # the workload mix campaigns draw from unless told otherwise

    @property
    def index(self) -> int:
        return TARGET_INDEX[self.name]

    def native_index(self, variant: str) -> int:
        """The index core.run() takes for `variant` (a program target builds one object per variant)."""
        return self.index

    def labels_for(self, variant: str) -> list[tuple[str, str]]:
        return self.labels

    @property
    def labels(self) -> list[tuple[str, str]]:
        """(identifier, description) per native label id."""
        return TARGET_LABELS[self.name]

    def variant(self, name: str) -> Variant:
        try:
            return self.variants[name]
        except KeyError:
            raise WorkloadError(
                f"unknown variant {name!r} of target {self.name} (variants: {', '.join(self.variants)})"
            ) from None

    # -- workloads: each target implements these --------------------------------
    def canonical(self, data: Any, where: str = "workload") -> dict[str, Any]:
        """Validate raw JSON data; return it with every default filled in.
        Raise WorkloadError naming the field on bad input."""
        raise NotImplementedError

    def pack(self, data: Mapping[str, Any]) -> bytes:
        raise NotImplementedError

    def counter_names(self, data: Mapping[str, Any]) -> list[str]:
        raise NotImplementedError

    def generate(self, rnd: random.Random, mix: str = "basic") -> dict[str, Any]:
        """A random workload from one of the target's mixes (raw; canonical() is applied)."""
        raise NotImplementedError

    def seed_workloads(self) -> dict[str, dict[str, Any]]:
        return {}

    def size(self, data: Mapping[str, Any]) -> dict[str, int]:
        raise NotImplementedError

    def shrink(self, data: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        """Smaller workloads to try, most promising first (for the minimizer)."""
        return iter(())

    def estimate_steps(self, data: Mapping[str, Any]) -> int:
        return 100

    def budget(self, data: Mapping[str, Any]) -> int:
        return 20000

    def fixes(self) -> dict[int, str]:
        """Variant bit -> the name of the fix that clearing it applies (an
        upstream commit id, "commit/part" for a fix modelled in parts).  Bits
        not named here are not fixes (the coarse control's giant lock)."""
        return {}

    def jitter(self, data: Mapping[str, Any]) -> int:
        """The timer window (virtual time) the core may delay a due timer by
        to meet a later one (native/core.c, timer jitter); 0: off."""
        return 0

    # -- helpers ------------------------------------------------------------
    def workload(self, data: Any, where: str = "workload") -> Workload:
        if isinstance(data, Workload):
            if data.target != self.name:
                raise WorkloadError(f"{where}: a workload of target {data.target}, not {self.name}")
            return data
        canon = self.canonical(data, where)
        return Workload(self.name, canon, self.pack(canon))

    def label(self, label_id: int, variant: Optional[str] = None) -> tuple[str, str]:
        from .native import CORE_LABELS

        labels = self.labels if variant is None else self.labels_for(variant)
        if 0 <= label_id < len(labels):
            return labels[label_id]
        return CORE_LABELS.get(label_id, ("-", "-"))

    def verdict_path(self, kind: str, number: int, detail: str) -> str:
        """The name of a verdict's path (part of its signature)."""
        return self.path_names.get(number, str(number))

    # -- how traces read (swimlane.py, htmltrace.py): the generic layer has no words of its own
    def roles(self, verdict: Any) -> tuple[str, str]:
        """What critical events A and B are, in this target's words ("" = say nothing)."""
        return ("", "")

    def window(self, verdict: Any) -> Optional[str]:
        """The name of the window from the later critical event to the failure (None: not marked)."""
        return None

    def wait(self, ex: Any) -> Optional[Wait]:
        """The failing wait of `ex` (an Execution), or None."""
        return None

    def value_text(self, label: str, value: int) -> Optional[str]:
        """How a trace row shows its operation's value (None: the generic reading of its description)."""
        return None

    def sites(self, variant: str, offsets: list[int]) -> list[str]:
        """`function (file:line)` per call-site offset of the trace ("" = none)."""
        return [""] * len(offsets)

    def site_function(self, variant: str, offset: int, caller: int = 0) -> str:
        """The function a critical event's call site (an offset) is in, for signatures ("" = none);
        `caller`: the call site of that function, one frame up (0: unknown)."""
        return ""

    def shows_trace(self, kind: str) -> bool:
        """Whether `qfuzz fuzz` prints the swim-lane of a failure of this kind."""
        return kind == "STUCK"

    def program_block(self) -> Optional[dict[str, Any]]:
        """A reproducer's "program" block (sources and their hashes); None for compiled-in targets."""
        return None
