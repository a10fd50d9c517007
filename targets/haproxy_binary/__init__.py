"""haproxy_binary: the real HAProxy (Debian's build, or a version built from
Debian's tarballs: build.py) under loopback stress.

Not a C target (nothing here is compiled; harness.targets.get() does not
list it): a black-box target of the engine in harness/stress/blackbox/.
This package holds HAProxy's specifics: its configuration (config), how it
is started with its origin and log collector (stack, origin), its log
(log), its stats socket (stats), the STUCK rule (oracle), what to explore
(below), the command line (cli), model reproducers as real scenarios
(scenario) and the builds (build).  `BLACKBOX` is the engine's descriptor."""
from __future__ import annotations

import random
from typing import Any

NAME = "haproxy_binary"
PATHS = ("server-queue", "backend-queue")
# hash algorithms assign the server first, so a stranded request sits in that
# server's queue; the others queue on the backend (reference §4a, §4b)
BALANCES_BY_PATH = {"server-queue": ("uri", "uri", "source"), "backend-queue": ("roundrobin", "roundrobin", "first", "leastconn")}

# Shapes tried first, per path: where measured runs found STUCK or came
# close (docs/haproxy_binary.md).  More HAProxy threads than cores, so a
# thread gets preempted inside its check-then-act window.
SEEDS: dict[str, list[dict[str, Any]]] = {
    "server-queue": [
        {"balance": "uri", "threads": 3, "conns": 4, "keepalive": True, "think_ms": 1},
        {"balance": "uri", "threads": 3, "conns": 50, "keepalive": False},
    ],
    "backend-queue": [
        {"balance": "roundrobin", "threads": 3, "conns": 2, "keepalive": True},
        {"balance": "roundrobin", "threads": 2, "conns": 4, "keepalive": False, "think_ms": 1},
    ],
}


def generate(rnd: random.Random, path: str) -> dict[str, Any]:
    """A random configuration aimed at `path` (StressConfig fields, minus the
    run's seconds and seed, which the explorer sets).

    The backend-queue race needs the queue empty when the last slot holder
    releases while another thread is between its "full" check and its
    enqueue, so that mix keeps few clients and one server (the seed fix's
    message: "very hard to reproduce with more than one server").  The
    server queue also strands when process_srv_queue's trylock loses to
    another queue-lock holder, which many clients make likely."""
    backend = path == "backend-queue"
    cfg: dict[str, Any] = {
        "balance": rnd.choice(BALANCES_BY_PATH[path]),
        "threads": rnd.choice((2, 2, 3, 3, 4) if backend else (2, 3, 3, 4, 6)),
        "servers": rnd.choice((1, 1, 1, 1, 2)),
        "maxconn": rnd.choice((1, 1, 1, 2)),
        "conns": rnd.choice((2, 2, 3, 4, 4, 6, 8) if backend else (2, 4, 4, 8, 16, 50, 100)),
        "keepalive": rnd.random() < 0.6,
        "keys": rnd.choice((1, 1, 4)),
        "think_ms": rnd.choice((0, 0, 1, 1, 2, 5)),
    }
    if rnd.random() < 0.2:  # overload: legitimate queue timeouts next to any stuck ones
        cfg["slow_pct"] = rnd.choice((2, 5, 20))
        cfg["slow_ms"] = rnd.choice((300, 1500))
    return cfg


def control(cfg: dict[str, Any]) -> dict[str, Any]:
    """The same shape on one thread: no two threads can race, so no STUCK."""
    return {**cfg, "threads": 1}


class _HAProxyBinary:
    """The engine's BlackBoxTarget for HAProxy (harness/stress/blackbox)."""

    name = NAME
    program = "HAProxy"
    paths = PATHS
    seeds = SEEDS
    keep_files = ("haproxy.cfg", "haproxy.log", "haproxy.err", "admin.log")

    def config(self, d: Any, where: str) -> Any:
        from .config import from_json

        return from_json(d, where)

    def generate(self, rnd: random.Random, path: str) -> dict[str, Any]:
        return generate(rnd, path)

    def control(self, shape: dict[str, Any]) -> dict[str, Any]:
        return control(shape)

    def start(self, cfg: Any, program: str) -> Any:
        from .stack import Stack

        return Stack(cfg, program)

    def stall_watch(self) -> Any:
        from .stats import StallWatch

        return StallWatch()

    def cli(self) -> Any:
        """The command module: main (qfuzz stress), repro_file, against."""
        from . import cli

        return cli


BLACKBOX = _HAProxyBinary()
