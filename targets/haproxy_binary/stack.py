"""HAProxy and its origin server(s) on 127.0.0.1 for one run, built on the
engine's ProcessGroup: the origin(s), the log collector, then `haproxy -db`.
The frontend binds an inherited listening socket (`bind fd@N`) and our origin
gets its sockets the same way, so no port is raced for."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

from harness.child import python
from harness.errors import QfuzzError
from harness.stress.blackbox.collector import enlarge, udp_drops
from harness.stress.blackbox.procs import (START_TIMEOUT, ProcessGroup, die_with_parent, free_port, harness_root,
                                           listening_socket, stop_process, wait_tcp)

from .config import StressConfig, render_haproxy, render_nginx
from .log import LogEntry, parse_file
from .oracle import Verdict, classify
from .perturb import Resolved, plan_from_json, read_shared, resolve, summarize
from .stats import Sample, probe, stats_command

INSTALL_HINT = "install Debian's package with scripts/install-debs.sh haproxy, pass --haproxy PATH or --haproxy-version V"


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


class Stack(ProcessGroup):
    """HAProxy in front of `cfg.servers` origins and a log collector, for one
    run: the engine's `Running` (port, probe, exited, finish, judge)."""

    prefix = "qfuzz-haproxy-"

    def __init__(self, cfg: StressConfig, haproxy: str):
        super().__init__()
        self.cfg = cfg
        self.haproxy = haproxy
        self.origin = cfg.origin
        self.port = 0
        self.server_ports: list[int] = []
        self.haproxy_proc: Optional[subprocess.Popen[bytes]] = None
        self.collector: Optional[subprocess.Popen[bytes]] = None
        self.log_port = 0
        self.udp_drops = -1  # kernel drops on the log socket, read when HAProxy stops
        self.dropped_logs = -1  # HAProxy's own DroppedLogs, read before it stops
        self.perturbation: Optional[Resolved] = None  # the plan bound to this binary (cfg.perturb)

    @property
    def log_path(self) -> Path:
        assert self.dir is not None
        return self.dir / "haproxy.log"

    def log_progress(self) -> tuple[Path, bytes]:
        """For the engine's live progress: the log, and HAProxy's termination state of a queue timeout."""
        return self.log_path, b" sQ"

    @property
    def stats_path(self) -> str:
        assert self.dir is not None
        return str(self.dir / "stats.sock")

    def start(self) -> None:
        super().start()
        assert self.dir is not None
        deadline = time.monotonic() + START_TIMEOUT
        self._start_origin(deadline)
        self._start_collector()
        fe = listening_socket()
        try:
            self.port = int(fe.getsockname()[1])
            cfg_path = self.dir / "haproxy.cfg"
            cfg_path.write_text(self.render(fe.fileno()))
            env = {**os.environ, "TZ": "UTC"}  # the log's dates are parsed as UTC
            if self.cfg.perturb:
                self.perturbation = resolve(plan_from_json(self.cfg.perturb, "perturb"), self.haproxy,
                                            self.dir / "perturb.bin")
                env.update(self.perturbation.env)
            with open(self.dir / "haproxy.err", "wb") as err:
                self.haproxy_proc = self.spawn(
                    [self.haproxy, "-db", "-f", str(cfg_path)], stdout=err, stderr=err, pass_fds=(fe.fileno(),),
                    env=env,
                )
        finally:
            fe.close()  # HAProxy holds its own copy
        self._wait_haproxy(deadline)

    def render(self, frontend_fd: int) -> str:
        return render_haproxy(self.cfg, frontend_fd, self.server_ports, self.stats_path, self.log_port)

    def _start_collector(self) -> None:
        assert self.dir is not None
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.bind(("127.0.0.1", 0))
            enlarge(sock)
            sock.set_inheritable(True)
            self.log_port = int(sock.getsockname()[1])
            self.log_path.touch()
            self.collector = self.spawn(
                python("-m", "harness.stress.blackbox.collector", str(sock.fileno()), str(self.log_path)),
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, pass_fds=(sock.fileno(),),
                env={**os.environ, "PYTHONPATH": harness_root()},
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
                proc = self.spawn([nginx, "-c", str(conf), "-p", str(self.dir)], stdout=subprocess.DEVNULL, stderr=err)
        else:
            socks = [listening_socket(1024) for _ in range(self.cfg.servers)]
            err = open(self.dir / "origin.err", "wb")
            try:
                self.server_ports = [int(s.getsockname()[1]) for s in socks]
                fds = tuple(s.fileno() for s in socks)
                proc = self.spawn(
                    python("-m", "harness.targets.haproxy_binary.origin", *map(str, fds)),
                    stdout=subprocess.DEVNULL, stderr=err, pass_fds=fds,
                    env={**os.environ, "PYTHONPATH": harness_root()},
                )
            finally:
                err.close()
                for s in socks:
                    s.close()
        for port in self.server_ports:
            wait_tcp(port, proc, f"origin ({self.origin})", deadline)

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

    # -- the engine's Running ----------------------------------------------------

    def probe(self) -> Optional[Sample]:
        return probe(self.stats_path)

    def exited(self) -> Optional[int]:
        return None if self.haproxy_proc is None else self.haproxy_proc.poll()

    def finish(self) -> None:
        time.sleep(0.3)  # HAProxy logs a stream after its response is sent
        self.dropped_logs = _dropped_logs(self.stats_path)
        self.stop_haproxy()

    def judge(self, samples: Sequence[Sample]) -> Judgement:
        parsed = parse_file(str(self.log_path))
        ours = [e for e in parsed.entries if e.request_id is not None]
        verdicts = classify(ours, samples, self.cfg.timeout_queue)
        extra = {}
        if self.perturbation is not None:
            extra["perturbation"] = summarize(self.perturbation, read_shared(self.dir / "perturb.bin"))  # type: ignore[operator]
        return Judgement(len(ours), verdicts, {"dropped_logs": self.dropped_logs, "udp_drops": self.udp_drops}, ours,
                         extra)


@dataclass
class Judgement:
    requests: int
    verdicts: list[Verdict]
    checks: dict[str, int]
    entries: list[LogEntry]
    instrumentation: dict[str, Any] = field(default_factory=dict)  # {"perturbation": perturb.summarize(...)}


def _dropped_logs(stats_path: str) -> int:
    try:
        for line in stats_command(stats_path, "show info").splitlines():
            if line.startswith("DroppedLogs:"):
                return int(line.split(":")[1])
    except (OSError, ValueError):
        pass
    return -1
