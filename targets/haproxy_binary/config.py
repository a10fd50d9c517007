"""One stress configuration of the real HAProxy: the HAProxy settings under
test plus the load shape, as a JSON-able dataclass, and the haproxy.cfg it
renders to.  Validation errors are one line naming the field."""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping, Optional, Sequence

from harness.errors import QfuzzError

BALANCES = ("roundrobin", "uri", "source", "leastconn", "first", "random")
ORIGINS = ("ours", "nginx")
# (min, max) of each integer field; bounded so no configuration can flood the machine
LIMITS: dict[str, tuple[int, int]] = {
    "threads": (1, 16),
    "servers": (1, 8),
    "maxconn": (0, 1000),  # 0: no maxconn (nothing ever queues)
    "conns": (1, 500),
    "timeout_queue": (100, 30_000),  # ms
    "seed": (0, 2**63 - 1),
    "keys": (1, 1000),  # distinct URI paths, to spread `balance uri` over servers
    "slow_pct": (0, 100),  # % of requests the origin holds for slow_ms
    "slow_ms": (0, 30_000),
    "think_ms": (0, 10_000),  # each client pauses uniformly 0..think_ms between requests
    "max_requests": (1, 50_000_000),
    "draws": (1, 16),  # `balance random(<draws>)`: servers drawn per pick, the least loaded kept
}
SECONDS = (0.5, 3600.0)


@dataclass(frozen=True)
class StressConfig:
    threads: int = 2
    servers: int = 1
    maxconn: int = 1
    balance: str = "roundrobin"
    conns: int = 20
    keepalive: bool = False  # False: a new client connection per request
    timeout_queue: int = 1000
    seconds: float = 20.0
    seed: int = 0
    keys: int = 1
    slow_pct: int = 0
    slow_ms: int = 0
    think_ms: int = 0
    origin: str = "ours"  # the HTTP servers behind HAProxy
    max_requests: int = 5_000_000
    perturb: Optional[dict[str, Any]] = None  # a perturbation plan (perturb.py); None: plain stress
    draws: int = 2  # balance random's draws (HAProxy's default 2); used only with balance random

    def __post_init__(self) -> None:
        validate(asdict(self), "config")

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        if d["perturb"] is None:  # plain stress: the JSON of every older reproducer
            del d["perturb"]
        if d["draws"] == 2:  # likewise: left out at HAProxy's default
            del d["draws"]
        return d

    @property
    def balance_line(self) -> str:
        """The backend's `balance` argument as HAProxy reads it."""
        return f"random({self.draws})" if self.balance == "random" else self.balance

    @property
    def path(self) -> str:
        """The queue a stranded request would sit in: hash algorithms assign a
        server first (server queue), the others queue on the backend (random
        too: since b88ae1802 (2.3) a full draw queues on the backend)."""
        return "server-queue" if self.balance in ("uri", "source") else "backend-queue"

    def short(self) -> str:
        ka = "ka" if self.keepalive else "close"
        slow = f" slow {self.slow_pct}%x{self.slow_ms}ms" if self.slow_pct and self.slow_ms else ""
        think = f" think {self.think_ms}ms" if self.think_ms else ""
        return (
            f"{self.balance_line} nbthread {self.threads} servers {self.servers} maxconn {self.maxconn} "
            f"conns {self.conns} {ka} keys {self.keys}{slow}{think} tq {self.timeout_queue}ms"
            + (" perturbed" if self.perturb else "")
        )


def validate(d: Mapping[str, Any], where: str) -> None:
    for f in fields(StressConfig):
        v = d.get(f.name)
        w = f"{where}.{f.name}"
        if f.name in LIMITS:
            lo, hi = LIMITS[f.name]
            if isinstance(v, bool) or not isinstance(v, int):
                raise QfuzzError(f"{w}: expected an integer, got {v!r}")
            if not lo <= v <= hi:
                raise QfuzzError(f"{w}: {v} is outside {lo}..{hi}")
        elif f.name == "seconds":
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not SECONDS[0] <= v <= SECONDS[1]:
                raise QfuzzError(f"{w}: expected a number of seconds in {SECONDS[0]}..{SECONDS[1]}, got {v!r}")
        elif f.name == "keepalive":
            if not isinstance(v, bool):
                raise QfuzzError(f"{w}: expected true or false, got {v!r}")
        elif f.name == "balance":
            if v not in BALANCES:
                raise QfuzzError(f"{w}: {v!r} is not one of {', '.join(BALANCES)}")
        elif f.name == "perturb":
            if v is not None:
                from .perturb import plan_from_json

                plan_from_json(v, w)
        elif f.name == "origin":
            if v not in ORIGINS:
                raise QfuzzError(f"{w}: {v!r} is not one of {', '.join(ORIGINS)}")
    if d.get("origin") == "nginx" and d.get("slow_pct") and d.get("slow_ms"):
        raise QfuzzError(f"{where}.slow_pct: slow requests need origin \"ours\" (nginx cannot hold a response)")


def from_json(d: Any, where: str) -> StressConfig:
    if not isinstance(d, dict):
        raise QfuzzError(f"{where}: expected an object")
    names = {f.name for f in fields(StressConfig)}
    unknown = sorted(set(d) - names)
    if unknown:
        raise QfuzzError(f"{where}.{unknown[0]}: unknown field")
    full = {**asdict(StressConfig()), **d}  # every default, the ones to_json leaves out too
    validate(full, where)
    return StressConfig(**full)


def render_haproxy(cfg: StressConfig, frontend_fd: int, server_ports: list[int], stats_path: str, log_port: int,
                   server_options: Optional[Sequence[str]] = None, backend_options: Sequence[str] = ()) -> str:
    """haproxy.cfg for `cfg`.  The frontend binds an inherited, already
    listening socket (`fd@N`), so there is no port race.  Logs go in raw
    format over UDP to 127.0.0.1:log_port, where the engine's collector
    gathers them (see harness/stress/blackbox/collector.py why not stdout).
    A timed scenario gives each server its own options (maxconn, backup,
    disabled, ...) and the backend extra lines (fullconn, cookie, ...)."""
    maxconn = f" maxconn {cfg.maxconn}" if cfg.maxconn else ""
    opts = list(server_options) if server_options is not None else [maxconn] * len(server_ports)
    servers = "\n".join(
        f"    server s{i} 127.0.0.1:{port}{opts[i]}" for i, port in enumerate(server_ports)
    )
    servers = "".join(f"    {line}\n" for line in backend_options) + servers
    client_timeout = max(30_000, cfg.timeout_queue + cfg.slow_ms + 10_000)
    return f"""# generated by qfuzz stress haproxy_binary
global
    nbthread {cfg.threads}
    maxconn {max(1000, 4 * cfg.conns + 100)}
    stats socket {stats_path} mode 600 level admin
    log 127.0.0.1:{log_port} len 4096 format raw local0 info

defaults
    mode http
    log global
    option httplog
    option dontlognull
    timeout connect 5s
    timeout client {client_timeout}ms
    timeout server {client_timeout}ms
    timeout queue {cfg.timeout_queue}ms
    retries 0

frontend fe
    bind fd@{frontend_fd}
    default_backend be

backend be
    balance {cfg.balance_line}
{servers}
"""


def render_nginx(tmpdir: str, ports: list[int]) -> str:
    """nginx.conf: one worker serving `ok` on each port, no access log."""
    listen = "\n".join(
        f"  server {{ listen 127.0.0.1:{port}; location / {{ return 200 \"ok s{i}\\n\"; }} }}" for i, port in enumerate(ports)
    )
    return f"""daemon off;
master_process off;
worker_processes 1;
pid {tmpdir}/nginx.pid;
error_log {tmpdir}/nginx.err warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  keepalive_requests 10000000;
  client_body_temp_path {tmpdir}/ncb; proxy_temp_path {tmpdir}/npt; fastcgi_temp_path {tmpdir}/nft;
  uwsgi_temp_path {tmpdir}/nut; scgi_temp_path {tmpdir}/nst;
{listen}
}}
"""
