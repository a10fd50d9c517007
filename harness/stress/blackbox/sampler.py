"""Sample a running program's state on a background thread, every
`interval` seconds (default 10 ms), through the target's `probe()`.

Samples are kept in memory and written as JSON lines (one per sample).  A
target's live watcher (`add(prev, sample)`, `longest()`) sees every sample,
so a run can stop once a STUCK is certain instead of running its full time."""
from __future__ import annotations

import json
import threading
import time
from typing import IO, Any, Callable, Optional


class Sampler:
    def __init__(self, probe: Callable[[], Optional[Any]], interval: float = 0.01, out: Optional[IO[str]] = None,
                 watch: Optional[Any] = None):
        self.probe = probe
        self.interval = interval
        self.out = out
        self.watch = watch
        self.samples: list[Any] = []
        self.max_gap = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="qfuzz-sampler", daemon=True)
        self._lock = threading.Lock()

    def start(self) -> "Sampler":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        nxt = time.monotonic()
        while not self._stop.is_set():
            s = self.probe()
            if s is not None:
                self._add(s)
            nxt += self.interval
            delay = nxt - time.monotonic()
            if delay > 0:
                self._stop.wait(delay)
            else:
                nxt = time.monotonic()  # fell behind: do not burst to catch up

    def _add(self, s: Any) -> None:
        with self._lock:
            prev = self.samples[-1] if self.samples else None
            self.samples.append(s)
        if prev is not None:
            self.max_gap = max(self.max_gap, s.t - prev.t)
        if self.out is not None:
            self.out.write(json.dumps(s.to_json(), separators=(",", ":")) + "\n")
        if self.watch is not None:
            self.watch.add(prev, s)

    def longest_stall(self) -> float:
        return self.watch.longest() if self.watch is not None else 0.0

    def snapshot(self) -> list[Any]:
        with self._lock:
            return list(self.samples)
