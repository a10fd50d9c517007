"""qfuzz fuzz: a seeded campaign (random, PCT or POS) over a workload or the
target's workload mix; new unique failures are minimized and stored."""
from __future__ import annotations

import argparse
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from .. import __version__
from .common import positive_float, positive_int

HELP = "search for failures with a seeded strategy"
DEFAULT_CORPUS = "corpus"


def add_arguments(fz: argparse.ArgumentParser) -> None:
    fz.add_argument("target")
    fz.add_argument("--variant", required=True)
    fz.add_argument("--strategy", "--engine", dest="strategy", default="pct", choices=("random", "pct", "pos"))
    budget = fz.add_mutually_exclusive_group()
    budget.add_argument("--time", type=positive_float, help="seconds to run (default 10)")
    budget.add_argument("--runs", type=positive_int, help="number of executions")
    fz.add_argument("--seed", type=int, default=0, help="campaign seed (default 0)")
    fz.add_argument("--depth", type=positive_int, default=3, help="PCT bug depth (default 3)")
    fz.add_argument("--corpus", default=DEFAULT_CORPUS, help="corpus root; reproducers go to CORPUS/TARGET/")
    fz.add_argument("--workload", help="a workload JSON file (default: the target's workload mix)")
    fz.add_argument("--minimize-time", type=float, default=5.0, help="seconds to minimize each new failure (0: off)")
    fz.add_argument("--no-trace", action="store_true", help="do not print swim-lane traces")


def run(args: argparse.Namespace, console: Console) -> int:
    from ..corpus import Corpus
    from ..engines.campaign import Campaign, CampaignResult, Finding
    from ..reproducer import load_workload
    from ..swimlane import print_trace
    from ..targets import get

    target = get(args.target)
    target.variant(args.variant)
    workload = target.workload(load_workload(args.workload, target.name)) if args.workload else None
    params: dict[str, Any] = {"depth": args.depth} if args.strategy == "pct" else {}
    corpus = Corpus(args.corpus, target.name)
    campaign = Campaign(
        target, args.variant, args.strategy, seed=args.seed, workload=workload, corpus=corpus,
        minimize_seconds=args.minimize_time, params=params,
    )
    seconds = args.time if args.time or args.runs else 10.0
    mix = "workload " + args.workload if args.workload else "the workload mix"
    console.print(
        f"qfuzz {__version__}: fuzzing {target.name} variant [bold]{args.variant}[/] with {args.strategy} "
        f"on {mix}, seed {args.seed}, " + (f"{args.runs} runs" if args.runs else f"{seconds:g} s")
    )

    status = Text()

    def tick(r: CampaignResult) -> None:
        status.plain = (
            f"executions {r.executions:,}   exec/s {r.exec_per_second:,.0f}   unique failures {len(r.findings)}"
        )
        live.refresh()

    def new(f: Finding) -> None:
        v = f.execution.verdict
        known = f"known: {f.expected.why}" if f.expected else "UNEXPECTED on this variant"
        line = Text.assemble(
            ("NEW ", "bold red"), (v.signature, "bold"),
            f"  after {f.first_execution:,} executions ({f.first_seconds:.2f} s)  ", (known, "dim" if f.expected else "bold yellow"),
        )
        live.console.print(line)
        if f.minimized:
            live.console.print(f"    minimized in {f.minimized.seconds:.2f} s: {f.minimized.before} -> {f.minimized.after}")
        if f.stored:
            what = {"new": "stored", "replaced": "stored (smaller than the one it replaces)", "kept": "already in the corpus"}
            live.console.print(f"    {what[f.stored.status]}: {f.stored.path}")

    with Live(status, console=console, refresh_per_second=4, transient=True) as live:
        result = campaign.run(seconds=None if args.runs else seconds, runs=args.runs, on_new=new, on_tick=tick)
    console.print(
        f"done: {result.executions:,} executions in {result.seconds:.1f} s ({result.exec_per_second:,.0f}/s), "
        f"{len(result.findings)} unique failure(s)"
    )
    if not result.findings:
        return 0
    table = Table(title="failures", title_justify="left", box=None, header_style="dim")
    for col in ("signature", "count", "first at", "expected", "reproducer"):
        table.add_column(col)
    for f in result.findings.values():
        table.add_row(
            f.signature, str(f.count), f"#{f.first_execution} ({f.first_seconds:.2f} s)",
            f.expected.why.split(":")[0] if f.expected else "UNEXPECTED", str(f.stored.path) if f.stored else "-",
        )
    console.print(table)
    if not args.no_trace:
        shown: set[str] = set()
        for f in result.findings.values():
            key = f"{f.kind}:{f.path}"
            if f.kind == "STUCK" and key not in shown:
                shown.add(key)
                console.rule(f"{f.signature}")
                print_trace(f.execution, console)
                if f.stored:
                    console.print(f"replay: qfuzz repro {f.stored.path}")
    return 1
