"""The load: `conns` concurrent HTTP/1.1 clients against the program under test, bounded in
time (`seconds`) and count (`max_requests`), seeded.

Each request is `GET /k<key>?id=<client>-<n>&d=<ms>`: the path is what
`balance uri` hashes (the query is not hashed), `id` ties a log line to the
request, `d` asks our origin to hold the response (slow requests make
legitimate overload timeouts).  Runs as its own process
(`python -m harness.stress.blackbox.load PORT CONFIG_JSON`) so it does not
steal the GIL from the stats sampler; prints one JSON summary and exits."""
from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import sys
import time
from collections import Counter
from typing import Any, Optional

from dataclasses import dataclass, fields


@dataclass(frozen=True)
class LoadSpec:
    """What the load needs of a target's configuration (its JSON form may
    hold more: other keys are ignored).  The target validated the values."""

    conns: int = 20
    keepalive: bool = False
    keys: int = 1
    think_ms: int = 0
    slow_pct: int = 0
    slow_ms: int = 0
    max_requests: int = 5_000_000
    seconds: float = 20.0
    seed: int = 0
    timeout_queue: int = 1000  # ms: how long a request may legitimately wait
    # a timed scenario instead of clients: [at_ms, path, hold_ms, extra header lines] per request,
    # each on its own connection, sent at start_at (epoch seconds) + at_ms; its id is "s-<index>"
    script: tuple[tuple[int, str, int, str], ...] = ()
    start_at: float = 0.0

    @staticmethod
    def from_json(d: dict[str, Any]) -> "LoadSpec":
        names = {f.name for f in fields(LoadSpec)}
        spec = {k: v for k, v in d.items() if k in names}
        if "script" in spec:
            spec["script"] = tuple((int(a), str(p), int(h), str(x)) for a, p, h, x in spec["script"])
        return LoadSpec(**spec)


class Load:
    def __init__(self, port: int, cfg: LoadSpec):
        self.port = port
        self.cfg = cfg
        self.sent = 0
        self.status: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.deadline = 0.0
        self.stopping = False
        self.request_timeout = (cfg.timeout_queue + cfg.slow_ms) / 1000.0 + 10.0
        # after the deadline (or a stop), requests in flight get this long, then are abandoned
        self.grace = (cfg.timeout_queue + cfg.slow_ms) / 1000.0 + 2.0
        self.hard_deadline = float("inf")
        self.outcomes: dict[int, str] = {}  # scripted requests: index -> status or error

    def _more(self) -> bool:
        return not self.stopping and self.sent < self.cfg.max_requests and time.monotonic() < self.deadline

    async def client(self, ident: int) -> None:
        rnd = random.Random(self.cfg.seed * 100_003 + ident)
        cfg = self.cfg
        reader: Optional[asyncio.StreamReader] = None
        writer: Optional[asyncio.StreamWriter] = None
        n = 0
        conn_hdr = b"" if cfg.keepalive else b"Connection: close\r\n"
        while self._more():
            self.sent += 1
            n += 1
            d = cfg.slow_ms if cfg.slow_pct and rnd.randrange(100) < cfg.slow_pct else 0
            req = b"GET /k%d?id=%d-%d&d=%d HTTP/1.1\r\nHost: qfuzz\r\n%s\r\n" % (rnd.randrange(cfg.keys), ident, n, d, conn_hdr)
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
                assert reader is not None
                writer.write(req)
                status, close = await asyncio.wait_for(self._response(reader), self.request_timeout)
                self.status[status] += 1
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
                self.errors[type(exc).__name__] += 1
                close = True
            except asyncio.TimeoutError:
                self.errors["timeout"] += 1
                close = True
            if close or not cfg.keepalive:
                if writer is not None:
                    writer.close()
                reader = writer = None
            if cfg.think_ms:
                await asyncio.sleep(rnd.uniform(0, cfg.think_ms) / 1000.0)
        if writer is not None:
            writer.close()

    @staticmethod
    async def _response(reader: asyncio.StreamReader) -> tuple[str, bool]:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = lines[0].split(" ", 2)[1]
        length, close = None, False
        for h in lines[1:]:
            k, _, v = h.partition(":")
            k = k.strip().lower()
            if k == "content-length":
                length = int(v)
            elif k == "connection" and "close" in v.lower():
                close = True
        if length is None:
            await reader.read()  # until the server closes
            return status, True
        await reader.readexactly(length)
        return status, close

    async def scripted(self, index: int, at_ms: int, path: str, hold_ms: int, headers: str) -> None:
        """One request of a timed scenario, on its own connection, at its time."""
        delay = self.cfg.start_at + at_ms / 1000.0 - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        if self.stopping:
            return
        self.sent += 1
        sep = "&" if "?" in path else "?"
        req = f"GET {path}{sep}id=s-{index}&d={hold_ms} HTTP/1.1\r\nHost: qfuzz\r\n{headers}Connection: close\r\n\r\n".encode()
        writer = None
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
            writer.write(req)
            status, _ = await asyncio.wait_for(self._response(reader), self.request_timeout + hold_ms / 1000.0)
            self.status[status] += 1
            self.outcomes[index] = status
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
            self.errors[type(exc).__name__] += 1
            self.outcomes[index] = type(exc).__name__
        except asyncio.TimeoutError:
            self.errors["timeout"] += 1
            self.outcomes[index] = "timeout"
        finally:
            if writer is not None:
                writer.close()

    async def run(self) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stop)
        t0 = time.time()
        self.deadline = time.monotonic() + self.cfg.seconds
        self.hard_deadline = self.deadline + self.grace
        if self.cfg.script:
            tasks = [asyncio.ensure_future(self.scripted(i, *r)) for i, r in enumerate(self.cfg.script)]
        else:
            tasks = [asyncio.ensure_future(self.client(i)) for i in range(self.cfg.conns)]
        while not all(t.done() for t in tasks):
            await asyncio.wait(tasks, timeout=0.1)
            if time.monotonic() > self.hard_deadline:  # bounded in time even if the program hangs
                pending = [t for t in tasks if not t.done()]
                self.errors["abandoned at the deadline"] += len(pending)
                for t in pending:
                    t.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
                break
        return {
            "sent": self.sent, "status": dict(self.status), "errors": dict(self.errors),
            "t0": t0, "t1": time.time(), **({"outcomes": self.outcomes} if self.cfg.script else {}),
        }

    def _stop(self) -> None:
        self.stopping = True
        self.hard_deadline = min(self.hard_deadline, time.monotonic() + self.grace)


def main(argv: list[str]) -> int:
    port, cfg = int(argv[0]), LoadSpec.from_json(json.loads(argv[1]))
    parent = os.getppid()
    load = Load(port, cfg)

    async def go() -> dict[str, Any]:
        async def orphan_watch() -> None:
            while os.getppid() == parent:
                await asyncio.sleep(0.5)
            load._stop()

        w = asyncio.ensure_future(orphan_watch())
        try:
            return await load.run()
        finally:
            w.cancel()

    result = asyncio.run(go())
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
