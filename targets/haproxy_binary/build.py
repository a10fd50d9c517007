"""Real HAProxy versions, built from Debian's upstream tarballs.

    from harness.targets.haproxy_binary.build import binary
    binary("debian")   # Debian's installed haproxy (installed on demand): the default
    binary("2.6.12")   # bookworm's tarball, built once: .../haproxy/2.6.12/haproxy
    binary("3.0.11")   # trixie's tarball (its .dsc is not served; the tarball is)

The tarball comes through harness.debsrc; it is built without the Debian
patches with `make TARGET=linux-glibc USE_THREAD=1` (no SSL, no Lua: the
queue code needs neither), and the binary is cached by version under
<cache>/haproxy/<version>/ next to its build.log.  HAProxy is GPL: nothing
of it is ever written into the project, only into the cache.  Every failure
is one QfuzzError line naming the version (and the build log)."""
from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Iterator, Optional

from harness import debs, debsrc
from harness.errors import QfuzzError

DEBIAN = "debian"  # the installed package, not a build
PACKAGE = "haproxy"
MAKE_ARGS = ("TARGET=linux-glibc", "USE_THREAD=1")
BUILD_TIMEOUT = 1800  # two shared cores: a cold build takes a few minutes
# Known to be built and tried (docs/haproxy_binary.md); others are attempted the same way.
KNOWN = ("2.6.12", "3.0.11")
_VERSION = re.compile(r"\d+\.\d+(\.\d+)?(-dev\d+)?")


def cache_dir(version: str) -> Path:
    return debsrc.cache_root() / PACKAGE / version


def cached(version: str) -> Optional[Path]:
    exe = cache_dir(version) / "haproxy"
    return exe if exe.is_file() and os.access(exe, os.X_OK) else None


@contextlib.contextmanager
def _locked(version: str) -> Iterator[None]:
    d = cache_dir(version)
    d.mkdir(parents=True, exist_ok=True)
    with open(d / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def check_version(version: str) -> str:
    if version != DEBIAN and not _VERSION.fullmatch(version):
        raise QfuzzError(f"--haproxy-version {version!r}: expected {DEBIAN!r} or a version such as 3.0.11")
    return version


def binary(version: str = DEBIAN, jobs: Optional[int] = None, on_status: Optional[callable] = None) -> str:  # type: ignore[valid-type]
    """The path of a HAProxy executable at `version` (built if not cached)."""
    check_version(version)
    if version == DEBIAN:
        from .stack import find_haproxy

        debs.ensure([PACKAGE])
        return find_haproxy()
    hit = cached(version)
    if hit is not None:
        return str(hit)
    with _locked(version):
        hit = cached(version)  # another process built it while we waited
        if hit is not None:
            return str(hit)
        tarball = debsrc.fetch(PACKAGE, version)
        if on_status:
            on_status(f"building HAProxy {version} from {tarball.name} (once; cached in {cache_dir(version)})")
        return str(build(debsrc.unpack(tarball), version, jobs))


def build(tree: Path, version: str, jobs: Optional[int] = None) -> Path:
    """`make` in `tree`, then copy the executable into the cache.  The tree
    is left as it is (a rebuild after a failure starts from its objects)."""
    out = cache_dir(version)
    out.mkdir(parents=True, exist_ok=True)
    log = out / "build.log"
    jobs = jobs or min(2, os.cpu_count() or 1)
    argv = ["make", f"-j{jobs}", *MAKE_ARGS]
    t0 = time.monotonic()
    try:
        with open(log, "w") as f:
            f.write(f"# {' '.join(argv)} in {tree}\n")
            f.flush()
            proc = subprocess.run(argv, cwd=tree, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                  timeout=BUILD_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise QfuzzError(f"HAProxy {version}: build took more than {BUILD_TIMEOUT} s (log: {log})") from None
    except OSError as exc:
        raise QfuzzError(f"HAProxy {version}: cannot run make: {exc.strerror} (log: {log})") from None
    exe = tree / "haproxy"
    if proc.returncode != 0 or not exe.is_file():
        raise QfuzzError(f"HAProxy {version}: build failed with status {proc.returncode} (log: {log})")
    tmp = out / f".haproxy.{os.getpid()}"
    shutil.copy2(exe, tmp)
    os.replace(tmp, out / "haproxy")  # atomic: a concurrent reader sees the old file or the whole new one
    with open(log, "a") as f:
        f.write(f"# built in {time.monotonic() - t0:.0f} s\n")
    return out / "haproxy"
