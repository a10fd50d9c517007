"""`qfuzz fuzz prog.c --engine hypothesis`: the whole hypothesis search in
a worker child process, so a program that crashes costs an example, not
the search.  A fork per example cost 9 ms against 0.56 ms in process
(round 3), so examples run in the worker's own process.

Before each execution the worker writes its input (workload and schedule)
into shared memory (harness.runner.watch).  When the worker dies of a
signal (or stops moving for HANG_SECONDS), the parent saves that input as
a crash reproducer (harness.crash), prints one CRASH line and starts a new
worker, which resumes the search: the next hypothesis round (each round's
random seed is a function of the campaign's seed and the round number),
with the examples left, the signatures found so far (not searched for
again) and the workloads that crashed.  Those workloads run each example
in a forked child of the worker from then on (native/rt/fork.c), so a
workload that crashes under some schedules costs 9 ms per example, not a
worker per crash; a repeat of a crash already saved is counted, not
printed.  A worker that dies while minimizing a finding hands it back: the
next worker stores it as found, unminimized, before it searches.

The parent never runs an execution while workers run (a fork of a process
whose native threads exist would inherit none of them); the findings'
swim-lanes are replayed from the corpus afterwards."""
from __future__ import annotations

import mmap
import multiprocessing as mp
import pickle
import signal
import struct
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from ..engines.campaign import Finding
from .isolate import HANG_SECONDS, MAX_RESTARTS, Crashed, ProgramCrashed, replayed, supervise, workload_key

CASE_BYTES = 1 << 16  # the shared buffer for the input under way (a program's workload is its argv: small)


@dataclass
class SearchState:
    """What a new worker needs to go on where the last one stopped."""

    first_round: int = 0
    examples: int = 0  # examples run by earlier workers (the budget and "found after N examples" count them)
    seconds: float = 0.0  # wall time before this worker started (a finding's "found after" counts it)
    known: set[str] = field(default_factory=set)  # signatures found (stored) so far
    crashing: set[str] = field(default_factory=set)  # workloads (canonical JSON) that crashed: forked from now on
    unminimized: list[tuple[Any, ...]] = field(default_factory=list)  # (sig, w, s, seconds, examples)


@dataclass
class IsolatedSearch:
    examples: int = 0
    seconds: float = 0.0  # wall time
    minimize_seconds: float = 0.0  # the part of it spent minimizing and storing (in the workers)
    findings: list[Finding] = field(default_factory=list)
    crashes: list[Crashed] = field(default_factory=list)
    workers: int = 0  # worker processes started
    error: str = ""


class _Shared:
    """The input under way, in memory the parent reads after the worker died:
    [0] round, [1] examples counted, [2] executions started, [3] minimizing
    (0/1), then the length and the pickled (workload JSON, schedule JSON)."""

    def __init__(self, ctx: Any):
        self.counters = ctx.Array("q", 4, lock=False)
        self.case = mmap.mmap(-1, CASE_BYTES)  # anonymous and shared: the worker's writes outlive it

    def note(self, target: Any, variant: Any, workload: Any, schedule: Any) -> None:
        blob = pickle.dumps((workload.data, schedule.to_json()), protocol=pickle.HIGHEST_PROTOCOL)  # ~2 us
        if len(blob) + 4 > CASE_BYTES:
            self.case[:4] = struct.pack("<I", 0)
        else:
            self.case[4 : 4 + len(blob)] = blob
            self.case[:4] = struct.pack("<I", len(blob))
        self.counters[2] += 1

    def last(self) -> Optional[tuple[dict[str, Any], dict[str, Any]]]:
        (n,) = struct.unpack("<I", self.case[:4])
        return pickle.loads(self.case[4 : 4 + n]) if n else None

    def clear(self) -> None:
        self.case[:4] = struct.pack("<I", 0)
        for i in range(4):
            self.counters[i] = 0


def _worker(target: Any, variant: str, state: SearchState, search_args: dict[str, Any],
            keep: Callable[[Any, bool], Finding], on_start: Optional[Callable[[], None]], shared: _Shared,
            conn: Any) -> None:
    from .. import runner
    from ..engines.hypothesis_engine import Found, search
    from .isolate import run_isolated

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides
    minimizing = [0.0]

    def execute(t: Any, v: str, w: Any, s: Any) -> Any:
        w = t.workload(w)
        if workload_key(w.to_json()) not in state.crashing:
            return runner.run(t, v, w, s, trace=False)
        try:
            return run_isolated(t, v, w, s)
        except ProgramCrashed as crash:
            conn.send(("crash", (crash.reason, w.to_json(), s.to_json(), state.examples + shared.counters[1])))
            return None

    def stored(f: Found, minimize: bool) -> None:
        shared.counters[3] = 1
        conn.send(("minimizing", (f.signature, f.execution.workload.to_json(), f.execution.scheduler.to_json(),
                                  f.first_seconds, f.first_examples)))
        t0 = time.monotonic()
        finding = keep(f, minimize)
        minimizing[0] += time.monotonic() - t0
        shared.counters[3] = 0
        conn.send(("new", _summary(finding)))

    def progress(round_no: int, examples: int) -> None:
        shared.counters[0], shared.counters[1] = round_no, examples

    def new(f: Found) -> None:
        f.first_examples += state.examples
        f.first_seconds += state.seconds
        stored(f, True)

    try:
        runner.watch = shared.note
        if on_start is not None:
            on_start()
        for sig, w, s, first_s, first_n in state.unminimized:  # its worker died minimizing it: store it as found
            from ..schedulers import make

            s = dict(s)
            ex = runner.run(target, variant, w, make(s.pop("strategy"), s.pop("seed", 0), **s))
            stored(Found(sig, first_s, first_n, ex), False)
            state.known.add(sig)
        r = search(target, variant, **search_args, known=state.known, first_round=state.first_round,
                   execute=execute, progress=progress, on_new=new)
        conn.send(("done", {"examples": r.examples, "minimize_seconds": minimizing[0]}))
    except Exception as exc:  # reported to the parent: an internal error is never a finding
        traceback.print_exc()
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        runner.watch = None


def _summary(f: Finding) -> dict[str, Any]:
    return {
        "signature": f.signature, "first_execution": f.first_execution, "first_seconds": f.first_seconds,
        "stored": (f.stored.status, str(f.stored.path)) if f.stored else None,
        "minimized": str(f.minimized.after) if f.minimized else None,
    }


def run_search(
    target: Any,
    variant: str,
    *,
    seconds: Optional[float],
    examples: Optional[int],
    seed: int,
    workload: Any,
    keep: Callable[[Any, bool], Finding],
    crashes_dir: Path,
    on_crash: Optional[Callable[[Crashed], None]] = None,
    on_start: Optional[Callable[[], None]] = None,
    hang_seconds: float = HANG_SECONDS,
) -> IsolatedSearch:
    """hypothesis_engine.search() in worker children.  `keep(found, minimize)`
    runs in the worker: it minimizes (if asked) and stores a Found, prints it,
    and returns its Finding.  The result's findings are replayed from the
    corpus in this process once the last worker is done."""
    start = time.monotonic()  # the budget is wall time: the import below counts
    import hypothesis  # noqa: F401  imported once here, not again by every worker (0.3-0.6 s)

    from ..crash import Crash, save
    from ..strategies import cases  # noqa: F401

    ctx = mp.get_context("fork")
    shared = _Shared(ctx)
    state = SearchState()
    result = IsolatedSearch()
    summaries: dict[str, dict[str, Any]] = {}
    seen: dict[tuple[str, str], Crashed] = {}

    def crashed(reason: str, w: dict[str, Any], s: dict[str, Any], example: int) -> None:
        key = (reason, workload_key(w))
        if key in seen:  # the same crash on the same workload: counted, one file is enough
            seen[key].count += 1
            return
        crash = Crash(target.name, variant, w, {"seed": 0, **s}, reason,
                      found={"engine": "hypothesis", "seed": seed, "examples": example},
                      program=target.program_block())
        c = seen[key] = Crashed(example, reason, save(crash, crashes_dir))
        result.crashes.append(c)
        if on_crash:
            on_crash(c)

    while True:
        left_s = None if seconds is None else seconds - (time.monotonic() - start)
        left_n = None if examples is None else examples - state.examples
        if (left_s is not None and left_s <= 0.05) or (left_n is not None and left_n <= 0):
            break
        shared.clear()
        shared.counters[0] = state.first_round
        state.seconds = time.monotonic() - start
        reader, conn = ctx.Pipe(duplex=False)
        search_args = {"seconds": left_s, "examples": left_n, "seed": seed, "workload": workload}
        proc = ctx.Process(target=_worker, daemon=True,
                           args=(target, variant, state, search_args, keep,
                                 on_start if result.workers == 0 else None, shared, conn))
        proc.start()
        result.workers += 1
        conn.close()  # the worker's end: the parent only reads
        state.unminimized = []
        minimizing: list[Any] = []  # the finding its worker is minimizing, if any

        def handle(what: str, data: Any) -> Optional[dict[str, Any]]:
            if what == "new":
                summaries.setdefault(data["signature"], data)
                state.known.add(data["signature"])
                minimizing.clear()
            elif what == "minimizing":
                minimizing[:] = [data]
            elif what == "crash":
                crashed(*data)
            elif what == "done":
                return data
            elif what == "error":
                result.error = data
                return {}
            return None

        done, reason = supervise(proc, reader, lambda: shared.counters[2], hang_seconds, handle)
        reader.close()
        if done is not None:
            state.examples += int(done.get("examples", shared.counters[1]))
            result.minimize_seconds += float(done.get("minimize_seconds", 0.0))
            break
        # the worker died on the input in shared memory: save it, go on with the next round
        state.examples += int(shared.counters[1])
        case = shared.last()
        if case is not None:
            crashed(reason, case[0], case[1], state.examples)
            state.crashing.add(workload_key(case[0]))
        else:
            result.error = f"the worker died ({reason}) with no input on record"
            break
        if minimizing and shared.counters[3]:
            state.unminimized = minimizing[:]
        state.first_round = int(shared.counters[0]) + 1
        if result.workers > MAX_RESTARTS:
            result.error = f"the program crashed {result.workers - 1} times; stopping"
            break
    result.examples = state.examples
    result.seconds = time.monotonic() - start
    result.findings = [replayed(target, variant, s) for s in summaries.values()]
    return result
