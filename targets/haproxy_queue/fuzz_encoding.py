"""haproxy_queue's part of a fuzzer input (harness/fuzzinput.py has the
common schedule part and the rules every decoder keeps).  Layout:

    [c0][c1][server]*nsrv [x0 x1]? [request, 2 bytes]*nreq [event, 2 bytes]*nev [schedule]
      c0: threads-1 (2 bits) | balance (2) | servers-1 (2) | redispatch (1) | maxpollevents 1 (1)
      c1: requests (4 bits) | events (2) | timeout_queue choice (2)
      server: maxconn-1 (2 bits) | backup (1) | down (1) | maxqueue (2) | minconn 1, fullconn 2 (1) | x (1)
      x0 x1, only when the first server's x bit is set: the fields of model version 3
      x0: slowstart choice (2 bits) | its server (2) | balance random (1) | draws choice (2) | groups (1)
      x1: retries choice (2 bits) | fails (2) | on which request (4)
      request: [at slot (3) | thread (3) | key (2)]
               [duration-1 (2) | at slot high (2) | cookie (1) | cookie server (2) | poked 10 ms after arrival (1)]
      event: [at slot (3) | thread (3) | action (2)] [server (3) | set_maxconn value-1 (3) | spare (2)]
    Times sit on a 10 ms grid, where arrivals meet service ends: that is where
    threads race (the same reasoning as the target's generate()).  Counts never
    exceed the records actually present, so a short input is a small workload.

    The pair was added in 2026-12 (before, the x bit was spare and ignored):
    slowstart 20, 50 or 100 ms (a ramp of 5 steps: 50 puts them on the grid),
    `balance random(draws)` with 2, 1, 3 or 4 draws, `retries` 3, 0, 1 or 2
    and 0 to 3 connect failures of one request.  0 is each field's default, so
    a zero pair is the workload without it.  x0's last bit (spare until the
    thread groups' round) puts every thread in a group of its own
    (`threads_per_group` 1): 4 threads are then 4 groups, which already reach
    the model's second bitmap word.  Wider groups are clamped to 1 by encode().

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
HQ_SLOWSTARTS = (0, 20, 50, 100)
HQ_DRAWS = (2, 1, 3, 4)  # the first is the canonical default (left out of the workload)
HQ_RETRIES = (3, 0, 1, 2)


def decode(r: Reader) -> dict[str, Any]:
    """A haproxy_queue workload from the front of a fuzzer input (total: any bytes decode)."""
    c0, c1 = r.byte(), r.byte()
    threads = 1 + (c0 & 3)
    nsrv = 1 + min((c0 >> 4) & 3, max(0, r.left - 1))
    nreq_field, nev_field = c1 & 15, (c1 >> 4) & 3

    servers = []
    extended = False
    for i in range(nsrv):
        b = r.byte()
        extended |= i == 0 and bool(b & 0x80)
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
    x0, x1 = (r.byte(), r.byte()) if extended else (0, 0)
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
    backend = {
        "balance": "random" if x0 & 0x10 else HQ_BALANCES[(c0 >> 2) & 3],
        "timeout_queue": HQ_TIMEOUTS[c1 >> 6],
        "redispatch": bool(c0 & 0x40),
        "maxpollevents": 1 if c0 & 0x80 else 64,
        # minconn only means something below fullconn; 2 is the smallest that scales
        "fullconn": 2 if any(s["minconn"] != s["maxconn"] for s in servers) else 0,
    }
    if HQ_SLOWSTARTS[x0 & 3]:
        servers[((x0 >> 2) & 3) % nsrv]["slowstart"] = HQ_SLOWSTARTS[x0 & 3]
    if x0 & 0x10 and HQ_DRAWS[(x0 >> 5) & 3] != 2:
        backend["draws"] = HQ_DRAWS[(x0 >> 5) & 3]
    if HQ_RETRIES[x1 & 3] != 3:
        backend["retries"] = HQ_RETRIES[x1 & 3]
    if (x1 >> 2) & 3 and requests:
        requests[(x1 >> 4) % len(requests)]["fails"] = (x1 >> 2) & 3
    out = {"threads": threads, "servers": servers, "backend": backend, "requests": requests, "events": events}
    if x0 & 0x80 and threads > 1:
        out["threads_per_group"] = 1
    return out


def _nearest(options: tuple[int, ...], value: int) -> int:
    return min(range(len(options)), key=lambda i: (abs(options[i] - value), i))


def encode(w: dict[str, Any]) -> bytes:
    """Nearest input for a canonical haproxy_queue workload (values outside
    the encoding's ranges are clamped)."""
    b = w["backend"]
    servers, requests, events = w["servers"][:4], w["requests"][:15], w["events"][:3]
    balance = HQ_BALANCES.index(b["balance"]) if b["balance"] in HQ_BALANCES else 0  # random: in the pair
    c0 = (min(w["threads"], 4) - 1) | balance << 2 | (len(servers) - 1) << 4
    c0 |= 0x40 * bool(b["redispatch"]) | 0x80 * (b["maxpollevents"] == 1)
    tq = HQ_TIMEOUTS.index(b["timeout_queue"]) if b["timeout_queue"] in HQ_TIMEOUTS else 0
    out = bytearray([c0, len(requests) | len(events) << 4 | tq << 6])
    # the version-3 pair: the first server in slowstart, random(draws), retries, the first failing request
    ramp = next((i for i, s in enumerate(servers) if s.get("slowstart")), None)
    x0 = 0 if ramp is None else _nearest(HQ_SLOWSTARTS[1:], servers[ramp]["slowstart"]) + 1 | ramp << 2
    if b["balance"] == "random":
        x0 |= 0x10 | _nearest(HQ_DRAWS, b.get("draws", 2)) << 5
    if w.get("threads_per_group") and w["threads"] > 1:
        x0 |= 0x80
    failing = next((i for i, q in enumerate(requests) if q.get("fails")), None)
    x1 = _nearest(HQ_RETRIES, b.get("retries", 3))
    if failing is not None:
        x1 |= min(requests[failing]["fails"], 3) << 2 | failing << 4
    for i, s in enumerate(servers):
        out.append(
            (min(max(s["maxconn"], 1), 4) - 1) | 4 * bool(s["backup"]) | 8 * bool(s["down"])
            | min(s["maxqueue"], 3) << 4 | 0x40 * (s["minconn"] != s["maxconn"]) | 0x80 * (i == 0 and bool(x0 or x1))
        )
    if x0 or x1:
        out += bytes([x0, x1])
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
