"""haproxy_queue: our C model of HAProxy's server and backend request queues
(model.c, oracle.c), and the Python side of it: variants, the workload
format, the workload mix, and how a workload shrinks."""
from __future__ import annotations

import hashlib
import json
import random
import struct
from typing import Any, Iterator, Mapping

from harness.errors import WorkloadError
from harness.target import Target

from .catalog import BUG_REDIST_PX, BUG_SEED_PX, BUG_SEED_SRV, BUGS, VARIANTS

BALANCES = ("roundrobin", "first", "leastconn", "hash", "random")
MIXES = ("generic", "basic", "persist", "admin", "backup", "all")
GRIDS = ("10ms", "1ms", "continuous")  # generated times: a 10 ms grid (before 2026-12), whole ms, or microseconds
ACTIONS = ("disable", "enable", "set_maxconn", "shutdown", "delete")
MAX_THREADS, MAX_SERVERS, MAX_REQUESTS, MAX_EVENTS = 16, 8, 64, 16
MAX_TIME = 10_000_000
MAX_JITTER = 100_000  # timer window, in the workload's time unit
LAYOUT = 4  # the packed int32 layout shared with model.c (HQ_LAYOUT)
# The generic mix's shares, named so that bench/bench_catalog.py --compare-mix can run a candidate
# (GENERIC) against the round-3 ones in one run.  They are equal: the candidate tried in round 4
# (half the workloads with a short timeout queue, 2 in 5 servers with 2 slots, hash 2 in 5; a lost
# wake-up on a 2-slot server only shows when the timeout beats the other slot's release) helped
# b11495652 under random a little and cost e9d34f991 more (docs/catalog.md).
GENERIC = {"short_timeout": 0.25, "maxconn": (1, 1, 1, 1, 2), "balances": BALANCES[:4]}
GENERIC_ROUND3 = {"short_timeout": 0.25, "maxconn": (1, 1, 1, 1, 2), "balances": BALANCES[:4]}


def _obj(value: Any, where: str, keys: set[str]) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise WorkloadError(f"{where}: expected an object, got {type(value).__name__}")
    unknown = set(value) - keys
    if unknown:
        raise WorkloadError(f"{where}: unknown field {sorted(map(str, unknown))[0]!r}")
    return value


def _int(d: Mapping[str, Any], key: str, where: str, lo: int, hi: int, default: int | None = None) -> int:
    if key not in d:
        if default is None:
            raise WorkloadError(f"{where}.{key}: missing")
        return default
    v = d[key]
    if isinstance(v, bool) or not isinstance(v, int):
        raise WorkloadError(f"{where}.{key}: expected an integer, got {v!r}")
    if not lo <= v <= hi:
        raise WorkloadError(f"{where}.{key}: {v} is outside {lo}..{hi}")
    return v


def _bool(d: Mapping[str, Any], key: str, where: str, default: bool) -> bool:
    v = d.get(key, default)
    if not isinstance(v, bool):
        raise WorkloadError(f"{where}.{key}: expected true or false, got {v!r}")
    return v


def _choice(d: Mapping[str, Any], key: str, where: str, options: tuple[str, ...], default: str | None) -> str:
    v = d.get(key, default)
    if v is None:
        raise WorkloadError(f"{where}.{key}: missing")
    if v not in options:
        raise WorkloadError(f"{where}.{key}: {v!r} is not one of {', '.join(options)}")
    return v


def _list(d: Mapping[str, Any], key: str, where: str, lo: int, hi: int) -> list[Any]:
    v = d.get(key, [])
    if not isinstance(v, list):
        raise WorkloadError(f"{where}.{key}: expected a list")
    if not lo <= len(v) <= hi:
        raise WorkloadError(f"{where}.{key}: {len(v)} entries, {lo}..{hi} allowed")
    return v


class HaproxyQueue(Target):
    name = "haproxy_queue"
    description = "HAProxy's server and backend request queues (model of src/queue.c, src/backend.c)"
    variants = VARIANTS
    bugs = BUGS
    path_names = {0: "-", 1: "server-queue", 2: "backend-queue"}
    # 2 (2026-12): the 2026 tree (ready_srv, del server, wake reasons, queueslength) moved schedule
    # points; a version-1 file loads only if it still replays to its stored verdict.
    # 3 (2026-12): the lbprm read lock (pickers that overlap under leastconn/first), slowstart, connect
    # retries, random LB; an older file loads only if it still replays to its stored verdict
    version = 3

    def canonical(self, data: Any, where: str = "workload") -> dict[str, Any]:
        d = _obj(data, where, {"threads", "servers", "backend", "requests", "events", "jitter",
                               "threads_per_group"})
        threads = _int(d, "threads", where, 1, MAX_THREADS)
        # thread groups (HAProxy 3.2+: a queue per group): thread t is in group t // threads_per_group,
        # so any thread count stays valid (--threads, shrinking); left out, the default, all threads are
        # in one group and older workloads stay byte-identical
        per_group = _int(d, "threads_per_group", where, 1, MAX_THREADS, 0)
        # how long a due timer may wait for a later one (native/core.c, timer jitter); 0, the default,
        # is left out so that workloads written before it existed stay byte-identical
        jitter = _int(d, "jitter", where, 0, MAX_JITTER, 0)
        servers = []
        for i, s in enumerate(_list(d, "servers", where, 1, MAX_SERVERS)):
            w = f"{where}.servers[{i}]"
            s = _obj(s, w, {"maxconn", "minconn", "maxqueue", "weight", "backup", "down", "slowstart"})
            maxconn = _int(s, "maxconn", w, 0, 100000)
            srv = {
                "maxconn": maxconn,
                "minconn": _int(s, "minconn", w, 0, 100000, maxconn),
                "maxqueue": _int(s, "maxqueue", w, 0, 100000, 0),
                "weight": _int(s, "weight", w, 0, 256, 1),
                "backup": _bool(s, "backup", w, False),
                "down": _bool(s, "down", w, False),
            }
            # the ramp after coming up (server_warmup), in the workload's time unit; left out when 0
            slowstart = _int(s, "slowstart", w, 0, MAX_TIME, 0)
            if slowstart:
                srv["slowstart"] = slowstart
            servers.append(srv)
        b = _obj(d.get("backend", {}), f"{where}.backend",
                 {"balance", "timeout_queue", "redispatch", "maxpollevents", "fullconn", "retries", "draws"})
        wb = f"{where}.backend"
        backend = {
            "balance": _choice(b, "balance", wb, BALANCES, "roundrobin"),
            "timeout_queue": _int(b, "timeout_queue", wb, 1, MAX_TIME, 50),
            "redispatch": _bool(b, "redispatch", wb, False),
            "maxpollevents": _int(b, "maxpollevents", wb, 1, 10000, 64),
            "fullconn": _int(b, "fullconn", wb, 0, 100000, 0),
        }
        # `retries` (connect retries, HAProxy's default 3) and `balance random(draws)` (default 2):
        # left out at their defaults, so older workloads stay byte-identical
        retries = _int(b, "retries", wb, 0, 100, 3)
        if retries != 3:
            backend["retries"] = retries
        draws = _int(b, "draws", wb, 1, 16, 2)
        if draws != 2:
            backend["draws"] = draws
        requests = []
        for i, r in enumerate(_list(d, "requests", where, 0, MAX_REQUESTS)):
            w = f"{where}.requests[{i}]"
            r = _obj(r, w, {"at", "thread", "duration", "key", "cookie", "poke", "tick", "fails"})
            cookie = r.get("cookie")
            if cookie is not None:
                cookie = _int(r, "cookie", w, 0, len(servers) - 1)
            poke = r.get("poke")
            if poke is not None:
                poke = _int(r, "poke", w, 0, MAX_TIME)
            tick = r.get("tick")
            if tick is not None:
                tick = _int(r, "tick", w, 0, MAX_TIME)
            req = {
                    "at": _int(r, "at", w, 0, MAX_TIME),
                    "thread": _int(r, "thread", w, 0, threads - 1),
                    "duration": _int(r, "duration", w, 0, MAX_TIME),
                    "key": _int(r, "key", w, 0, 2**31 - 1, 0),
                    "cookie": cookie,  # persistence: the server it sticks to, or null
                    "poke": poke,  # when client activity wakes the stream while it waits, or null
            }
            if tick is not None:
                # when another of its timeouts fires while it waits in a queue (its task's own
                # timer, TASK_WOKEN_TIMER); left out when unset, so older workloads stay byte-identical
                req["tick"] = tick
            # how many of its connect attempts fail (back_handle_st_cer, retries, redispatch); left out when 0
            fails = _int(r, "fails", w, 0, 100, 0)
            if fails:
                req["fails"] = fails
            requests.append(req)
        events = []
        for i, e in enumerate(_list(d, "events", where, 0, MAX_EVENTS)):
            w = f"{where}.events[{i}]"
            e = _obj(e, w, {"at", "thread", "action", "server", "value"})
            action = _choice(e, "action", w, ACTIONS, None)
            events.append(
                {
                    "at": _int(e, "at", w, 0, MAX_TIME),
                    "thread": _int(e, "thread", w, 0, threads - 1),
                    "action": action,
                    "server": _int(e, "server", w, 0, len(servers) - 1),
                    # set_maxconn: 1 or more (0, "unlimited", would strand what is already
                    # queued: process_srv_queue never runs for an unlimited server)
                    "value": _int(e, "value", w, 1 if action == "set_maxconn" else 0, 100000,
                                  0 if action != "set_maxconn" else None),
                }
            )
        out = {"threads": threads, "servers": servers, "backend": backend, "requests": requests, "events": events}
        if jitter:
            out["jitter"] = jitter
        if per_group:
            out["threads_per_group"] = per_group
        return out

    def pack(self, data: Mapping[str, Any]) -> bytes:
        b = data["backend"]
        ints = [
            LAYOUT, data["threads"], len(data["servers"]), len(data["requests"]), len(data["events"]),
            BALANCES.index(b["balance"]), b["timeout_queue"], int(b["redispatch"]), b["maxpollevents"], b["fullconn"],
            b.get("retries", 3), b.get("draws", 2), data.get("threads_per_group", 0),
        ]
        for s in data["servers"]:
            ints += [s["maxconn"], s["minconn"], s["maxqueue"], s["weight"], int(s["backup"]), int(s["down"]),
                     s.get("slowstart", 0)]
        for r in data["requests"]:
            cookie, poke, tick = r.get("cookie"), r.get("poke"), r.get("tick")
            ints += [r["at"], r["thread"], r["duration"], r["key"], -1 if cookie is None else cookie,
                     -1 if poke is None else poke, -1 if tick is None else tick, r.get("fails", 0)]
        for e in data["events"]:
            ints += [e["at"], e["thread"], ACTIONS.index(e["action"]), e["server"], e["value"]]
        return struct.pack(f"<{len(ints)}i", *ints)

    def counter_names(self, data: Mapping[str, Any]) -> list[str]:
        names = ["px.served", "px.qlen", "beconn", "totpend"]
        for i in range(len(data["servers"])):
            names += [f"s{i}.served", f"s{i}.cur_sess", f"s{i}.qlen"]
        return names

    def size(self, data: Mapping[str, Any]) -> dict[str, int]:
        return {
            "threads": data["threads"],
            "servers": len(data["servers"]),
            "requests": len(data["requests"]),
            "events": len(data["events"]),
        }

    def estimate_steps(self, data: Mapping[str, Any]) -> int:
        return (10 + 35 * len(data["requests"]) + 20 * len(data["events"])
                + 25 * sum(r.get("fails", 0) for r in data["requests"])
                + 5 * 20 * sum(1 for s in data["servers"] if s.get("slowstart")))

    def budget(self, data: Mapping[str, Any]) -> int:
        return (4000 + 1000 * (len(data["requests"]) + len(data["events"]))
                + 500 * sum(r.get("fails", 0) for r in data["requests"])
                + 1000 * sum(1 for s in data["servers"] if s.get("slowstart")))

    def jitter(self, data: Mapping[str, Any]) -> int:
        return int(data.get("jitter", 0))

    def fixes(self) -> dict[int, str]:
        # the seed fix's two halves, then every catalog entry's one reverted fix
        out = {BUG_SEED_SRV: "5541d4995/server", BUG_SEED_PX: "5541d4995/backend", BUG_REDIST_PX: "53f52e67a"}
        for bug in BUGS:
            out.setdefault(VARIANTS[bug.variant].bits, bug.commit)
        return out

    # -- the workload mix ------------------------------------------------------
    default_mix = "generic"

    def generate(self, rnd: random.Random, mix: str = "generic", *, grid: str = "1ms",
                 jitter: int | None = None) -> dict[str, Any]:
        """A small random workload, mostly maxconn 1.  Times are whole ms
        (`grid` "1ms"), or a 10 ms grid as before 2026-12 ("10ms"), or
        microseconds ("continuous": every time in the workload is then in µs).
        Off the 10 ms grid, arrivals and releases rarely share an instant, so
        the workload sets a timer window (`jitter`, default 10 ms) within which
        the schedule may let a timer wait for a later one.

        "generic", the default for every variant, draws every field of the
        format: maxqueue, minconn/fullconn, weight, servers down at start,
        backups, persistence cookies, client pokes, admin events, maxconn
        changes and a short timeout queue, each in a share of the workloads;
        a quarter of them are closed-loop clients (one per thread, starting
        together, each next request when its last one ends: the seed fix's
        shape, without a grid).  A share of its workloads also has a server
        in slowstart, connect failures with `retries`, or `balance random`
        (_add_2026_fields).  The older hand-picked mixes
        stay as options: "basic" (load balancing only), "persist" (cookies and
        pokes), "admin" (servers disabled, enabled, shut down, resized),
        "backup" (backup servers), "all" (one of these four)."""
        if mix == "all":
            mix = rnd.choice(MIXES[1:-1])
        if mix not in MIXES:
            raise WorkloadError(f"unknown workload mix {mix!r} (mixes: {', '.join(MIXES)})")
        if grid not in GRIDS:
            raise WorkloadError(f"unknown time grid {grid!r} (grids: {', '.join(GRIDS)})")
        unit = 1000 if grid == "continuous" else 1

        def t(lo: int, hi: int) -> int:
            """A time in [lo, hi] ms, in the workload's unit."""
            if grid == "10ms":
                return 10 * rnd.randint(-(-lo // 10), hi // 10)
            return rnd.randint(lo * unit, hi * unit)

        generic = mix == "generic"
        threads = rnd.choice((2, 2, 2, 3, 3, 4))
        if generic:
            nsrv = rnd.choice((1, 1, 1, 2, 2, 3))
        else:
            nsrv = rnd.choice((1, 1, 1, 2)) if mix in ("basic", "persist") else rnd.choice((1, 2, 2, 3))
        maxconns = GENERIC["maxconn"] if generic else (1, 1, 1, 1, 2)
        servers: list[dict[str, Any]] = [{"maxconn": rnd.choice(maxconns)} for _ in range(nsrv)]
        backend: dict[str, Any] = {"timeout_queue": 50 * unit}
        if generic and rnd.random() < GENERIC["short_timeout"]:  # timeouts race picks, inserts and rescues
            backend["timeout_queue"] = t(10, 40)
        closed = generic and rnd.random() < 0.25
        if closed:  # closed-loop clients, one per thread: a burst, then each next request when its last one ends
            dur, start = t(10, 20), t(0, 10)
            slots = []
            for c in range(threads):
                first = start + dur * rnd.choice((0, 0, 1))
                slots += [(first + j * dur, c) for j in range(rnd.randint(1, 2))]
        persist = mix == "persist" or (generic and rnd.random() < 0.3)
        admin = mix in ("admin", "backup") or (generic and rnd.random() < 0.4)
        if mix == "backup" or (generic and rnd.random() < 0.25):
            servers.append({"maxconn": 1, "backup": True})
        if generic:
            for srv in servers[:nsrv]:
                if rnd.random() < 0.15:
                    srv["maxqueue"] = rnd.randint(1, 2)
                if rnd.random() < 0.15:
                    srv["weight"] = rnd.choice((0, 2, 3))
                if rnd.random() < 0.1:
                    srv["down"] = True
            if rnd.random() < 0.15:  # a dynamic limit: max(minconn, beconn * maxconn / fullconn)
                srv = rnd.choice(servers[:nsrv])
                srv["maxconn"], srv["minconn"] = rnd.randint(2, 3), 1
                backend["fullconn"] = rnd.randint(2, 6)
        backend["balance"] = rnd.choice(GENERIC["balances"] if generic else BALANCES[:4] if mix != "persist"
                                        else ("roundrobin", "first", "leastconn"))
        backend["redispatch"] = mix != "basic" and rnd.random() < 0.5
        requests = []
        for k in range(len(slots) if closed else rnd.randint(2, 6)):
            if closed:
                r: dict[str, Any] = {"at": slots[k][0], "thread": slots[k][1], "duration": dur, "key": rnd.randrange(4)}
            else:
                r = {"at": t(0, 40), "thread": rnd.randrange(threads), "duration": t(10, 20), "key": rnd.randrange(4)}
            if persist and rnd.random() < 0.5:
                r["cookie"] = rnd.randrange(nsrv)
            if persist and rnd.random() < 0.3:
                r["poke"] = r["at"] + t(10, 30)
            if generic and rnd.random() < 0.2:  # another of its timeouts fires while it may be queued
                r["tick"] = r["at"] + t(1, 30)
            requests.append(r)
        requests.sort(key=lambda r: r["at"])
        events = []
        if admin:
            for _ in range(rnd.randint(1, 3)):
                action = rnd.choice(ACTIONS)
                e: dict[str, Any] = {
                    "at": t(0, 45),
                    "thread": rnd.randrange(threads),
                    "action": action,
                    "server": rnd.randrange(nsrv),  # actives only: backups stay up
                }
                if action == "set_maxconn":
                    e["value"] = rnd.choice((1, 2))
                if action == "delete":  # only a server in maintenance can go: disable it just before
                    events.append({**e, "action": "disable", "at": max(0, e["at"] - t(0, 5))})
                events.append(e)
            events.sort(key=lambda e: e["at"])
        out = {"threads": threads, "servers": servers, "backend": backend, "requests": requests, "events": events}
        window = (10 * unit if grid != "10ms" else 0) if jitter is None else jitter
        if window:
            out["jitter"] = window
        if generic:
            _add_2026_fields(out, unit)
            _add_thread_groups(out)
        return out

    def seed_workloads(self) -> dict[str, dict[str, Any]]:
        """The shape in the seed fix's message: 2 threads, 1 server, maxconn 1,
        short requests whose arrivals meet the previous one's end."""
        times = [(0, 0), (10, 1), (10, 0), (20, 1), (20, 0), (30, 1)]
        reqs = [{"at": at, "thread": th, "duration": 10, "key": 0} for at, th in times]
        base = {"threads": 2, "servers": [{"maxconn": 1}], "requests": reqs}
        return {
            "seed-roundrobin": {**base, "backend": {"balance": "roundrobin", "timeout_queue": 50}},
            "seed-hash": {**base, "backend": {"balance": "hash", "timeout_queue": 50}},
        }

    # -- shrinking ----------------------------------------------------------------
    def shrink(self, data: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        d = _copy(data)
        # fewer requests and events (last first: later ones matter less)
        for key in ("requests", "events"):
            for i in reversed(range(len(d[key]))):
                c = _copy(d)
                del c[key][i]
                yield c
        # fewer threads: drop a thread with nothing to do, else fold the last one into the others
        busy = {item["thread"] for item in d["requests"] + d["events"]}
        for t in range(d["threads"]):
            if t not in busy and d["threads"] > 1:
                c = _copy(d)
                c["threads"] -= 1
                for item in c["requests"] + c["events"]:
                    item["thread"] -= item["thread"] > t
                yield c
                break
        if d["threads"] > 1:
            c = _copy(d)
            c["threads"] -= 1
            for item in c["requests"] + c["events"]:
                item["thread"] = min(item["thread"], c["threads"] - 1)
            yield c
        if d.get("threads_per_group"):  # one thread group, or fewer groups
            c = _copy(d)
            del c["threads_per_group"]
            yield c
            if d["threads_per_group"] + 1 < d["threads"]:
                c = _copy(d)
                c["threads_per_group"] += 1
                yield c
        # fewer servers
        if len(d["servers"]) > 1:
            for j in reversed(range(len(d["servers"]))):
                c = _copy(d)
                del c["servers"][j]
                c["events"] = [
                    {**e, "server": e["server"] - (e["server"] > j)} for e in c["events"] if e["server"] != j
                ]
                for r in c["requests"]:
                    if r.get("cookie") is not None:
                        r["cookie"] = None if r["cookie"] == j else r["cookie"] - (r["cookie"] > j)
                yield c
        # smaller limits and simpler settings
        for j, s in enumerate(d["servers"]):
            if s["maxconn"] > 1:
                c = _copy(d)
                c["servers"][j]["maxconn"] = c["servers"][j]["minconn"] = s["maxconn"] - 1
                yield c
        for i, r in enumerate(d["requests"]):
            for key in ("cookie", "poke"):
                if r.get(key) is not None:
                    c = _copy(d)
                    c["requests"][i][key] = None
                    yield c
            if r.get("tick") is not None:
                c = _copy(d)
                del c["requests"][i]["tick"]
                yield c
            if r.get("fails"):  # fewer connect errors, down to none
                c = _copy(d)
                if r["fails"] > 1:
                    c["requests"][i]["fails"] = r["fails"] - 1
                else:
                    del c["requests"][i]["fails"]
                yield c
        for j, s in enumerate(d["servers"]):
            if s.get("slowstart"):  # no ramp, then a shorter one
                c = _copy(d)
                del c["servers"][j]["slowstart"]
                yield c
                if s["slowstart"] > 1:
                    c = _copy(d)
                    c["servers"][j]["slowstart"] = s["slowstart"] // 2
                    yield c
        b = d["backend"]
        if "retries" in b and not any(r.get("fails") for r in d["requests"]):
            c = _copy(d)
            del c["backend"]["retries"]
            yield c
        if b["balance"] == "random":  # a plain algorithm instead, or fewer draws
            c = _copy(d)
            c["backend"]["balance"] = "roundrobin"
            c["backend"].pop("draws", None)
            yield c
            if b.get("draws", 2) > 1:
                c = _copy(d)
                c["backend"]["draws"] = 1
                yield c
        elif "draws" in b:
            c = _copy(d)
            del c["backend"]["draws"]
            yield c
        if d.get("jitter"):
            c = _copy(d)
            del c["jitter"]
            yield c
        if d["backend"]["redispatch"]:
            c = _copy(d)
            c["backend"]["redispatch"] = False
            yield c
        for key, small in (("key", 0), ("duration", 0)):
            for i, r in enumerate(d["requests"]):
                if r[key] > small:
                    c = _copy(d)
                    c["requests"][i][key] = small if key == "key" else r[key] // 2
                    yield c
        # the same story, started at t=0 (everything relative is unchanged)
        times = sorted({r["at"] for r in d["requests"]} | {e["at"] for e in d["events"]})
        if times and times[0] > 0:
            c = _copy(d)
            for item in c["requests"] + c["events"]:
                item["at"] -= times[0]
            yield c
        # earlier, more compact times: close the gaps
        remap = {t: i * 10 if i else 0 for i, t in enumerate(times)}
        if any(remap[t] != t for t in times):
            c = _copy(d)
            for item in c["requests"] + c["events"]:
                item["at"] = remap[item["at"]]
            yield c

    # -- how its traces read (harness/swimlane.py, harness/htmltrace.py) ---------------
    def roles(self, verdict: Any) -> tuple[str, str]:
        if verdict.kind == "STUCK":
            return ("the queuer's full check", _RELEASER.get(verdict.labels[1], "the releaser's decision not to dequeue"))
        return ("", "")

    def window(self, verdict: Any) -> Any:
        return "stranded window" if verdict.kind == "STUCK" else None

    def wait(self, ex: Any) -> Any:
        """The stuck request's wait against `timeout queue` (a harness.target.Wait), or None."""
        from harness.target import Wait

        v = ex.verdict
        if v.kind != "STUCK" or v.request is None:
            return None
        tq = ex.workload.data.get("backend", {}).get("timeout_queue")
        queued = next((e.time for e in ex.trace if e.label == "QUEUED" and e.request == v.request), v.stranded_at)
        waited = v.failed_at - queued if v.failed_at is not None and queued is not None else None
        line = (f"request {v.request} queued at t={queued}, stranded from t={v.stranded_at}, timed out at "
                f"t={v.failed_at}: waited {waited} of timeout queue {tq}")
        return Wait(line, queued, v.stranded_at, v.failed_at, tq if isinstance(tq, int) else None, "queued",
                    f"failed: waited {waited} of timeout queue {tq}",
                    ("queued, no server free", _STRANDED.get(v.labels[1], "stranded: a server had a free slot")))

    # -- the engines' own encodings of a workload (harness/fuzzinput.py, harness/strategies.py)
    def decode_workload(self, reader: Any) -> dict[str, Any]:
        from .fuzz_encoding import decode

        return decode(reader)

    def encode_workload(self, workload: Mapping[str, Any]) -> bytes:
        from .fuzz_encoding import encode

        return encode(dict(workload))

    def hypothesis_workloads(self, **knobs: Any) -> Any:
        from .hypothesis_workloads import workloads

        return workloads(**knobs)


# the release side's critical event, where it is not a decision not to dequeue
_RELEASER = {
    "RD_SKIP_PX": "the last server's redistribution, which left the backend queue",
    "GR_UNCOUNTED": "the grab that counted none of the slots it handed out",
    "WU_GRAB_ONLY": "the warmup tick that raised the limit and grabbed from the backend queue only",
}
# how the swim lane's wait bar names the stranded span, by the releaser's label
_STRANDED = {
    "RD_SKIP_PX": "stranded: the backend queue left behind",
    "GR_UNCOUNTED": "stranded: a free slot by served's count, held by a grabbed stream",
    "WU_GRAB_ONLY": "stranded: the ramp's new slot, offered to the backend queue only",
}


def _add_2026_fields(w: dict[str, Any], unit: int) -> None:
    """The generic mix's share of the fields added in 2026-12: slowstart, connect
    failures with retries, the random LB.  They are drawn from a generator seeded
    by the workload drawn so far, not from the caller's: the caller's sequence
    (and so every workload it gives without these fields) is the one it was
    before they existed."""
    digest = hashlib.sha256(json.dumps(w, sort_keys=True).encode()).digest()
    rnd = random.Random(int.from_bytes(digest[:8], "little"))
    actives = [s for s in w["servers"] if not s.get("backup")]
    if rnd.random() < 0.15:  # a server ramping up (server_warmup): its limit grows from 1 to maxconn
        srv = rnd.choice(actives)
        srv["maxconn"] = max(srv["maxconn"], rnd.randint(2, 3))  # with maxconn 1 the ramp stays at 1
        srv["slowstart"] = rnd.randint(10, 40) * unit
    if rnd.random() < 0.15:  # connect errors: retries on the same server, redispatch on the last one
        for r in rnd.sample(w["requests"], rnd.randint(1, min(2, len(w["requests"])))):
            r["fails"] = rnd.randint(1, 2)
        retries = rnd.choice((0, 1, 1, 2, 3))
        if retries != 3:
            w["backend"]["retries"] = retries
    if w["backend"]["balance"] != "hash" and rnd.random() < 0.15:  # balance random(draws)
        w["backend"]["balance"] = "random"
        draws = rnd.choice((1, 2, 2, 3))
        if draws != 2:
            w["backend"]["draws"] = draws


def _add_thread_groups(w: dict[str, Any]) -> None:
    """The generic mix's share of workloads with thread groups (a queue per group,
    process_srv_queue's own-group-first order), drawn like _add_2026_fields from a
    generator seeded by the workload so far.  Enough threads for the groups, and the
    requests spread over them, so that some queue in every group."""
    digest = hashlib.sha256(json.dumps(w, sort_keys=True).encode()).digest()
    rnd = random.Random(int.from_bytes(digest[8:16], "little"))
    if rnd.random() >= 0.15:
        return
    # 4 and 5 groups reach the bitmap's second word, 6 its third (HQ_LONGBITS 2)
    w["threads"] = max(w["threads"], rnd.choice((2, 3, 4, 4, 5, 6)))
    w["threads_per_group"] = rnd.choice((1, 1, 1, 2))
    for r in w["requests"]:
        r["thread"] = rnd.randrange(w["threads"])


def _copy(d: Mapping[str, Any]) -> dict[str, Any]:
    c = {
        "threads": d["threads"],
        "servers": [dict(s) for s in d["servers"]],
        "backend": dict(d["backend"]),
        "requests": [dict(r) for r in d["requests"]],
        "events": [dict(e) for e in d["events"]],
    }
    if d.get("jitter"):
        c["jitter"] = d["jitter"]
    if d.get("threads_per_group"):
        c["threads_per_group"] = d["threads_per_group"]
    return c


TARGET = HaproxyQueue()
