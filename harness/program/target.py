"""ProgramTarget: an unmodified C program as a qfuzz target.

Each variant is its own build (the variant's macros on the compiler's
command line) and its own loaded object, so the native index is per
variant.  The workload is main()'s argument list; the labels come from the
runtime, the call sites of every trace record are symbolized from the
object's debug info.  Nothing here knows any particular program."""
from __future__ import annotations

import random
import re
import struct
import sys
from pathlib import Path
from typing import Any, Iterator, Mapping, Optional

from ..errors import QfuzzError, WorkloadError
from ..target import Target, Variant, Wait
from .spec import MAX_ARGS, ProgramSpec
from .symbols import Symbolizer

MAX_ARG_CHARS = 4096
ESTIMATED_STEPS = 200  # the generic estimate of a run's length in steps (measured_steps replaces it for PCT)
STEP_BUDGET = 100_000
SIGNATURE_FRAMES = 2  # functions per critical event in a signature: the caller's frame always gives two

# path numbers of the runtime's verdicts (native/rt/README.md)
PATHS = {0: "-", 1: "deadline", 2: "lost-wakeup"}

ROLES = {
    "STUCK": ("the wait nobody woke", "the last wake that missed it"),
    "DEADLOCK": ("a lock call that can never return", ""),
    "BLOCKING": ("the call that blocks outside qfuzz's control", ""),
    "FAIL": ("where the program failed", ""),
    "SAFETY": ("an unlock by a thread that does not hold the lock", ""),
}

# what the runtime's operations return in a trace record's value (native/rt: rt_done calls)
VALUES = {
    "ATOMIC_LOAD": lambda v: f" = {v}",
    "SPIN_LOAD": lambda v: f" = {v}",
    "ATOMIC_STORE": lambda v: f" <- {v}",
    "ATOMIC_RMW": lambda v: f" (was {v})",
    "ATOMIC_CAS": lambda v: " ok" if v else " FAILED",
    "MUTEX_TRYLOCK": lambda v: " ok" if v == 0 else " busy",
    "SPIN_LOCK": lambda v: "" if v == 0 else " busy",
    "COND_SIGNAL": lambda v: f" (woke {v})",
    "COND_BROADCAST": lambda v: f" (woke {v})",
    "SEM_POST": lambda v: f" (woke {v})",
    "FUTEX_WAKE": lambda v: f" (woke {v})",
    "PTHREAD_CREATE": lambda v: f" -> thread {v}" if v >= 0 else " FAILED",
    "EXIT": lambda v: f" with status {v}",
    "REQUEST": lambda v: f" {v} begins" if v >= 0 else f" {-v - 1} ends",  # qfuzz.h's qf_request_begin/_end
}


class _Size(dict):  # type: ignore[type-arg]
    """A program's workload size; counts a program does not have read as 0."""

    def __missing__(self, key: str) -> int:
        return 0


class ProgramTarget(Target):
    """The generic descriptor of a program built from `spec`."""

    version = 1

    def __init__(self, spec: ProgramSpec):
        self.spec = spec
        self.name = spec.name
        files = ", ".join(s.path for s in spec.sources)
        self.description = f"the C program {files}" + (f" (cflags {' '.join(spec.cflags)})" if spec.cflags else "")
        self.variants = {
            name: Variant(name, 0, " ".join(macros) or "built without extra macros", "unknown")
            for name, macros in spec.variants
        }
        self.path_names = dict(PATHS)
        # the command line defined several variants and pinned none: the fuzz input picks one
        self.variant_choice = False
        self._loaded: dict[str, dict[str, Any]] = {}
        self._steps: dict[tuple[str, tuple[str, ...]], int] = {}
        self._symbols: dict[str, Symbolizer] = {}

    # -- building and loading, once per variant ----------------------------------------
    def so_path(self, variant: str) -> Path:
        try:
            from .build import build
        except ImportError:
            raise QfuzzError("this qfuzz cannot build C programs (harness/program/build.py is missing)") from None
        from .build import CompileError

        self.variant(variant)
        macros = list(self.spec.variant_macros[variant])
        try:
            return Path(build([s.file for s in self.spec.sources], list(self.spec.cflags), macros))
        except CompileError as exc:  # gcc's own message, as gcc wrote it; then the one-line error
            sys.stderr.write(f"{exc}\n")
            names = ", ".join(s.path for s in self.spec.sources)
            raise QfuzzError(f"{names}: does not compile (variant {variant}; gcc's message above)") from None

    def loaded(self, variant: str) -> dict[str, Any]:
        if variant not in self._loaded:
            from ..native import core

            so = self.so_path(variant)
            if not hasattr(core, "load_program"):
                raise QfuzzError("this qfuzz was built without the program runtime (harness._native has no "
                                 "load_program); reinstall qfuzz")
            try:
                info = dict(core.load_program(str(so)))
            except RuntimeError as exc:  # the runtime's own one-line reason (no main(), a failed dlopen...)
                raise QfuzzError(f"{self.spec.sources[0].path}: {exc}") from None
            info["so"] = so
            self._loaded[variant] = info
            self._symbols[variant] = Symbolizer(so)
        return self._loaded[variant]

    def native_index(self, variant: str) -> int:
        return int(self.loaded(variant)["index"])

    @property
    def index(self) -> int:
        return self.native_index(next(iter(self.variants)))

    @property
    def labels(self) -> list[tuple[str, str]]:
        return self.labels_for(next(iter(self.variants)))

    def labels_for(self, variant: str) -> list[tuple[str, str]]:
        return [tuple(x) for x in self.loaded(variant).get("labels", [])]  # type: ignore[misc]

    def reset_note(self, variant: str) -> str:
        """How executions start fresh: "" for in-process segment reset, else why each runs in a forked child."""
        info = self.loaded(variant)
        if info.get("reset", "segments") == "segments":
            return ""
        why = info.get("reset_why") or "the program cannot be reset in process"
        return f"each execution runs in a forked child ({why})"

    def site(self, variant: str, offset: int) -> str:
        if not offset:
            return ""
        self.loaded(variant)
        return self._symbols[variant](offset)

    def site_function(self, variant: str, offset: int, caller: int = 0) -> str:
        """A critical event's place in a signature: the function that made the call and the
        function that called it ("worker>futex_wait"), whether either was inlined or not, so
        a compiler's or an edit's inlining decisions change nothing; no lines, so an edit
        elsewhere in the file changes nothing either.  The runtime gives the call's site and
        its caller's (one frame up, 0 when the caller is the runtime: main, a thread's start)."""
        if not offset:
            return ""
        self.loaded(variant)
        sym = self._symbols[variant]
        names = [*(sym.frames(caller) if caller else []), *sym.frames(offset)]
        return ">".join(names[-SIGNATURE_FRAMES:]) or f"+{offset:#x}"

    def sites(self, variant: str, offsets: list[int]) -> list[str]:
        if not any(offsets):
            return [""] * len(offsets)
        self.loaded(variant)
        sym = self._symbols[variant]
        sym.resolve(o for o in offsets if o)
        return [sym(o) for o in offsets]

    # -- the workload: main()'s arguments --------------------------------------------------
    def canonical(self, data: Any, where: str = "workload") -> dict[str, Any]:
        if not isinstance(data, dict) or set(data) - {"args"}:
            raise WorkloadError(f"{where}: expected {{\"args\": [\"...\", ...]}} (main()'s arguments)")
        args = data.get("args", [])
        if not isinstance(args, list) or len(args) > MAX_ARGS:
            raise WorkloadError(f"{where}.args: expected a list of at most {MAX_ARGS} strings")
        for i, a in enumerate(args):
            if not isinstance(a, str) or "\0" in a:
                raise WorkloadError(f"{where}.args[{i}]: expected a string without NUL, got {a!r}")
        if sum(len(a.encode("utf-8", "surrogateescape")) + 1 for a in args) > MAX_ARG_CHARS:
            raise WorkloadError(f"{where}.args: longer than {MAX_ARG_CHARS} bytes")
        return {"args": list(args)}

    def pack(self, data: Mapping[str, Any]) -> bytes:
        argv = [self.name, *data["args"]]
        blob = struct.pack("<i", len(argv)) + b"".join(a.encode("utf-8", "surrogateescape") + b"\0" for a in argv)
        return blob + bytes(-len(blob) % 4)

    def counter_names(self, data: Mapping[str, Any]) -> list[str]:
        return []

    def generate(self, rnd: random.Random, mix: str = "basic") -> dict[str, Any]:
        return {"args": list(rnd.choice(self.spec.args))}

    def seed_workloads(self) -> dict[str, dict[str, Any]]:
        return {" ".join(a) or "(no args)": {"args": list(a)} for a in self.spec.args}

    def size(self, data: Mapping[str, Any]) -> dict[str, int]:
        return _Size(args=len(data["args"]), arg_sum=_weight(data["args"]))  # numbers count by value: "1 1 1" < "2 2 2"

    def shrink(self, data: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        """Smaller argument lists: the campaign's own smaller lists first, then
        each number lowered (a thread or job count: fewer threads first),
        then the last argument dropped."""
        args = list(data["args"])
        seen = {tuple(args)}

        def new(cand: list[str]) -> Optional[dict[str, Any]]:
            if tuple(cand) in seen:
                return None
            seen.add(tuple(cand))
            return {"args": cand}

        for other in sorted(self.spec.args, key=lambda a: (len(a), _weight(a))):
            if (len(other), _weight(other)) < (len(args), _weight(args)):
                c = new(list(other))
                if c:
                    yield c
        for i, a in enumerate(args):
            if not a.isdigit():
                continue
            n = int(a)
            for smaller in dict.fromkeys((1, n // 2, n - 1, 0)):
                if 0 <= smaller < n:
                    c = new(args[:i] + [str(smaller)] + args[i + 1 :])
                    if c:
                        yield c
        if args:
            c = new(args[:-1])
            if c:
                yield c

    # -- the engines' inputs: atheris bytes and hypothesis draws pick one of the argument lists
    def decode_workload(self, reader: Any) -> dict[str, Any]:
        """harness.fuzzinput: one byte picks the argument list when there are several (0: the first)."""
        lists = self.spec.args
        return {"args": list(lists[reader.byte() % len(lists)] if len(lists) > 1 else lists[0])}

    def chooses_variant(self) -> bool:
        """harness.fuzzinput: whether an input's first byte picks the variant."""
        return self.variant_choice and len(self.variants) > 1

    def decode_variant(self, reader: Any) -> str:
        """One byte picks the variant, in the order they were defined (0: the first)."""
        names = list(self.variants)
        return names[reader.byte() % len(names)]

    def encode_variant(self, name: str) -> bytes:
        self.variant(name)
        return bytes([list(self.variants).index(name)])

    def encode_workload(self, data: Mapping[str, Any]) -> bytes:
        lists = self.spec.args
        if len(lists) == 1:
            return b""
        args = tuple(data["args"])
        return bytes([lists.index(args) if args in lists else 0])

    def hypothesis_workloads(self, **knobs: Any) -> Any:
        """harness.strategies: the argument lists, shrinking toward the first."""
        from hypothesis import strategies as st

        if knobs:
            raise QfuzzError(f"a program target takes no workload knobs (got {', '.join(knobs)})")
        return st.sampled_from([list(a) for a in self.spec.args]).map(lambda a: {"args": a})

    def estimate_steps(self, data: Mapping[str, Any]) -> int:
        return ESTIMATED_STEPS

    def measured_steps(self, variant: str, workload: Any) -> int:
        """PCT's k, the run's length in steps: PCT places its d-1 priority change points
        uniformly in [1, k], so a k far above the real length (the generic 200 against a
        small program's 24) puts most of them past the end and divides the chance of a
        depth-d bug by (k / length)^(d-1).  Measured once per variant and argument list,
        on the run without preemptions (deterministic: the same k on every machine)."""
        key = (variant, tuple(workload.data["args"]))
        if key not in self._steps:
            from ..runner import run
            from ..schedulers import Replay

            ex = run(self, variant, workload, Replay(b""), trace=False, features=False)
            self._steps[key] = max(1, ex.steps)
        return self._steps[key]

    def budget(self, data: Mapping[str, Any]) -> int:
        return STEP_BUDGET

    def verdict_path(self, kind: str, number: int, detail: str) -> str:
        """FAIL's path from the runtime's detail: "exit-N", "assert", "abort" (else "-"), so a
        usage error (exit 2) is never the same failure as the wrong result it was shrunk from."""
        path = super().verdict_path(kind, number, detail)
        if kind != "FAIL" or path != "-":
            return path
        m = re.match(r"the program exited with status (-?\d+)", detail)
        if m:
            return f"exit-{m.group(1)}"
        return "assert" if detail.startswith("assertion failed") else "abort" if "abort()" in detail else "-"

    # -- how its traces read --------------------------------------------------------------
    def roles(self, verdict: Any) -> tuple[str, str]:
        return ROLES.get(verdict.kind, ("", ""))

    def window(self, verdict: Any) -> Optional[str]:
        return "lost wake-up window" if verdict.kind == "STUCK" else None

    def wait(self, ex: Any) -> Optional[Wait]:
        v = ex.verdict
        if v.kind != "STUCK" or v.failed_at is None:
            return None
        since = v.stranded_at
        if v.path == "deadline" and v.request is not None:
            line = f"request {v.request} began at t={since} and passed its deadline at t={v.failed_at}"
        else:
            a = v.critical[0]
            who = f"thread {a.thread}" if a else "a thread"
            line = (f"{who} waits from t={since} and nothing can wake it: at t={v.failed_at} no thread is left "
                    "to run and no timer is armed")
        return Wait(line)

    def value_text(self, label: str, value: int) -> Optional[str]:
        show = VALUES.get(label)
        return show(value) if show else ""

    def shows_trace(self, kind: str) -> bool:
        return kind != "OK"

    def program_block(self) -> dict[str, Any]:
        return self.spec.to_json()


def _weight(args: Any) -> int:
    return sum(int(a) if a.isdigit() else len(a) for a in args)
