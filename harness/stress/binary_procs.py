"""Start and stop the processes of one stress run: HAProxy and the origin
server(s), all on 127.0.0.1, in one temporary directory.

Cleanup is layered so nothing outlives the harness: `Stack` is a context
manager that stops what it started (SIGTERM, then SIGKILL) and removes its
directory on any exit, Ctrl-C and SIGTERM included (see `signals_as_interrupt`);
each child also gets PR_SET_PDEATHSIG=SIGKILL, so even a SIGKILLed harness
leaves no orphan."""
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

from ..child import python
from ..errors import QfuzzError
from .binary_config import StressConfig, render_haproxy, render_nginx
from .binary_syslog import enlarge, udp_drops

INSTALL_HINT = "install Debian's package with scripts/install-debs.sh haproxy, or pass --haproxy PATH"
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


def _die_with_parent() -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    os.setsid()  # its own process group: a terminal's Ctrl-C reaches only us, and we stop it in order


def find_haproxy(path: Optional[str] = None) -> str:
    if path:
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            raise QfuzzError(f"--haproxy {path}: not an executable file")
        return path
    found = shutil.which("haproxy") or next(
        (p for p in ("/usr/sbin/haproxy", "/usr/local/sbin/haproxy") if os.access(p, os.X_OK)), None
    )
    if not found:
        raise QfuzzError(f"haproxy not found: {INSTALL_HINT}")
    return found


def find_nginx() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None)
    if not found:
        raise QfuzzError("nginx not found: install it with scripts/install-debs.sh nginx-light, or use --origin ours")
    return found


def haproxy_version(path: str) -> str:
    try:
        out = subprocess.run([path, "-v"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise QfuzzError(f"{path} -v failed: {exc}") from None
    first = out.splitlines()[0] if out else ""
    parts = first.split()
    return parts[2] if len(parts) > 2 and parts[0] == "HAProxy" else first.strip() or "?"


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


def stats_command(path: str, command: str, timeout: float = 2.0) -> str:
    """One command on HAProxy's stats socket (non-interactive: one connection)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(path)
        s.sendall(command.encode() + b"\n")
        chunks = []
        while True:
            b = s.recv(65536)
            if not b:
                break
            chunks.append(b)
    return b"".join(chunks).decode(errors="replace")


def _wait_tcp(port: int, proc: subprocess.Popen[bytes], what: str, deadline: float) -> None:
    while True:
        if proc.poll() is not None:
            raise QfuzzError(f"{what} exited with status {proc.returncode} while starting")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise QfuzzError(f"{what} did not listen on 127.0.0.1:{port} within {START_TIMEOUT:.0f} s") from None
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


class Stack:
    """HAProxy in front of `cfg.servers` origins, for one run."""

    def __init__(self, cfg: StressConfig, haproxy: str):
        self.cfg = cfg
        self.haproxy = haproxy
        self.origin = cfg.origin
        self.dir: Optional[Path] = None
        self.port = 0
        self.server_ports: list[int] = []
        self.procs: list[subprocess.Popen[bytes]] = []
        self.haproxy_proc: Optional[subprocess.Popen[bytes]] = None
        self.collector: Optional[subprocess.Popen[bytes]] = None
        self.log_port = 0
        self.udp_drops = -1  # kernel drops on the log socket, read when HAProxy stops

    @property
    def log_path(self) -> Path:
        assert self.dir is not None
        return self.dir / "haproxy.log"

    @property
    def stats_path(self) -> str:
        assert self.dir is not None
        return str(self.dir / "stats.sock")

    def __enter__(self) -> "Stack":
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _spawn(self, argv: list[str], *, stdout: int | object, stderr: int | object, pass_fds: tuple[int, ...] = (),
               env: Optional[dict[str, str]] = None) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr, pass_fds=pass_fds, env=env,
            preexec_fn=_die_with_parent, cwd=self.dir,
        )
        self.procs.append(proc)
        return proc

    def start(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="qfuzz-haproxy-"))
        deadline = time.monotonic() + START_TIMEOUT
        self._start_origin(deadline)
        self._start_collector()
        fe = listening_socket()
        try:
            self.port = int(fe.getsockname()[1])
            cfg_path = self.dir / "haproxy.cfg"
            cfg_path.write_text(render_haproxy(self.cfg, fe.fileno(), self.server_ports, self.stats_path, self.log_port))
            with open(self.dir / "haproxy.err", "wb") as err:
                self.haproxy_proc = self._spawn(
                    [self.haproxy, "-db", "-f", str(cfg_path)], stdout=err, stderr=err, pass_fds=(fe.fileno(),),
                    env={**os.environ, "TZ": "UTC"},  # the log's dates are parsed as UTC
                )
        finally:
            fe.close()  # HAProxy holds its own copy
        self._wait_haproxy(deadline)

    def _start_collector(self) -> None:
        assert self.dir is not None
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.bind(("127.0.0.1", 0))
            enlarge(sock)
            sock.set_inheritable(True)
            self.log_port = int(sock.getsockname()[1])
            self.log_path.touch()
            self.collector = self._spawn(
                python("-m", "harness.stress.binary_syslog", str(sock.fileno()), str(self.log_path)),
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, pass_fds=(sock.fileno(),),
                env={**os.environ, "PYTHONPATH": _harness_root()},
            )
        finally:
            sock.close()  # the collector holds its own copy

    def _start_origin(self, deadline: float) -> None:
        assert self.dir is not None
        if self.origin == "nginx":
            nginx = find_nginx()
            self.server_ports = [free_port() for _ in range(self.cfg.servers)]
            conf = self.dir / "nginx.conf"
            conf.write_text(render_nginx(str(self.dir), self.server_ports))
            with open(self.dir / "nginx.stderr", "wb") as err:
                proc = self._spawn([nginx, "-c", str(conf), "-p", str(self.dir)], stdout=subprocess.DEVNULL, stderr=err)
        else:
            socks = [listening_socket(1024) for _ in range(self.cfg.servers)]
            err = open(self.dir / "origin.err", "wb")
            try:
                self.server_ports = [int(s.getsockname()[1]) for s in socks]
                fds = tuple(s.fileno() for s in socks)
                proc = self._spawn(
                    python("-m", "harness.stress.binary_backend", *map(str, fds)),
                    stdout=subprocess.DEVNULL, stderr=err, pass_fds=fds,
                    env={**os.environ, "PYTHONPATH": _harness_root()},
                )
            finally:
                err.close()
                for s in socks:
                    s.close()
        for port in self.server_ports:
            _wait_tcp(port, proc, f"origin ({self.origin})", deadline)

    def _wait_haproxy(self, deadline: float) -> None:
        assert self.haproxy_proc is not None and self.dir is not None
        while True:
            if self.haproxy_proc.poll() is not None:
                raise QfuzzError(f"haproxy exited with status {self.haproxy_proc.returncode}: {self.first_alert()}")
            try:
                if "Name: HAProxy" in stats_command(self.stats_path, "show info", 0.5):
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise QfuzzError(f"haproxy did not answer on its stats socket within {START_TIMEOUT:.0f} s")
            time.sleep(0.02)

    def first_alert(self) -> str:
        try:
            lines = (self.dir / "haproxy.err").read_text(errors="replace").splitlines()  # type: ignore[operator]
        except OSError:
            return "no error output"
        alerts = [ln for ln in lines if "ALERT" in ln] or lines
        return alerts[0].strip() if alerts else "no error output"

    def stop_haproxy(self) -> None:
        """Stop HAProxy, then let the collector drain every log datagram."""
        stop_process(self.haproxy_proc)
        if self.collector is not None and self.collector.poll() is None:
            self.udp_drops = udp_drops(self.log_port)
        stop_process(self.collector, timeout=10.0)

    def stop(self) -> None:
        for proc in reversed(self.procs):
            stop_process(proc)
        self.procs = []
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]


def _harness_root() -> str:
    """The folder holding the `harness` package, for the origin's `python -m`."""
    here = Path(__file__).resolve().parent.parent.parent
    extra = os.environ.get("PYTHONPATH")
    return f"{here}{os.pathsep}{extra}" if extra else str(here)
