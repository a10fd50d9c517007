"""A program's seeded campaign in a worker child process, so that a program
that crashes (SIGSEGV, abort in a signal handler, a runaway the core cannot
stop) costs one execution, not the campaign.

The worker writes the number of the execution it is about to run into
shared memory (as the nightly job's workers do); executions are
deterministic in (variant, strategy, seed, number), so when the worker dies
the parent rebuilds that exact input, saves it as a crash reproducer
(harness.crash, with the program block), reports a CRASH, and starts a new
worker after it.  The parent never runs an execution itself while workers
run (a fork of a process whose native threads exist would inherit none of
them); the findings' swim-lanes are replayed from the corpus afterwards."""
from __future__ import annotations

import json
import multiprocessing as mp
from multiprocessing.connection import wait
import signal
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from ..corpus import Stored
from ..engines.campaign import Campaign, CampaignResult, Finding

HANG_SECONDS = 30.0  # no new execution for this long (minimizing included): the worker is hung
CHILD_DIED = "the program's child process"  # how native/rt/fork.c's errors begin
MAX_RESTARTS = 1000  # a restart costs a fork and a load: milliseconds


@dataclass
class Crashed:
    execution: int
    reason: str
    file: Path
    count: int = 1  # crashes of this reason on this workload (one file is kept for them)


@dataclass
class IsolatedResult(CampaignResult):
    crashes: list[Crashed] = field(default_factory=list)
    error: str = ""


def _worker(campaign: Campaign, first: int, first_workload: int, seconds: Optional[float], runs: Optional[int],
            on_new: Optional[Callable[[Finding], None]], on_start: Optional[Callable[[], None]], progress: Any,
            queue: Any, hung: frozenset[str] = frozenset()) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides

    def note(i: int) -> None:
        progress[0] = i
        progress[1] += 1
        progress[3] = campaign.workload_number

    def new(f: Finding) -> None:
        if on_new:
            on_new(f)
        queue.send(("new", _summary(f)))

    try:
        if on_start is not None:
            on_start()
        r = campaign.run(seconds=seconds, runs=runs, first=first, first_workload=first_workload, on_new=new, on_execution=note,
                         skip=_hung_check(hung, progress) if hung else None)
        queue.send(("done", {"executions": r.executions, "seconds": r.seconds, "minimize_seconds": r.minimize_seconds,
                            "counts": {s: f.count for s, f in r.findings.items()}, "skipped": r.skipped}))
    except Exception as exc:  # reported to the parent: an internal error is never a finding
        traceback.print_exc()
        queue.send(("error", f"{type(exc).__name__}: {exc}"))


def _hung_check(hung: frozenset[str], progress: Any) -> Callable[[Any], bool]:
    """skip() for Campaign.run: is this workload one that hung?  (Looked up once per workload
    object: a campaign runs many schedules of each.)  Skipped workloads are counted in progress[2]."""
    last: list[Any] = [None, False]

    def skip(w: Any) -> bool:
        if last[0] is not w:
            last[0], last[1] = w, workload_key(w.to_json()) in hung
        if last[1]:
            progress[2] += 1
        return bool(last[1])

    return skip


def workload_key(data: Any) -> str:
    """A workload's identity (its canonical JSON): which ones crashed or hung."""
    return json.dumps(data, sort_keys=True)


def _summary(f: Finding) -> dict[str, Any]:
    return {
        "signature": f.signature, "first_execution": f.first_execution, "first_seconds": f.first_seconds,
        "count": f.count, "stored": (f.stored.status, str(f.stored.path)) if f.stored else None,
    }


def run_campaign(
    campaign: Campaign,
    *,
    seconds: Optional[float],
    runs: Optional[int],
    on_new: Optional[Callable[[Finding], None]] = None,
    on_crash: Optional[Callable[[Crashed], None]] = None,
    on_start: Optional[Callable[[], None]] = None,
    hang_seconds: float = HANG_SECONDS,
) -> IsolatedResult:
    """Campaign.run() in worker children; findings come back with their
    stored reproducers replayed (traces included)."""
    from ..crash import Crash, save

    ctx = mp.get_context("fork")
    progress = ctx.Array("q", 4, lock=False)  # the execution under way, executions, workloads skipped, its workload
    result = IsolatedResult()
    summaries: dict[str, dict[str, Any]] = {}
    start = time.monotonic()
    first = first_workload = 0
    restarts = 0
    seen: dict[tuple[str, str], Crashed] = {}
    hung: set[str] = set()  # workloads that hung: later draws of them are skipped
    while True:
        left_s = None if seconds is None else seconds - (time.monotonic() - start)
        left_runs = None if runs is None else runs - first
        if (left_s is not None and left_s <= 0.05) or (left_runs is not None and left_runs <= 0):
            break
        progress[0], progress[1], progress[2], progress[3] = first, 0, 0, first_workload
        reader, queue = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_worker, args=(campaign, first, first_workload, left_s, left_runs, on_new, on_start if first == 0 else None,
                                                        progress, queue, frozenset(hung)),
                           daemon=True)
        proc.start()
        queue.close()  # the worker's end: the parent only reads

        def handle(what: str, data: Any) -> Optional[dict[str, Any]]:
            if what == "new":
                s = summaries.setdefault(data["signature"], data)
                if s is not data:
                    s["count"] += data["count"]
            elif what == "done":
                return data
            elif what == "error":
                result.error = data
                return {}
            return None

        done, reason = supervise(proc, reader, lambda: progress[0], hang_seconds, handle)
        if done is not None:
            result.executions += int(done.get("executions", progress[1]))
            result.skipped += int(done.get("skipped", progress[2]))
            result.minimize_seconds += float(done.get("minimize_seconds", 0.0))  # the last worker's
            for sig, n in done.get("counts", {}).items():
                if sig in summaries:
                    summaries[sig]["count"] = max(summaries[sig]["count"], n)
            break
        if result.error:
            break
        # the worker died on execution progress[0]: keep that input, go on after it
        i, first_workload = int(progress[0]), int(progress[3])
        result.executions += int(progress[1])
        result.skipped += int(progress[2])
        w = campaign.workload_at(first_workload)
        key = (reason, workload_key(w.to_json()))
        if reason.startswith("timeout"):  # it would hang again, for hang_seconds each time: not run again
            hung.add(workload_key(w.to_json()))
        if key in seen:  # the same crash on the same workload: counted, one file is enough
            seen[key].count += 1
        else:
            crash = Crash(campaign.target.name, campaign.variant.name, w.to_json(),
                          campaign.scheduler_for(i).to_json(), reason,
                          found={"engine": campaign.strategy, "seed": campaign.seed, "execution": i, "workload_number": first_workload},
                          program=campaign.target.program_block())
            corpus_dir = campaign.corpus.dir if campaign.corpus is not None else Path(".qfuzz") / campaign.target.name
            c = seen[key] = Crashed(i, reason, save(crash, corpus_dir / "crashes"))
            result.crashes.append(c)
            if on_crash:
                on_crash(c)
        first = i + 1
        restarts += 1
        if restarts > MAX_RESTARTS:
            result.error = f"the program crashed {restarts} times; stopping"
            break
    result.seconds = time.monotonic() - start
    result.findings = {sig: _finding(campaign, s) for sig, s in summaries.items()}
    return result


def supervise(proc: Any, reader: Any, moved: Callable[[], int], hang_seconds: float,
              handle: Callable[[str, Any], Optional[dict[str, Any]]]) -> tuple[Optional[dict[str, Any]], str]:
    """Read a worker's messages (`handle(what, data)` returns the final
    message's data, else None) until it is done, dies or makes no progress
    (`moved()` unchanged) for `hang_seconds`: (final data, "") or (None, why
    it ended: "signal 11 (SIGSEGV)", "timeout after 30 s")."""
    last, since = -1, time.monotonic()
    while True:
        ready = wait([reader, proc.sentinel], timeout=0.2)  # a message, or the worker's end, whichever first
        if reader in ready:
            try:
                what, data = reader.recv()
            except EOFError:  # died mid-message or without one: judged below
                what, data = "", None
            done = handle(what, data) if what else None
            if done is not None:
                proc.join(timeout=10)
                return done, ""
            if what:
                continue  # drain every message before looking at the worker
        if moved() != last:
            last, since = moved(), time.monotonic()
        if not proc.is_alive():
            proc.join()
            code = proc.exitcode or 0
            return None, f"signal {-code} ({_signame(-code)})" if code < 0 else f"exit status {code}"
        if time.monotonic() - since > hang_seconds:
            proc.kill()
            proc.join()
            return None, f"timeout after {hang_seconds:g} s"


def replayed(target: Any, variant: str, s: dict[str, Any]) -> Finding:
    """A worker's finding (its summary) as a Finding, replayed from its stored reproducer (trace included)."""
    from ..reproducer import load

    stored = Stored(s["stored"][0], Path(s["stored"][1])) if s["stored"] else None
    ex = load(stored.path).replay() if stored else None
    v = ex.verdict if ex else None
    expected = target.variant(variant).explains(v.kind, v.path, *v.labels) if v else None
    return Finding(s["signature"], s["first_execution"], s["first_seconds"], ex,  # type: ignore[arg-type]
                   count=s.get("count", 1), expected=expected, stored=stored)


def _finding(campaign: Campaign, s: dict[str, Any]) -> Finding:
    return replayed(campaign.target, campaign.variant.name, s)


class ProgramCrashed(Exception):
    """A program's execution killed its forked child (run_isolated)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason  # "signal 11 (SIGSEGV)", as the campaign's crashes say it


def run_isolated(target: Any, variant: str, workload: Any, scheduler: Any) -> Any:
    """One execution of a program in a forked child (native/rt/fork.c), so a
    segfault costs that execution only: the Execution, or ProgramCrashed.
    For engines that run in the caller's process (hypothesis properties)."""
    import re

    from ..runner import run

    try:
        return run(target, variant, workload, scheduler, trace=False, fork=True)
    except ValueError as exc:
        msg = str(exc)
        if not msg.startswith(CHILD_DIED):
            raise
        m = re.search(r"signal (\d+)", msg)
        raise ProgramCrashed(f"signal {m.group(1)} ({_signame(int(m.group(1)))})" if m else msg) from None


def save_crash(target: Any, variant: str, workload: Any, scheduler: Any, reason: str, directory: Path,
               found: dict[str, Any]) -> Path:
    """The crash reproducer of one execution (harness.crash: `qfuzz repro FILE` replays it in a child)."""
    from ..crash import Crash, save

    w = target.workload(workload)
    sched = {"seed": 0, **scheduler.to_json()}  # a replayed decision list has no seed: make() ignores it
    return save(Crash(target.name, variant, w.to_json(), sched, reason, found=found,
                      program=target.program_block()), directory)


def _signame(n: int) -> str:
    try:
        return signal.Signals(n).name
    except ValueError:
        return "?"
