"""The nightly job: every variant of every target under every engine, in
parallel worker processes, with canaries, crash recovery and reports.

Each work item (target, variant, engine, seed) is a seeded campaign with a
share of the budget.  Workers are processes (one per core, each pinned to its
own CPU) so a crashing target takes down one worker, not the job.  A worker
writes the number of the execution it is about to run into shared memory;
executions are deterministic in (variant, engine, seed, number), so when a
worker dies or stops making progress the parent rebuilds the exact input,
saves it as a crash reproducer, and starts a new worker after it."""
from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

SEEDED_ENGINES = ("pct", "random", "pos")


@dataclass
class Item:
    target: str
    variant: str
    engine: str
    seed: int
    seconds: float


@dataclass
class Found:
    signature: str
    kind: str
    path: str
    explained: str  # the variant's reason for it, "" when unexplained
    status: str  # corpus: "new", "replaced" or "kept"
    file: str
    first_execution: int
    first_seconds: float
    removed_by: list[str] = field(default_factory=list)  # the fixes that remove it (harness/attribution.py)


@dataclass
class ItemResult:
    item: Item
    executions: int = 0
    seconds: float = 0.0
    findings: list[Found] = field(default_factory=list)
    crashes: list[str] = field(default_factory=list)  # crash reproducer files
    error: str = ""
    restarts: int = 0
    stopped: bool = False


def plan(targets: list[str], seconds: float, jobs: int, engines: tuple[str, ...], seed: int,
         variants: Optional[list[str]] = None) -> list[Item]:
    """Split jobs x seconds of CPU evenly over every (target, variant, engine)."""
    from ..targets import get

    pairs = []
    for name in targets:
        t = get(name)
        for v in t.variants:
            if variants and v not in variants:
                continue
            for e in engines:
                pairs.append((name, v, e))
    # keep back what starting a worker and writing the report cost (measured:
    # a 600 s night ran 614 s without this)
    usable = max(seconds * 0.5, seconds - 0.25 * len(pairs) / max(1, jobs) - 6.0)
    share = usable * jobs / max(1, len(pairs))
    return [Item(t, v, e, seed, share) for t, v, e in pairs]


# -- the worker process -------------------------------------------------------------


def _worker(slot: int, cpu: int, item: Item, first: int, first_workload: int, corpus_dir: str, progress: Any,
            results: Any) -> None:
    from ..corpus import Corpus
    from ..pinning import set_cpu
    from ..targets import get
    from .campaign import Campaign

    stopping = False

    def on_term(signum: int, frame: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides; Ctrl-C reaches the whole group
    _die_with_parent()
    set_cpu(cpu)
    target = get(item.target)
    variant = target.variant(item.variant)

    def note(i: int) -> None:
        progress[slot * PER_SLOT] = i
        progress[slot * PER_SLOT + 1] += 1
        progress[slot * PER_SLOT + 2] = camp.workload_number
        progress[slot * PER_SLOT + 3] = camp.pct_k or 0

    out = ItemResult(item)
    try:
        camp = Campaign(target, item.variant, item.engine, seed=item.seed, corpus=Corpus(corpus_dir, target.name),
                        minimize_seconds=max(0.2, min(3.0, item.seconds / 32)))  # searching comes first: a canary behind ten findings
        r = camp.run(seconds=item.seconds, first=first, first_workload=first_workload, should_stop=lambda: stopping, on_execution=note,
                     deadline=time.monotonic() + item.seconds)
        out.executions, out.seconds, out.stopped = r.executions, r.seconds, stopping
        for f in r.findings.values():
            v = f.execution.verdict
            why = variant.explains(v.kind, v.path, *v.labels)
            out.findings.append(Found(f.signature, v.kind, v.path, why.why if why else "", f.stored.status if f.stored else "",
                                      str(f.stored.path) if f.stored else "", f.first_execution, round(f.first_seconds, 3),
                                      list(f.attribution.removed_by) if f.attribution else []))
    except Exception as exc:  # reported, not raised: the parent must get a result
        out.error = f"{type(exc).__name__}: {exc}"
        traceback.print_exc()
    results.put((slot, asdict(out)))


def _die_with_parent() -> None:
    """SIGTERM when the parent dies (even by SIGKILL): no orphan keeps
    fuzzing and writing into the corpus after its night is over."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() == 1:  # the parent died before prctl
        os.kill(os.getpid(), signal.SIGTERM)


# -- the parent ----------------------------------------------------------------------

STOP_GRACE = 5.0  # seconds a stopped worker gets to report before it is killed
PER_SLOT = 4  # progress words per worker: the execution under way, executions run, its workload's number, PCT's k


@dataclass
class Slot:
    index: int
    cpu: int
    item: Optional[Item] = None
    proc: Optional[Any] = None
    started: float = 0.0
    last_index: int = -1
    last_move: float = 0.0
    count_at_start: int = 0
    partial: Optional[ItemResult] = None
    terminated: bool = False  # sent SIGTERM by stop()


class Nightly:
    def __init__(self, items: list[Item], jobs: int, corpus_dir: str, hang_timeout: float = 30.0,
                 on_update: Optional[Callable[["Nightly"], None]] = None):
        self.items = list(items)
        self.jobs = jobs
        self.corpus_dir = corpus_dir
        self.hang_timeout = hang_timeout
        self.on_update = on_update
        self.results: list[ItemResult] = []
        cpus = sorted(os.sched_getaffinity(0))
        self.slots = [Slot(i, cpus[i % len(cpus)]) for i in range(jobs)]
        # fork is ~100x quicker to start than spawn; the parent never runs an
        # execution, so it has no native threads a child could inherit
        ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
        self.ctx = ctx
        self.progress = ctx.Array("q", PER_SLOT * jobs, lock=False)
        self.queue = ctx.Queue()
        self.stopping = False
        self.stopped_at = 0.0
        self.pending = list(self.items)

    def stop(self) -> None:
        """Stop the night (a signal handler may call it at any point of run())."""
        if not self.stopping:
            self.stopped_at = time.monotonic()
        self.stopping = True
        self.pending.clear()
        self._terminate()

    def _terminate(self) -> None:
        for s in self.slots:
            if s.proc is not None and not s.terminated and s.proc.is_alive():
                s.terminated = True
                s.proc.terminate()  # SIGTERM: the worker finishes what it found and reports

    def _stopped(self, slot: Slot) -> None:
        """A worker that ended (or was killed) because the night was stopped:
        what it ran counts, and it is no crash."""
        item = slot.item
        assert item is not None
        res = slot.partial or ItemResult(item)
        res.executions += int(self.progress[slot.index * PER_SLOT + 1]) - slot.count_at_start
        res.seconds = time.monotonic() - slot.started
        res.stopped = True
        self._finish(slot, res)

    def _start(self, slot: Slot, item: Item, first: int = 0, partial: Optional[ItemResult] = None,
               first_workload: int = 0) -> None:
        self.progress[slot.index * PER_SLOT] = first
        self.progress[slot.index * PER_SLOT + 3] = 0  # PCT's k: noted before each execution
        self.progress[slot.index * PER_SLOT + 2] = first_workload
        slot.item, slot.started, slot.last_index, slot.last_move = item, time.monotonic(), first, time.monotonic()
        slot.count_at_start = int(self.progress[slot.index * PER_SLOT + 1])
        slot.partial = partial
        slot.terminated = False
        slot.proc = self.ctx.Process(target=_worker, args=(slot.index, slot.cpu, item, first, first_workload, self.corpus_dir,
                                                            self.progress, self.queue), daemon=True)
        slot.proc.start()

    def _crashed(self, slot: Slot, reason: str) -> None:
        """Save the input the worker died on and start over after it."""
        from ..crash import Crash, save
        from ..targets import get
        from .campaign import Campaign

        item = slot.item
        assert item is not None
        i, n = int(self.progress[slot.index * PER_SLOT]), int(self.progress[slot.index * PER_SLOT + 2])
        target = get(item.target)
        camp = Campaign(target, item.variant, item.engine, seed=item.seed)
        w = camp.workload_at(n)
        sched = camp.scheduler_for(i, int(self.progress[slot.index * PER_SLOT + 3])).to_json()
        crash = Crash(target.name, item.variant, w.to_json(), sched, reason,
                      found={"engine": item.engine, "seed": item.seed, "execution": i, "workload_number": n},
                      program=target.program_block())  # a C program's sources, so the file replays
        path = save(crash, Path(self.corpus_dir) / target.name / "crashes")
        partial = slot.partial or ItemResult(item)
        partial.crashes.append(str(path))
        partial.executions += int(self.progress[slot.index * PER_SLOT + 1]) - slot.count_at_start  # up to the crash
        partial.restarts += 1
        elapsed = time.monotonic() - slot.started
        remaining = item.seconds - elapsed
        slot.proc = None
        if remaining > 0.5 and not self.stopping and partial.restarts <= 20:
            self._start(slot, Item(item.target, item.variant, item.engine, item.seed, remaining), i + 1, partial, n)
        else:
            self._finish(slot, partial)

    def _finish(self, slot: Slot, res: ItemResult) -> None:
        self.results.append(res)
        slot.item, slot.proc, slot.partial = None, None, None

    def run(self) -> list[ItemResult]:
        while True:
            for slot in self.slots:
                if slot.item is None and self.pending and not self.stopping:
                    self._start(slot, self.pending.pop(0))
            if all(s.item is None for s in self.slots):
                break
            try:
                idx, data = self.queue.get(timeout=0.2)
                slot = self.slots[idx]
                if slot.item is None:  # already counted as stopped (killed after STOP_GRACE)
                    continue
                res = _result_from(data)
                if slot.partial is not None:  # a restarted item: add up its pieces
                    res.executions += slot.partial.executions
                    res.crashes = slot.partial.crashes + res.crashes
                    res.restarts = slot.partial.restarts
                    res.item = slot.partial.item
                if slot.proc is not None:
                    slot.proc.join(timeout=5)
                self._finish(slot, res)
            except Exception:  # queue.Empty: look after the workers
                pass
            now = time.monotonic()
            if self.stopping:
                self._terminate()  # also a worker started just as the signal came
            for slot in self.slots:
                if slot.item is None or slot.proc is None:
                    continue
                i = int(self.progress[slot.index * PER_SLOT])
                if i != slot.last_index:
                    slot.last_index, slot.last_move = i, now
                if self.stopping and (not slot.proc.is_alive() and slot.proc.exitcode not in (0, None)
                                      or now - self.stopped_at > STOP_GRACE):
                    if slot.proc.is_alive():
                        slot.proc.kill()
                        slot.proc.join(timeout=5)
                    self._stopped(slot)
                elif not slot.proc.is_alive() and slot.proc.exitcode not in (0, None):
                    code = slot.proc.exitcode
                    reason = f"signal {-code} ({_signame(-code)})" if code < 0 else f"exit status {code}"
                    self._crashed(slot, reason)
                elif slot.proc.is_alive() and now - slot.last_move > self.hang_timeout:
                    slot.proc.kill()
                    slot.proc.join(timeout=5)
                    self._crashed(slot, f"timeout after {self.hang_timeout:g} s")
            if self.on_update:
                self.on_update(self)
        return self.results


def _signame(n: int) -> str:
    try:
        return signal.Signals(n).name
    except ValueError:
        return "?"


def _result_from(d: dict[str, Any]) -> ItemResult:
    res = ItemResult(Item(**d["item"]))
    for k in ("executions", "seconds", "crashes", "error", "restarts", "stopped"):
        setattr(res, k, d[k])
    res.findings = [Found(**f) for f in d["findings"]]
    return res
