"""Debian packages the project runs (HAProxy, nginx): present, or installed
with the project's own script, scripts/install-debs.sh.

    harness.debs.ensure(["haproxy"])   # QfuzzError (one line) if it cannot
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from .errors import QfuzzError

# next to the package in a checkout (editable install); from the repo root otherwise (`pip install .`)
SCRIPTS = (Path(__file__).resolve().parent.parent / "scripts" / "install-debs.sh", Path("scripts") / "install-debs.sh")
SCRIPT = next((p for p in SCRIPTS if p.is_file()), SCRIPTS[0])
# the program each package provides; a package not listed is checked with dpkg
BINARIES = {"haproxy": "haproxy", "nginx": "nginx", "nginx-light": "nginx", "wrk": "wrk", "apache2-utils": "ab"}
SBIN = ("/usr/sbin", "/usr/local/sbin", "/sbin")
INSTALL_TIMEOUT = 600


def have_binary(name: str) -> bool:
    return shutil.which(name) is not None or any(os.access(os.path.join(d, name), os.X_OK) for d in SBIN)


def installed(package: str) -> bool:
    binary = BINARIES.get(package)
    if binary is not None:
        return have_binary(binary)
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.stdout.strip() == "install ok installed"


def ensure(packages: list[str]) -> None:
    """Install whichever of `packages` is missing; QfuzzError if it can't.
    Installs are serialized across processes (pytest-xdist workers would
    otherwise race for dpkg's lock and one of them would fail)."""
    if all(installed(p) for p in packages):
        return
    import fcntl
    import tempfile

    with open(os.path.join(tempfile.gettempdir(), "qfuzz-install-debs.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _install([p for p in packages if not installed(p)])


def _install(missing: list[str]) -> None:
    if not missing:
        return
    what = " ".join(missing)
    if not SCRIPT.is_file():
        raise QfuzzError(f"{what} missing and {SCRIPT} not found: install the Debian package(s) {what}")
    try:
        proc = subprocess.run(["bash", str(SCRIPT), *missing], capture_output=True, text=True, timeout=INSTALL_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise QfuzzError(f"installing {what} took more than {INSTALL_TIMEOUT} s") from None
    except OSError as exc:
        raise QfuzzError(f"cannot run {SCRIPT}: {exc.strerror}") from None
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
        raise QfuzzError(f"cannot install {what}: {last}")
    still = [p for p in missing if not installed(p)]
    if still:
        raise QfuzzError(f"scripts/install-debs.sh ran but {' '.join(still)} is still missing")
