"""Processes of a black-box stress run, all on 127.0.0.1: spawn, wait for a
port, stop, in one temporary directory.

Cleanup is layered so nothing outlives the harness: `ProcessGroup` is a
context manager that stops what it started (SIGTERM, then SIGKILL, in
reverse order) and removes its directory on any exit, Ctrl-C and SIGTERM
included (see `signals_as_interrupt`); each child also gets
PR_SET_PDEATHSIG=SIGKILL, so even a SIGKILLed harness leaves no orphan."""
from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Iterator, Optional

from ...errors import QfuzzError

START_TIMEOUT = 20.0
STOP_TIMEOUT = 3.0
PR_SET_PDEATHSIG = 1


class Interrupted(KeyboardInterrupt):
    """SIGTERM, turned into an exception so every `finally` runs."""


@contextlib.contextmanager
def signals_as_interrupt() -> Iterator[None]:
    """While inside, SIGTERM raises Interrupted in the main thread (Ctrl-C
    already raises KeyboardInterrupt), so the stacks unwind and clean up."""
    def raise_(signum: int, frame: object) -> None:
        raise Interrupted(f"signal {signum}")

    try:
        old = signal.signal(signal.SIGTERM, raise_)
    except ValueError:  # not the main thread: nothing to install
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def die_with_parent() -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    os.setsid()  # its own process group: a terminal's Ctrl-C reaches only us, and we stop it in order


def listening_socket(backlog: int = 4096) -> socket.socket:
    """127.0.0.1 on an ephemeral port, bound and listening, inheritable."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    s.listen(backlog)
    s.set_inheritable(True)
    return s


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_tcp(port: int, proc: subprocess.Popen[bytes], what: str, deadline: float, deadline_s: float = START_TIMEOUT) -> None:
    """Until 127.0.0.1:port accepts; QfuzzError if `proc` exits or `deadline` (monotonic) passes."""
    while True:
        if proc.poll() is not None:
            raise QfuzzError(f"{what} exited with status {proc.returncode} while starting")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise QfuzzError(f"{what} did not listen on 127.0.0.1:{port} within {deadline_s:.0f} s") from None
            time.sleep(0.02)


def stop_process(proc: Optional[subprocess.Popen[bytes]], timeout: float = STOP_TIMEOUT) -> None:
    """SIGTERM its process group, then SIGKILL if it lingers; always reaped."""
    if proc is None or proc.poll() is not None:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=timeout)
            return
        except subprocess.TimeoutExpired:
            continue
    proc.wait()


class ProcessGroup:
    """A temporary directory and the processes started in it; stopped (in
    reverse order) and removed on exit, whatever the exit."""

    prefix = "qfuzz-blackbox-"

    def __init__(self) -> None:
        self.dir: Optional[Path] = None
        self.procs: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> "ProcessGroup":
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Subclasses start their processes here (after super().start())."""
        self.dir = Path(tempfile.mkdtemp(prefix=self.prefix))

    def spawn(self, argv: list[str], *, stdout: int | object, stderr: int | object, pass_fds: tuple[int, ...] = (),
              env: Optional[dict[str, str]] = None) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr, pass_fds=pass_fds, env=env,
            preexec_fn=die_with_parent, cwd=self.dir,
        )
        self.procs.append(proc)
        return proc

    def stop(self) -> None:
        for proc in reversed(self.procs):
            stop_process(proc)
        self.procs = []
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]


def harness_root() -> str:
    """The folder holding the `harness` package, for the origin's `python -m`."""
    here = Path(__file__).resolve().parent.parent.parent.parent
    extra = os.environ.get("PYTHONPATH")
    return f"{here}{os.pathsep}{extra}" if extra else str(here)
