"""The log collector of a stress run: reads HAProxy's log datagrams (UDP on
127.0.0.1, `format raw`) from an inherited socket and appends one line per
datagram to a file.

Why UDP and not `log stdout`: measured on 2 cores, HAProxy 2.6 drops stdout
log lines under thread contention (DroppedLogs > 0: its writers give up on
a busy fd), while UDP sends never block the sender.  Loss can then only
happen in our receive buffer, which is large (SO_RCVBUFFORCE as root) and
watched: the run reports the socket's kernel drop counter
(/proc/net/udp), and compares log lines with the responses the clients got.

Runs as its own process (`python -m harness.stress.blackbox.collector FD FILE`)
so the reader never waits for the GIL; on SIGTERM it drains what is queued
and exits."""
from __future__ import annotations

import os
import select
import signal
import socket
import sys

RCVBUF = 64 << 20


def enlarge(sock: socket.socket) -> None:
    opt = getattr(socket, "SO_RCVBUFFORCE", 33)
    try:
        sock.setsockopt(socket.SOL_SOCKET, opt, RCVBUF)  # root: past net.core.rmem_max
    except OSError:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)


def udp_drops(port: int) -> int:
    """The kernel's drop counter of the UDP socket bound to 127.0.0.1:port (-1 if not found)."""
    want = f"0100007F:{port:04X}"
    try:
        with open("/proc/net/udp") as f:
            next(f)
            for line in f:
                fields = line.split()
                if len(fields) > 12 and fields[1] == want:
                    return int(fields[12])
    except (OSError, ValueError, StopIteration):
        pass
    return -1


def collect(sock: socket.socket, out_path: str) -> None:
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    parent = os.getppid()
    sock.setblocking(False)
    with open(out_path, "ab", buffering=1 << 16) as out:
        while True:
            ready, _, _ = select.select([sock], [], [], 0.2)
            if not ready:
                out.flush()
                if stopping or os.getppid() != parent:
                    return  # drained: nothing left within 0.2 s
                continue
            while True:  # everything queued, without a select per datagram
                try:
                    data = sock.recv(65536)
                except (BlockingIOError, InterruptedError):
                    break
                out.write(data.rstrip(b"\n") + b"\n")


def main(argv: list[str]) -> int:
    sock = socket.socket(fileno=int(argv[0]))
    collect(sock, argv[1])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
