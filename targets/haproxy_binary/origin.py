"""A small HTTP/1.1 origin server for `qfuzz stress haproxy_binary`.

Why ours and not nginx: the workload mix needs slow requests (`?d=MS` holds
the response for MS milliseconds) so that legitimate overload timeouts occur
next to stuck ones, and nginx cannot sleep without an extra module.  It runs
as its own process (`python -m harness.targets.haproxy_binary.origin FD...`), one
listening socket per server, keep-alive, no pipelining (HAProxy never
pipelines to a server).  It serves until SIGTERM or until its parent dies."""
from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from typing import Optional

MAX_DELAY_MS = 60_000
MAX_HEAD = 16384


def delay_of(target: bytes) -> float:
    """Seconds to hold the response: the `d=` query parameter, in ms."""
    q = target.partition(b"?")[2]
    for part in q.split(b"&"):
        if part.startswith(b"d="):
            try:
                return min(max(int(part[2:]), 0), MAX_DELAY_MS) / 1000.0
            except ValueError:
                return 0.0
    return 0.0


class Origin(asyncio.Protocol):
    def __init__(self, name: bytes):
        self.name = name
        self.buf = b""
        self.transport: Optional[asyncio.Transport] = None
        self.busy = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if len(self.buf) > MAX_HEAD:
            self._close()
            return
        self._next()

    def _next(self) -> None:
        if self.busy:
            return
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return
        head, self.buf = self.buf[:end], self.buf[end + 4 :]
        line = head.split(b"\r\n", 1)[0].split(b" ")
        if len(line) != 3:
            self._close()
            return
        close = b"\r\nconnection: close" in head.lower()
        d = delay_of(line[1])
        if d > 0:
            self.busy = True
            asyncio.get_running_loop().call_later(d, self._respond, close)
        else:
            self._respond(close)

    def _respond(self, close: bool) -> None:
        self.busy = False
        if self.transport is None or self.transport.is_closing():
            return
        body = b"ok " + self.name + b"\n"
        self.transport.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n%s\r\n%s"
            % (len(body), b"Connection: close\r\n" if close else b"", body)
        )
        if close:
            self._close()
        elif self.buf:
            self._next()

    def _close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Optional[Exception]) -> None:
        self.transport = None


async def serve(socks: list[socket.socket]) -> None:
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))
    servers = [
        await loop.create_server(lambda i=i: Origin(b"s%d" % i), sock=s, backlog=1024) for i, s in enumerate(socks)
    ]
    parent = os.getppid()

    async def orphan_watch() -> None:  # never outlive the harness, even after a SIGKILL
        while os.getppid() == parent:
            await asyncio.sleep(0.5)
        stop.done() or stop.set_result(None)

    watch = asyncio.ensure_future(orphan_watch())
    await stop
    watch.cancel()
    for srv in servers:
        srv.close()


def main(argv: list[str]) -> int:
    """argv: listening fds inherited from the harness (pass_fds), so ports are
    bound before this process starts and never raced for."""
    socks = [socket.socket(fileno=int(fd)) for fd in argv]
    asyncio.run(serve(socks))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
