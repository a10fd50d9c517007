"""qfuzz nightly: every variant under every engine on every core, canaries,
crash recovery, and a report in Markdown, JSON and JUnit XML.

Exit status: 0 the night is clean, 1 a new unexplained failure, any
unexplained failure on a variant that expects none (even one the corpus
already holds) or a missed canary (a known bug the harness no longer finds),
2 an infrastructure error or a cancelled night (SIGTERM/SIGINT: the report
is written, items not run are skipped)."""
from __future__ import annotations

import argparse
import datetime
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from ..errors import QfuzzError
from .common import positive_float, positive_int, writable_dir

PROGRESS_EVERY = 5.0  # seconds between plain progress lines when the output is not a terminal
HELP = "the nightly job: all variants x engines in parallel, canaries, reports"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--time", type=positive_float, default=600.0, help="wall-clock budget in seconds (default 600)")
    p.add_argument("--jobs", type=positive_int, default=len(os.sched_getaffinity(0)),
                   help="worker processes, one per core (default: every core)")
    p.add_argument("--report", help="report directory (default reports/nightly-DATE)")
    p.add_argument("--corpus", default="corpus", help="corpus root new failures are merged into (default corpus)")
    p.add_argument("--targets", default="haproxy_queue", help="comma-separated targets (default haproxy_queue)")
    p.add_argument("--variants", help="comma-separated variants (default: all)")
    p.add_argument("--engines", default="pct,random,pos", help="comma-separated engines (default pct,random,pos)")
    p.add_argument("--seed", type=int, default=None, help="campaign seed (default: from the date, so nights differ)")
    p.add_argument("--hang-timeout", type=positive_float, default=30.0,
                   help="seconds without progress before a worker counts as hung (default 30)")


def run(args: argparse.Namespace, console: Console) -> int:
    # the signal handlers come first: SIGTERM/SIGINT at any point from here on
    # ends in a report and exit 2, never in a green night or a lost report
    stopped: list[int] = []
    running: list[Any] = []

    def on_signal(signum: int, frame: Any) -> None:
        stopped.append(signum)
        for n in running:
            n.stop()

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        return _run(args, console, stopped, running)
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def _run(args: argparse.Namespace, console: Console, stopped: list[int], running: list[Any]) -> int:
    from ..engines.nightly import SEEDED_ENGINES, Nightly, plan
    from ..report import summarize, write
    from ..targets import get

    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    for t in targets:
        get(t)
    variants = [v.strip() for v in args.variants.split(",")] if args.variants else None
    if variants:
        for v in variants:
            if not any(v in get(t).variants for t in targets):
                raise QfuzzError(f"--variants: unknown variant {v!r}")
    engines = tuple(e.strip() for e in args.engines.split(","))
    for e in engines:
        if e not in SEEDED_ENGINES:
            raise QfuzzError(f"--engines: {e!r} is not one of {', '.join(SEEDED_ENGINES)}")
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    seed = args.seed if args.seed is not None else int(now.strftime("%Y%m%d"))
    report_dir = Path(args.report or f"reports/nightly-{now.strftime('%Y%m%d-%H%M%S')}")
    # before the night, not after it: a bad path is one line and exit 2
    writable_dir(report_dir, "--report")
    for t in targets:
        writable_dir(Path(args.corpus) / t, "--corpus")
    items = plan(targets, args.time, args.jobs, engines, seed, variants)
    if not items:
        raise QfuzzError("nothing to run: no variant matches")
    console.print(f"qfuzz nightly: {len(items)} work items ({', '.join(targets)} x {len(items) // len(engines)} variants "
                  f"x {', '.join(engines)}), {args.jobs} workers, {args.time:g} s, seed {seed}, corpus {args.corpus}")

    last_counts = [0] * args.jobs
    last_time = [time.monotonic()]
    rates = [0.0] * args.jobs
    started = time.monotonic()

    def table(n: Any) -> Table:
        t = Table(box=None, header_style="dim")
        for col in ("worker", "cpu", "item", "executions", "exec/s"):
            t.add_column(col)
        now_ = time.monotonic()
        dt = max(1e-3, now_ - last_time[0])
        for s in n.slots:
            count = int(n.progress[s.index * 2 + 1])
            if dt > 0.5:
                rates[s.index] = (count - last_counts[s.index]) / dt
                last_counts[s.index] = count
            item = f"{s.item.variant}/{s.item.engine}" if s.item else "-"
            t.add_row(f"w{s.index}", str(s.cpu), item, f"{count:,}", f"{rates[s.index]:,.0f}")
        if dt > 0.5:
            last_time[0] = now_
        t.caption = f"{len(n.results)}/{len(n.items)} items done   {_clock(now_ - started, args.time)}"
        return t

    nightly = Nightly(items, args.jobs, args.corpus, hang_timeout=args.hang_timeout)
    running.append(nightly)
    if stopped:
        nightly.stop()
    results: list[Any] = []
    if console.is_terminal:
        with Live(table(nightly), console=console, refresh_per_second=2, transient=True) as live:
            last_draw = [0.0]

            def update(n: Nightly) -> None:
                if time.monotonic() - last_draw[0] > 0.5:
                    live.update(table(n))
                    last_draw[0] = time.monotonic()

            nightly.on_update = update
            results = nightly.run()
    else:  # a pipe or a CI log: a plain line every few seconds
        last_line = [time.monotonic()]

        def plain(n: Nightly) -> None:
            now_ = time.monotonic()
            if now_ - last_line[0] >= PROGRESS_EVERY:
                last_line[0] = now_
                execs = sum(int(n.progress[s.index * 2 + 1]) for s in n.slots)
                console.print(f"progress: {_clock(now_ - started, args.time)}, {len(n.results)}/{len(n.items)} items "
                              f"done, {execs:,} executions", soft_wrap=True)

        nightly.on_update = plain
        results = nightly.run()
    done = {(r.item.target, r.item.variant, r.item.engine) for r in results}
    skipped = [i for i in items if (i.target, i.variant, i.engine) not in done]
    cancelled = bool(stopped) or nightly.stopping
    summary = summarize(now.isoformat(), time.monotonic() - started, args.jobs, results, skipped, cancelled)
    try:
        paths = write(summary, report_dir)
    except OSError as exc:  # the folder went away during the night: the report still gets written
        import tempfile

        fallback = Path(tempfile.mkdtemp(prefix="qfuzz-nightly-"))
        paths = write(summary, fallback)
        console.file.flush()
        sys.stderr.write(f"qfuzz: error: --report {report_dir}: cannot write ({exc.strerror or exc}); "
                         f"the report is in {fallback}\n")
        for p in paths:
            console.print(f"report: {p}")
        return 2
    style = {0: "bold green", 1: "bold red", 2: "bold yellow"}[summary.exit_status]
    console.print(f"[{style}]{summary.verdict}[/]: {summary.executions:,} executions, "
                  f"{sum(len(r.findings) for r in results)} findings ({len(summary.new_unexplained)} failing the night), "
                  f"canaries {sum(c['status'] == 'found' for c in summary.canaries)}/{len(summary.canaries)} found, "
                  f"{len(summary.crashes)} crashes" + (f", {len(skipped)} items not run" if skipped else ""))
    for p in paths:
        console.print(f"report: {p}")
    if cancelled:
        console.file.flush()
        name = signal.Signals(stopped[0]).name if stopped else "a signal"
        sys.stderr.write(f"qfuzz: error: stopped by {name} after {time.monotonic() - started:.1f} s: "
                         f"{len(skipped)} of {len(items)} items not run, the night is not clean\n")
    return summary.exit_status


def _clock(elapsed: float, budget: float) -> str:
    return f"{elapsed:.0f} s elapsed, {max(0.0, budget - elapsed):.0f} s left"
