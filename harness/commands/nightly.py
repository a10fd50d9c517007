"""qfuzz nightly: every variant under every engine on every core, canaries,
crash recovery, and a report in Markdown, JSON and JUnit XML.

Exit status: 0 the night is clean, 1 a new unexplained failure or a missed
canary (a known bug the harness no longer finds), 2 an infrastructure error."""
from __future__ import annotations

import argparse
import datetime
import os
import signal
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from ..errors import QfuzzError
from .common import positive_float, positive_int

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
    items = plan(targets, args.time, args.jobs, engines, seed, variants)
    if not items:
        raise QfuzzError("nothing to run: no variant matches")
    console.print(f"qfuzz nightly: {len(items)} work items ({', '.join(targets)} x {len(items) // len(engines)} variants "
                  f"x {', '.join(engines)}), {args.jobs} workers, {args.time:g} s, seed {seed}, corpus {args.corpus}")

    last_counts = [0] * args.jobs
    last_time = [time.monotonic()]
    rates = [0.0] * args.jobs

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
        t.caption = f"{len(n.results)}/{len(n.items)} items done"
        return t

    nightly = Nightly(items, args.jobs, args.corpus, hang_timeout=args.hang_timeout)
    stopped = [False]

    def on_signal(signum: int, frame: Any) -> None:
        stopped[0] = True
        nightly.stop()

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    started = time.monotonic()
    try:
        with Live(table(nightly), console=console, refresh_per_second=2, transient=True) as live:
            last_draw = [0.0]

            def update(n: Nightly) -> None:
                if time.monotonic() - last_draw[0] > 0.5:
                    live.update(table(n))
                    last_draw[0] = time.monotonic()

            nightly.on_update = update
            results = nightly.run()
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    done = {(r.item.target, r.item.variant, r.item.engine) for r in results}
    skipped = [i for i in items if (i.target, i.variant, i.engine) not in done]
    summary = summarize(now.isoformat(), time.monotonic() - started, args.jobs, results, skipped, stopped[0])
    paths = write(summary, report_dir)
    style = {0: "bold green", 1: "bold red", 2: "bold yellow"}[summary.exit_status]
    console.print(f"[{style}]{summary.verdict}[/]: {summary.executions:,} executions, "
                  f"{sum(len(r.findings) for r in results)} findings ({len(summary.new_unexplained)} new unexplained), "
                  f"canaries {sum(c['status'] == 'found' for c in summary.canaries)}/{len(summary.canaries)} found, "
                  f"{len(summary.crashes)} crashes")
    for p in paths:
        console.print(f"report: {p}")
    return summary.exit_status
