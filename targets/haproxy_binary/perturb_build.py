"""The instrumented HAProxy build for perturbation runs.

    from harness.targets.haproxy_binary.perturb_build import perturbed_binary
    perturbed_binary("2.6.12")   # .../haproxy/2.6.12-perturb/haproxy

A fresh copy of the version's upstream tree under <cache>/haproxy/<V>-perturb/
is built with `make TARGET=linux-glibc USE_THREAD=1` plus
`-finstrument-functions`, and linked with our runtime
native/rt/perturb/perturb.c (compiled without instrumentation, through
ADDLIB).  The entry is keyed by the runtime's bytes and the flags: when
perturb.c changes only the link step reruns (the instrumented objects
stay).  2.6's Makefile builds CFLAGS from DEBUG_CFLAGS, so the flag goes
there; from 2.8 on CFLAGS itself is the appended "extra" variable."""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Callable, Optional

import harness
from harness import debsrc
from harness.errors import QfuzzError

from . import build

INSTRUMENT = "-finstrument-functions"
RUNTIME_DIR = Path(harness.__file__).parent / "perturb"  # package data: a symlink to native/rt/perturb
RUNTIME_CFLAGS = ("-O2", "-g", "-fPIC", "-Wall", "-Wextra")


def runtime_source() -> Path:
    src = RUNTIME_DIR / "perturb.c"
    if not src.is_file():
        raise QfuzzError(f"the perturbation runtime is missing: {src}")
    return src


def entry_name(version: str) -> str:
    return f"{version}-perturb"


def _key() -> str:
    h = hashlib.sha256()
    for name in ("perturb.c", "perturb.h"):
        h.update(name.encode() + b"\0" + (RUNTIME_DIR / name).read_bytes())
    h.update(" ".join((INSTRUMENT, *RUNTIME_CFLAGS, *build.MAKE_ARGS)).encode())
    return h.hexdigest()[:16]


def cached(version: str) -> Optional[Path]:
    out = build.cache_dir(entry_name(version))
    exe = out / "haproxy"
    try:
        ok = exe.is_file() and (out / "key").read_text().strip() == _key()
    except OSError:
        ok = False
    return exe if ok else None


def _flag_args(tree: Path) -> list[str]:
    makefile = (tree / "Makefile").read_text(errors="replace")
    if re.search(r"^CFLAGS\s*=\s*\$\(ARCH_FLAGS\)", makefile, re.M):  # 2.6 and older
        return [f"DEBUG_CFLAGS=-g {INSTRUMENT}"]
    return [f"CFLAGS={INSTRUMENT}"]


def perturbed_binary(version: str, jobs: Optional[int] = None,
                     on_status: Optional[Callable[[str], None]] = None) -> str:
    """The instrumented executable of `version` (built once, then cached)."""
    build.check_version(version)
    if version == build.DEBIAN:
        raise QfuzzError("--perturb needs a built version (--haproxy-version V, e.g. 2.6.12): "
                         "Debian's package is not instrumented")
    runtime_source()
    hit = cached(version)
    if hit is not None:
        return str(hit)
    name = entry_name(version)
    with build._locked(name):
        hit = cached(version)
        if hit is not None:
            return str(hit)
        out = build.cache_dir(name)
        tarball = debsrc.fetch(build.PACKAGE, version)
        tree = debsrc.unpack(tarball, out)  # our own copy: the plain build's objects stay plain
        if on_status:
            on_status(f"building instrumented HAProxy {version} (once; cached in {out})")
        return str(_build(tree, out, version, jobs))


def _build(tree: Path, out: Path, version: str, jobs: Optional[int]) -> Path:
    log = out / "build.log"
    obj = out / "perturb.o"
    key = _key()  # of the bytes compiled now (the file may change while make runs)
    cc = ["gcc", "-c", *RUNTIME_CFLAGS, "-o", str(obj), str(runtime_source())]
    argv = ["make", f"-j{jobs or min(2, os.cpu_count() or 1)}", *build.MAKE_ARGS, *_flag_args(tree), f"ADDLIB={obj}"]
    t0 = time.monotonic()
    try:
        with open(log, "w") as f:
            for step in (cc, argv):
                if step is argv:
                    (tree / "haproxy").unlink(missing_ok=True)  # relink against the new runtime
                f.write(f"# {' '.join(step)} in {tree}\n")
                f.flush()
                proc = subprocess.run(step, cwd=tree, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                      timeout=build.BUILD_TIMEOUT)
                if proc.returncode != 0:
                    raise QfuzzError(f"HAProxy {version} (instrumented): {step[0]} failed with status "
                                     f"{proc.returncode} (log: {log})")
    except subprocess.TimeoutExpired:
        raise QfuzzError(f"HAProxy {version} (instrumented): build took more than {build.BUILD_TIMEOUT} s "
                         f"(log: {log})") from None
    except OSError as exc:
        raise QfuzzError(f"HAProxy {version} (instrumented): cannot run the build: {exc.strerror} (log: {log})") from None
    exe = tree / "haproxy"
    if not exe.is_file():
        raise QfuzzError(f"HAProxy {version} (instrumented): no executable after the build (log: {log})")
    tmp = out / f".haproxy.{os.getpid()}"
    shutil.copy2(exe, tmp)
    os.replace(tmp, out / "haproxy")
    (out / "key.tmp").write_text(key + "\n")
    os.replace(out / "key.tmp", out / "key")
    with open(log, "a") as f:
        f.write(f"# built in {time.monotonic() - t0:.0f} s\n")
    return out / "haproxy"
