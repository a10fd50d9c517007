"""The atheris engine: libFuzzer drives harness.run() through one input that
decodes into a workload and a thread schedule (harness.fuzzinput), guided by
the core's interleaving features (qf_features, 8-bit counters registered
with atheris's libFuzzer on the first input).

Entry point: main(), called by an executable script with a shebang (see
fuzz/fuzz_haproxy_queue.py), which then behaves like any libFuzzer binary:

    ./fuzz_haproxy_queue.py [-flag=value ...] [corpus dirs | crash files]

libFuzzer ignores arguments that start with "--", and copies them to the
children it starts for -jobs/-fork, so qfuzz's own settings travel as
--name=value (or environment variables):

    --target=NAME          QFUZZ_TARGET     (set by the entry script)
    --variant=NAME         QFUZZ_VARIANT    default pre-fix
    --workload=FILE        QFUZZ_WORKLOAD   pin the workload: every byte is schedule
    --corpus=DIR           QFUZZ_CORPUS     JSON reproducers go to DIR/TARGET/ (default corpus; empty: none)
    --no-features          QFUZZ_FEATURES=0 blind: no interleaving feedback (for comparisons)
    --crash-on=PATTERN     QFUZZ_CRASH_ON   signatures that are crashes (shell pattern, repeatable,
                                            comma-separated in the variable; default every failure)
    --keep-going                            no failure is a crash: store each and go on
    --minimize-time=S      QFUZZ_MINIMIZE_TIME  seconds to minimize a failure before storing (default 5)
    --program=FILE         QFUZZ_PROGRAM    a C program target (harness.program.cli.program_file)

A failing verdict whose signature matches --crash-on is minimized, stored in
the corpus, then raised: libFuzzer writes crash-<sha1> and exits 77.  Other
failures are stored once per signature and fuzzing goes on.  A bad setting
or an internal error (an unwritable corpus, a bug in qfuzz) is never a
crash: one line on stderr and exit 2, no crash-* file.  Unless given,
-timeout=25 (a native hang ends as a timeout-* file, exit 70), -max_len=64
and -len_control=0 are passed (see DEFAULT_FLAGS).
"""
from __future__ import annotations

import fnmatch
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any, NoReturn, Optional, Sequence

from ..errors import QfuzzError

DEFAULT_TIMEOUT = 25  # seconds per input, minimization of a new failure included
OWN_FLAGS = ("target", "variant", "workload", "corpus", "crash-on", "minimize-time", "program")


class InterleavingFailure(Exception):
    """A failing verdict, raised so that libFuzzer records a crash."""


@dataclass
class Config:
    target: str
    variant: str = "pre-fix"
    workload: Optional[str] = None
    corpus: Optional[str] = "corpus"
    features: int = 1  # 0: off; 1: the core's default set; other values: a QF_FT_* mask (measurements)
    crash_on: tuple[str, ...] = ("*",)
    minimize_seconds: float = 5.0
    program: Optional[str] = None  # a C program's description (JSON), when the target is one

    def crashes(self, signature: str) -> bool:
        return any(fnmatch.fnmatchcase(signature, p) for p in self.crash_on)

    def to_argv(self) -> list[str]:
        """The same settings as --name=value arguments (what qfuzz fuzz passes)."""
        out = [f"--target={self.target}", f"--variant={self.variant}", f"--corpus={self.corpus or ''}"]
        if self.workload:
            out.append(f"--workload={self.workload}")
        if not self.features:
            out.append("--no-features")
        if not self.crash_on:
            out.append("--keep-going")
        out += [f"--crash-on={p}" for p in self.crash_on if self.crash_on != ("*",)]
        out.append(f"--minimize-time={self.minimize_seconds:g}")
        if self.program:
            out.append(f"--program={self.program}")
        return out


def _features(value: str) -> int:
    try:
        return max(0, int(value, 0))
    except ValueError:
        raise QfuzzError(f"QFUZZ_FEATURES: {value!r} is not 0, 1 or a feature mask") from None


def parse_config(argv: Sequence[str], target: Optional[str] = None, variant: Optional[str] = None) -> Config:
    """qfuzz's --name=value arguments (libFuzzer's own are left alone), then
    the environment, then the defaults."""
    flags: dict[str, list[str]] = {}
    switches: set[str] = set()
    for a in argv[1:]:
        if not a.startswith("--"):
            continue
        name, eq, value = a[2:].partition("=")
        if name in ("no-features", "keep-going") and not eq:
            switches.add(name)
        elif name in OWN_FLAGS and eq:
            flags.setdefault(name, []).append(value)
        else:
            raise QfuzzError(f"unknown option {a!r} (qfuzz options: --{'=, --'.join(OWN_FLAGS)}=, --no-features, --keep-going)")

    def get(name: str, env: str, default: Optional[str]) -> Optional[str]:
        if name in flags:
            return flags[name][-1]
        return os.environ.get(env, default)

    name = get("target", "QFUZZ_TARGET", target)
    if not name:
        raise QfuzzError("no target: pass --target=NAME or set QFUZZ_TARGET")
    crash_on: tuple[str, ...] = tuple(flags.get("crash-on", ())) or tuple(
        p for p in os.environ.get("QFUZZ_CRASH_ON", "*").split(",") if p
    )
    if "keep-going" in switches:
        crash_on = ()
    minimize = get("minimize-time", "QFUZZ_MINIMIZE_TIME", "5")
    try:
        minimize_seconds = float(minimize or 0)
    except ValueError:
        raise QfuzzError(f"--minimize-time: {minimize!r} is not a number") from None
    return Config(
        target=name,
        variant=get("variant", "QFUZZ_VARIANT", None) or variant or "pre-fix",
        workload=get("workload", "QFUZZ_WORKLOAD", None) or None,
        corpus=get("corpus", "QFUZZ_CORPUS", "corpus") or None,
        features=0 if "no-features" in switches else _features(os.environ.get("QFUZZ_FEATURES", "1")),
        crash_on=crash_on,
        minimize_seconds=max(0.0, minimize_seconds),
        program=get("program", "QFUZZ_PROGRAM", None) or None,
    )


@dataclass
class FuzzTarget:
    """libFuzzer's TestOneInput: decode, run, judge."""

    config: Config
    executions: int = 0
    started: float = field(default_factory=time.monotonic)
    stored: set[tuple[str, str]] = field(default_factory=set)  # (variant, signature) kept by this process

    def __post_init__(self) -> None:
        from ..corpus import Corpus
        from ..reproducer import load_workload
        from ..targets import get

        c = self.config
        if c.program:
            from ..program.cli import load_program_file

            load_program_file(c.program)  # registers the program target under its name
        self.target = get(c.target)
        self.target.variant(c.variant)
        self.workload = self.target.workload(load_workload(c.workload, self.target.name)) if c.workload else None
        if self.workload is None:
            from ..fuzzinput import supported

            if not supported(self.target):
                raise QfuzzError(f"target {self.target.name} has no fuzz-input decoder; pass --workload=FILE")
        self.corpus = Corpus(c.corpus, self.target.name) if c.corpus else None
        self._first = True
        # measurement only (bench/bench_engines.py --ft-growth): with features off,
        # compute them anyway, unseen by libFuzzer, and report the union reached
        self.shadow = int(not c.features and os.environ.get("QFUZZ_SHADOW_FEATURES") == "1")

    def _shadow_report(self) -> None:
        from ..native import core

        counters = bytes(core.features())  # never reset: the union over every input so far
        sys.stderr.write(f"qfuzz shadow: #{self.executions} cov: {len(counters) - counters.count(0)}\n")

    def _start(self) -> None:
        from ..native import core
        from .cpuclaim import claim_cpu

        claim_cpu()
        if self.config.features:
            core.register_coverage(_libfuzzer_path())
        self.started = time.monotonic()  # time to a failure counts from the first input

    def __call__(self, data: bytes) -> None:
        try:
            self._one(data)
        except InterleavingFailure:
            raise
        except BaseException as exc:
            # qfuzz's own fault (an unwritable corpus, a bug): no crash-* file, which a
            # CI would file as a bug in the target, but one line and exit 2
            from ..cli import internal_error

            _event(f"error {type(exc).__name__}: {exc}")
            internal_error(exc)
            sys.stderr.flush()
            os._exit(2)

    def _one(self, data: bytes) -> None:
        from ..fuzzinput import decode_input
        from ..runner import run

        if self._first:
            self._first = False
            self._start()
        variant, workload, scheduler = decode_input(self.target, data, self.config.variant, workload=self.workload)
        features = self.config.features or self.shadow
        ex = run(self.target, variant, workload, scheduler, trace=False, features=features)
        self.executions += 1
        if self.shadow and not self.executions & (self.executions - 1):
            self._shadow_report()
        if ex.failed:
            self._failed(data, ex)

    def _failed(self, data: bytes, ex: Any) -> None:
        import hashlib

        from ..native import core
        from .store import keep

        sig = ex.verdict.signature
        crash = self.config.crashes(sig)
        if not crash and (ex.variant, sig) in self.stored:
            return
        self.stored.add((ex.variant, sig))
        where = ""
        found = {
            "engine": "atheris",
            "features": self.config.features,
            "input": data.hex(),
            "crash_file": "crash-" + hashlib.sha1(data).hexdigest(),
            "pinned_workload": self.config.workload,
            "executions": self.executions,
            "seconds": round(time.monotonic() - self.started, 3),
        }
        if self.corpus is not None:
            counters = core.features()
            saved = bytes(counters)  # minimization runs must not count as this input's coverage
            kept = keep(ex, self.corpus, found, minimize_seconds=self.config.minimize_seconds)
            counters[:] = saved
            if kept.stored:
                where = f"\n  reproducer: {kept.stored.path}\n  replay:     qfuzz repro {kept.stored.path}"
        _event(f"failure {sig}")
        if crash:
            raise InterleavingFailure(
                f"{sig}: {ex.verdict.detail}\n  found after {found['executions']} executions in {found['seconds']:.3f} s"
                f"{where}"
            )
        print(f"qfuzz: {sig} (not a crash here: kept, fuzzing goes on){where}", file=sys.stderr, flush=True)


def _event(line: str) -> None:
    """Tell `qfuzz fuzz` (which sets QFUZZ_EVENTS) what happened: libFuzzer's
    exit status alone cannot tell a failure from an error, least of all with
    -jobs.  One short append per line: atomic across the -jobs workers."""
    path = os.environ.get("QFUZZ_EVENTS")
    if path:
        from ..reproducer import one_line

        with open(path, "a") as f:
            f.write(one_line(line)[:500] + "\n")


def _libfuzzer_path() -> str:
    """The shared object atheris loaded its libFuzzer from ("" = linked into
    the process, as in a sanitizer build)."""
    mod = sys.modules.get("atheris.core_with_libfuzzer")
    return getattr(mod, "__file__", "") or ""


# qfuzz's defaults for libFuzzer flags the caller did not set.  A native hang
# must end as a timeout-* file; and an input past 64 bytes adds nothing (the
# largest workload takes 42, the rest is preemptions), while libFuzzer's
# slow default length ramp-up (-len_control=100) delays the workloads that
# race by tens of seconds (docs/engines.md).
DEFAULT_FLAGS = {"timeout": str(DEFAULT_TIMEOUT), "max_len": "64", "len_control": "0"}


def libfuzzer_args(argv: Sequence[str]) -> list[str]:
    """argv with qfuzz's defaults for libFuzzer flags the caller did not set
    (replaying files: only -timeout, since -max_len would truncate them)."""
    args = list(argv)
    replay = any(not a.startswith("-") and os.path.isfile(a) for a in args[1:])
    for name, value in DEFAULT_FLAGS.items():
        if replay and name != "timeout":
            continue
        if not any(a.startswith(f"-{name}=") for a in args):
            args.insert(1, f"-{name}={value}")
    return args


def main(argv: Optional[Sequence[str]] = None, *, target: Optional[str] = None, variant: Optional[str] = None) -> NoReturn:
    """Run libFuzzer on `target` (never returns: libFuzzer exits the process)."""
    argv = list(sys.argv if argv is None else argv)
    prog = os.path.basename(argv[0]) if argv else "qfuzz-atheris"
    try:
        config = parse_config(argv, target, variant)
        if config.corpus:
            from ..commands.common import writable_dir

            writable_dir(os.path.join(config.corpus, config.target), "--corpus")
        fuzz_target = FuzzTarget(config)
    except QfuzzError as exc:
        from ..reproducer import one_line

        _event(f"error {exc}")
        sys.stderr.write(f"{prog}: error: {one_line(str(exc))}\n")
        sys.exit(2)
    import atheris

    what = f"workload {config.workload}" if config.workload else "decoded workloads"
    sys.stderr.write(
        f"qfuzz atheris: {config.target}/{config.variant}, {what}, "
        f"interleaving features {'on' if config.features else 'OFF'}\n"
    )
    atheris.Setup(libfuzzer_args(argv), fuzz_target)
    atheris.Fuzz()
    sys.exit(0)  # not reached: libFuzzer exits
