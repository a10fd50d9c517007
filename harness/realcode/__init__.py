"""Real C code the project did not write, run unmodified under qfuzz.

Each code is a released Debian source package, fetched at test or bench
time through harness.debsrc (never vendored), plus a small driver of ours
(a C file in this folder) whose main() uses the library the way its users
do and checks the result.  A *lost wake-up is injected* by a one-line edit
applied to a copy of the tree at build time; the released tree stays as
Debian ships it.

    from harness import realcode
    prog = realcode.prepare("libuv_threadpool", tmp_path)                       # released
    bad = realcode.prepare("libuv_threadpool", tmp_path, "signal-before-publish")
    subprocess.run(["qfuzz", "fuzz", *bad.cli_args(), "--args", "1 1"])

The edits name a line by its text and the function it is in (identifiers
and the step they stand for, not a copy of the code around them), so a
changed upstream file makes prepare() fail with one line instead of
patching the wrong place.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from .. import debsrc
from ..errors import QfuzzError

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Edit:
    """One line of `file`: the first line after the line `within` (a
    function's first line) whose stripped text is `line`, replaced by
    `replace` (None: deleted).  `insert_after_within` adds a line right
    after `within` instead."""

    file: str
    within: str
    line: str = ""
    replace: str | None = None
    insert_after_within: str = ""


@dataclass(frozen=True)
class Injection:
    name: str
    about: str
    edits: tuple[Edit, ...]


@dataclass(frozen=True)
class RealCode:
    name: str
    about: str
    package: str  # Debian source package
    version: str  # upstream version
    sources: tuple[str, ...]  # compiled, relative to the unpacked tree
    driver: str  # our C file in this folder
    include: tuple[str, ...]  # -I, relative to the tree
    defines: tuple[str, ...]
    copy: tuple[str, ...]  # folders of the tree the build needs
    generated: dict[str, str] = field(default_factory=dict)  # files the build writes (configure's output)
    injections: tuple[Injection, ...] = ()
    args: str = ""  # default command line of the driver

    def injection(self, name: str) -> Injection:
        for inj in self.injections:
            if inj.name == name:
                return inj
        known = ", ".join(i.name for i in self.injections)
        raise QfuzzError(f"{self.name}: no injection {name!r} (known: {known})")


LIBUV_THREADPOOL = RealCode(
    name="libuv_threadpool",
    about="libuv's thread pool (uv_queue_work): workers wait on a condition variable for work",
    package="libuv1",
    version="1.44.2",
    sources=("src/threadpool.c", "src/unix/thread.c"),
    driver="libuv_threadpool.c",
    include=("include", "src"),
    defines=("-D_GNU_SOURCE", "-DNDEBUG", "-Dgetenv=libuv_driver_getenv"),  # the pool size from argv (see the driver)
    copy=("include", "src"),
    injections=(
        Injection(
            "signal-before-publish",
            "post() signals the workers' condition variable before it takes the lock and queues the work",
            (
                Edit("src/threadpool.c", within="static void post(QUEUE* q, enum uv__work_kind kind) {",
                     insert_after_within="  uv_cond_signal(&cond);  /* injected by qfuzz: signal before publish */"),
                Edit("src/threadpool.c", within="static void post(QUEUE* q, enum uv__work_kind kind) {",
                     line="if (idle_threads > 0)", replace=None),
                Edit("src/threadpool.c", within="static void post(QUEUE* q, enum uv__work_kind kind) {",
                     line="uv_cond_signal(&cond);", replace=None),
            ),
        ),
        Injection(
            "wake-dropped",
            "post() queues the work but no longer signals an idle worker",
            (
                Edit("src/threadpool.c", within="static void post(QUEUE* q, enum uv__work_kind kind) {",
                     line="uv_cond_signal(&cond);", replace="    ;  /* injected by qfuzz: wake dropped */"),
            ),
        ),
    ),
    args="2 2",
)

# configure's answers for x86-64 Linux, written instead of running
# ./configure (52 s on this machine): TLS and SMP on; HAVE_SCHED_GETCPU left
# out, so call_rcu runs its one default worker thread instead of one per CPU.
_URCU_CONFIG = "#define CONFIG_RCU_SMP 1\n#define CONFIG_RCU_TLS 1\n#define CONFIG_RCU_HAVE_CLOCK_GETTIME 1\n"

LIBURCU_CALL_RCU = RealCode(
    name="liburcu_call_rcu",
    about="liburcu's call_rcu worker: sleeps on a futex while its wait-free callback queue is empty",
    package="liburcu",
    version="0.13.2",
    sources=("src/urcu.c", "src/urcu-pointer.c", "src/wfcqueue.c", "src/compat_futex.c", "src/compat_arch.c"),
    driver="liburcu_call_rcu.c",
    include=("include", "src"),
    defines=("-D_GNU_SOURCE", "-DRCU_MB"),
    copy=("include", "src"),
    generated={"include/urcu/config.h": _URCU_CONFIG},
    injections=(
        Injection(
            "futex-reset-dropped",
            "call_rcu's wake-up no longer resets the worker's futex word before FUTEX_WAKE: the woken worker sees -1 and sleeps again",
            (
                Edit("src/urcu-call-rcu-impl.h", within="static void call_rcu_wake_up(struct call_rcu_data *crdp)",
                     line="uatomic_set(&crdp->futex, 0);", replace=None),
            ),
        ),
    ),
    args="2 2",
)

CODES: dict[str, RealCode] = {c.name: c for c in (LIBUV_THREADPOOL, LIBURCU_CALL_RCU)}


@dataclass(frozen=True)
class Prepared:
    """A tree ready for `qfuzz fuzz`: its sources (driver first, so the
    program is named after it) and the compiler flags."""

    code: RealCode
    injection: str | None
    root: Path
    sources: tuple[Path, ...]
    cflags: tuple[str, ...]

    def cli_args(self) -> list[str]:
        return [*map(str, self.sources), "--cflags", " ".join(self.cflags)]

    def gcc_args(self) -> list[str]:
        """The same build for plain gcc (a native check)."""
        return ["gcc", "-pthread", *self.cflags, *map(str, self.sources)]


def get(name: str) -> RealCode:
    try:
        return CODES[name]
    except KeyError:
        raise QfuzzError(f"unknown real code {name!r} (known: {', '.join(CODES)})") from None


def prepare(name: str, dest: Path, injection: str | None = None) -> Prepared:
    """Fetch (cached) and copy `name`'s tree to dest/<name>[-<injection>],
    apply the injection's edits to the copy and return the build.  The
    network is needed only the first time (harness.debsrc caches)."""
    code = get(name)
    inj = code.injection(injection) if injection else None
    tree = debsrc.unpack(debsrc.fetch(code.package, code.version))
    root = Path(dest) / (code.name + (f"-{inj.name}" if inj else ""))
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    for sub in code.copy:
        shutil.copytree(tree / sub, root / sub)
    for rel, text in code.generated.items():
        (root / rel).write_text(text)
    if inj:
        for e in inj.edits:
            _apply(root, code, e)
    driver = root / code.driver
    shutil.copyfile(HERE / code.driver, driver)
    cflags = (*code.defines, *(f"-I{root / d}" for d in code.include))
    return Prepared(code, inj.name if inj else None, root, (driver, *(root / s for s in code.sources)), cflags)


def _apply(root: Path, code: RealCode, e: Edit) -> None:
    path = root / e.file
    lines = path.read_text().split("\n")
    where = f"{code.name} {code.version}: {e.file}"
    starts = [i for i, ln in enumerate(lines) if ln.strip() == e.within.strip()]
    if len(starts) != 1:
        raise QfuzzError(f"{where}: expected one line {e.within!r}, found {len(starts)}")
    start = starts[0]
    if e.insert_after_within:
        lines.insert(start + 1, e.insert_after_within)
    else:
        hit = next((i for i in range(start + 1, len(lines)) if lines[i].strip() == e.line), None)
        if hit is None or lines[start + 1 : hit].count("}") > 0:  # a top-level '}' ends the function
            raise QfuzzError(f"{where}: no line {e.line!r} in {e.within!r}")
        if e.replace is None:
            del lines[hit]
        else:
            lines[hit] = e.replace
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text("\n".join(lines))
    tmp.replace(path)
