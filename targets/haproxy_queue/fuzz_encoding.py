"""haproxy_queue's part of a fuzzer input (harness/fuzzinput.py has the
common schedule part and the rules every decoder keeps).  Layout:

    [c0][c1][server]*nsrv [request, 2 bytes]*nreq [event, 2 bytes]*nev [schedule]
      c0: threads-1 (2 bits) | balance (2) | servers-1 (2) | redispatch (1) | maxpollevents 1 (1)
      c1: requests (4 bits) | events (2) | timeout_queue choice (2)
      server: maxconn-1 (2 bits) | backup (1) | down (1) | maxqueue (2) | minconn 1, fullconn 2 (1) | spare (1)
      request: [at slot (3) | thread (3) | key (2)]
               [duration-1 (2) | at slot high (2) | cookie (1) | cookie server (2) | poked 10 ms after arrival (1)]
      event: [at slot (3) | thread (3) | action (2)] [server (3) | set_maxconn value-1 (3) | spare (2)]
    Times sit on a 10 ms grid, where arrivals meet service ends: that is where
    threads race (the same reasoning as the target's generate()).  Counts never
    exceed the records actually present, so a short input is a small workload.

    Left out on purpose: `set maxconn` to 0 (unlimited).  With it the `coarse`
    control variant fails on one thread (queued requests are left behind by
    design, not by a race), so every finding there would be noise.
"""
from __future__ import annotations

from typing import Any

from harness.fuzzinput import Reader

HQ_BALANCES = ("roundrobin", "first", "leastconn", "hash")
HQ_TIMEOUTS = (50, 30, 100, 200)
HQ_ACTIONS = ("disable", "enable", "set_maxconn", "shutdown")


def decode(r: Reader) -> dict[str, Any]:
    """A haproxy_queue workload from the front of a fuzzer input (total: any bytes decode)."""
    c0, c1 = r.byte(), r.byte()
    threads = 1 + (c0 & 3)
    nsrv = 1 + min((c0 >> 4) & 3, max(0, r.left - 1))
    nreq_field, nev_field = c1 & 15, (c1 >> 4) & 3

    servers = []
    for _ in range(nsrv):
        b = r.byte()
        maxconn = 1 + (b & 3)
        servers.append(
            {
                "maxconn": maxconn,
                "minconn": 1 if b & 0x40 else maxconn,
                "maxqueue": (b >> 4) & 3,
                "backup": bool(b & 4),
                "down": bool(b & 8),
            }
        )
    requests = []
    for _ in range(min(nreq_field, r.left // 2)):
        a, b = r.byte(), r.byte()
        at = 10 * ((a & 7) + 8 * ((b >> 2) & 3))
        requests.append(
            {
                "at": at,
                "thread": ((a >> 3) & 7) % threads,
                "key": a >> 6,
                "duration": 10 * (1 + (b & 3)),
                "cookie": ((b >> 5) & 3) % nsrv if b & 0x10 else None,
                "poke": at + 10 if b & 0x80 else None,
            }
        )
    events = []
    for _ in range(min(nev_field, r.left // 2)):
        a, b = r.byte(), r.byte()
        action = HQ_ACTIONS[a >> 6]
        events.append(
            {
                "at": 10 * (a & 7),
                "thread": ((a >> 3) & 7) % threads,
                "action": action,
                "server": (b & 7) % nsrv,
                "value": 1 + ((b >> 3) & 7) if action == "set_maxconn" else 0,
            }
        )
    return {
        "threads": threads,
        "servers": servers,
        "backend": {
            "balance": HQ_BALANCES[(c0 >> 2) & 3],
            "timeout_queue": HQ_TIMEOUTS[c1 >> 6],
            "redispatch": bool(c0 & 0x40),
            "maxpollevents": 1 if c0 & 0x80 else 64,
            # minconn only means something below fullconn; 2 is the smallest that scales
            "fullconn": 2 if any(s["minconn"] != s["maxconn"] for s in servers) else 0,
        },
        "requests": requests,
        "events": events,
    }


def encode(w: dict[str, Any]) -> bytes:
    """Nearest input for a canonical haproxy_queue workload (values outside
    the encoding's ranges are clamped)."""
    b = w["backend"]
    servers, requests, events = w["servers"][:4], w["requests"][:15], w["events"][:3]
    c0 = (min(w["threads"], 4) - 1) | HQ_BALANCES.index(b["balance"]) << 2 | (len(servers) - 1) << 4
    c0 |= 0x40 * bool(b["redispatch"]) | 0x80 * (b["maxpollevents"] == 1)
    tq = HQ_TIMEOUTS.index(b["timeout_queue"]) if b["timeout_queue"] in HQ_TIMEOUTS else 0
    out = bytearray([c0, len(requests) | len(events) << 4 | tq << 6])
    for s in servers:
        out.append(
            (min(max(s["maxconn"], 1), 4) - 1) | 4 * bool(s["backup"]) | 8 * bool(s["down"])
            | min(s["maxqueue"], 3) << 4 | 0x40 * (s["minconn"] != s["maxconn"])
        )
    for q in requests:
        slot = min(q["at"] // 10, 31)
        cookie = q.get("cookie")
        out += bytes([
            (slot & 7) | (q["thread"] & 7) << 3 | (q["key"] & 3) << 6,
            (min(max(q["duration"] // 10, 1), 4) - 1) | (slot >> 3) << 2
            | (0 if cookie is None else 0x10 | (cookie & 3) << 5) | 0x80 * (q.get("poke") is not None),
        ])
    for e in events:
        value = max(e["value"], 1) - 1 if e["action"] == "set_maxconn" else 0
        out += bytes([min(e["at"] // 10, 7) | (e["thread"] & 7) << 3 | HQ_ACTIONS.index(e["action"]) << 6,
                      (e["server"] & 7) | (value & 7) << 3])
    return bytes(out)
