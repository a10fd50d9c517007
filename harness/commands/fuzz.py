"""qfuzz fuzz: search a target variant for failures with one engine: random,
pct or pos (seeded campaigns over a workload or the target's workload mix),
atheris (libFuzzer, guided by the interleaving features; one input decodes
into a workload and a schedule) or hypothesis (property-based search with
shrinking).  New unique failures are minimized and stored in the corpus as
JSON reproducers.  Exit status, with every engine: 0 nothing found, 1
failures found, 2 bad usage, bad input or an internal error (with --engine
atheris, libFuzzer's 77 crash, 70 timeout and 71 out of memory are 1, and so
is a failed -jobs worker that left a crash file)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from .. import __version__
from ..errors import QfuzzError
from .common import positive_float, positive_int, writable_dir

HELP = "search for failures (seeded strategies, atheris/libFuzzer, hypothesis)"
DEFAULT_CORPUS = "corpus"
SEEDED = ("random", "pct", "pos")
ENGINES = (*SEEDED, "atheris", "hypothesis")
ATHERIS_ONLY = ("jobs", "no_features", "crash_on", "keep_going", "workdir", "libfuzzer")


def add_arguments(fz: argparse.ArgumentParser) -> None:
    from ..program import cli as program_cli

    fz.add_argument("target", nargs="+", help="a target name (qfuzz list), or the .c sources of a program")
    fz.add_argument("--variant", action="append",
                    help="the variant to fuzz; for a C program also NAME=-DMACRO=VALUE defines one (repeatable)")
    fz.add_argument("--strategy", "--engine", dest="engine", default="pct", choices=ENGINES,
                    help="search engine (default pct)")
    budget = fz.add_mutually_exclusive_group()
    budget.add_argument("--time", type=positive_float,
                        help="seconds to run, wall time: minimizing new failures included (default 10)")
    budget.add_argument("--runs", type=positive_int, help="number of executions (hypothesis: examples)")
    fz.add_argument("--seed", type=int, help="campaign seed (default 0; atheris: libFuzzer's -seed, default random)")
    fz.add_argument("--depth", type=positive_int, default=3, help="PCT bug depth (default 3)")
    fz.add_argument("--corpus", default=DEFAULT_CORPUS, help="corpus root; reproducers go to CORPUS/TARGET/")
    fz.add_argument("--workload", help="a workload JSON file (default: the target's workload mix)")
    fz.add_argument("--minimize-time", type=float, default=5.0,
                    help="seconds to minimize each new failure, at most (0: off); inside --time, which is wall time")
    fz.add_argument("--no-trace", action="store_true", help="do not print swim-lane traces")
    at = fz.add_argument_group("atheris")
    at.add_argument("--jobs", type=positive_int, default=1, help="parallel libFuzzer processes (-jobs=N -workers=N)")
    at.add_argument("--no-features", action="store_true", help="no interleaving feedback (blind; for comparisons)")
    at.add_argument("--crash-on", action="append", metavar="PATTERN",
                    help="signatures (shell pattern) that are libFuzzer crashes; repeatable (default: every failure)")
    at.add_argument("--keep-going", action="store_true", help="no failure is a crash: store each one and go on")
    at.add_argument("--workdir", help="libFuzzer inputs and crash files (default .qfuzz/atheris/TARGET-VARIANT)")
    program_cli.add_arguments(fz)
    fz.set_defaults(libfuzzer=[])
    fz.epilog = "Arguments after `--` go to libFuzzer (--engine atheris), e.g. `-- -max_len=128 -dict=FILE CORPUS_DIR`."
    _accept_libfuzzer_flags(fz)


def _accept_libfuzzer_flags(fz: argparse.ArgumentParser) -> None:
    """Everything after `--` is for libFuzzer.  argparse (3.11) cannot take
    `--` after a subcommand's own options, so split it off before parsing."""
    parse = fz.parse_known_args

    def parse_known_args(args: Optional[Sequence[str]] = None, namespace: Any = None) -> Any:
        args = list(args or [])
        extra: list[str] = []
        if "--" in args:
            i = args.index("--")
            args, extra = args[:i], args[i + 1 :]
        ns, rest = parse(args, namespace)
        ns.libfuzzer = extra
        return ns, rest

    fz.parse_known_args = parse_known_args  # type: ignore[method-assign]


def run(args: argparse.Namespace, console: Console) -> int:
    from ..program import cli as program_cli

    if args.hang_timeout is not None and args.engine not in SEEDED:  # atheris: libFuzzer's -timeout
        other = ("atheris has libFuzzer's -timeout" if args.engine == "atheris"
                 else "a hypothesis worker counts as hung after 30 s")
        raise QfuzzError(f"--hang-timeout applies to the seeded engines ({', '.join(SEEDED)}); {other}")
    target = program_cli.target_of(args)  # a name, or C sources with their --variant/--cflags/--args
    target.variant(args.variant)
    if args.engine != "atheris":
        given = [name for name in ATHERIS_ONLY if getattr(args, name) not in (None, False, [], 1)]
        if given:
            flag = "-- <libFuzzer flags>" if given[0] == "libfuzzer" else "--" + given[0].replace("_", "-")
            raise QfuzzError(f"{flag} applies to --engine atheris only")
    if args.corpus:  # before any work: a bad path is one line and exit 2, never a crash file
        writable_dir(Path(args.corpus) / target.name, "--corpus")
    if args.engine == "atheris":
        return _atheris(args, target, console)
    if args.engine == "hypothesis":
        return _hypothesis(args, target, console)
    return _campaign(args, target, console)


# -- seeded campaigns -------------------------------------------------------------------


def _campaign(args: argparse.Namespace, target: Any, console: Console) -> int:
    from ..corpus import Corpus
    from ..engines.campaign import Campaign, CampaignResult
    from ..reproducer import load_workload

    workload = target.workload(load_workload(args.workload, target.name)) if args.workload else None
    params: dict[str, Any] = {"depth": args.depth} if args.engine == "pct" else {}
    seed = args.seed or 0
    campaign = Campaign(
        target, args.variant, args.engine, seed=seed, workload=workload, corpus=Corpus(args.corpus, target.name),
        minimize_seconds=args.minimize_time, params=params,
    )
    seconds = args.time if args.time or args.runs else 10.0
    mix = "workload " + args.workload if args.workload else "the workload mix"
    console.print(
        f"qfuzz {__version__}: fuzzing {target.name} variant [bold]{args.variant}[/] with {args.engine} "
        f"on {mix}, seed {seed}, " + (f"{args.runs} runs" if args.runs else f"{seconds:g} s")
    )
    status = Text()
    progress = _progress(console)

    def tick(r: CampaignResult) -> None:
        clock = (f"{r.seconds:.0f} s elapsed, {r.remaining:.0f} s left" if r.remaining is not None
                 else f"{r.seconds:.0f} s elapsed, run {r.executions:,}/{args.runs:,}")
        status.plain = f"{clock}   executions {r.executions:,}   exec/s {r.exec_per_second:,.0f}   " \
                       f"unique failures {len(r.findings)}"
        progress(status.plain)

    from ..program import cli as program_cli

    if program_cli.is_program(target):  # in a worker child: a crashing program costs one execution
        result = program_cli.run_campaign(campaign, args, console, seconds=None if args.runs else seconds,
                                          on_new=_printer(console, "executions"))
    else:
        with Live(status, console=console, refresh_per_second=4, transient=True,
                  auto_refresh=console.is_terminal) as live:
            result = campaign.run(
                seconds=None if args.runs else seconds, runs=args.runs, on_new=_printer(live.console, "executions"),
                on_tick=tick,
            )
    console.print(
        f"done: {result.executions:,} executions in {result.seconds:.1f} s wall time "
        f"({result.search_seconds:.1f} s searching, {result.exec_per_second:,.0f}/s; {result.minimize_seconds:.1f} s "
        f"minimizing and storing), {len(result.findings)} unique failure(s)"
    )
    return max(_report(list(result.findings.values()), args, console), int(bool(getattr(result, "crashes", ()))))


PROGRESS_EVERY = 5.0  # seconds between plain progress lines when the output is not a terminal


def _progress(console: Console) -> Callable[[str], None]:
    """On a terminal the live line redraws itself; in a pipe or a CI log, a
    plain line every PROGRESS_EVERY seconds instead."""
    import time

    last = [time.monotonic()]

    def show(line: str) -> None:
        if console.is_terminal:
            return
        now = time.monotonic()
        if now - last[0] >= PROGRESS_EVERY:
            last[0] = now
            console.print(f"progress: {line}", soft_wrap=True)

    return show


# -- hypothesis ----------------------------------------------------------------------------


def _hypothesis(args: argparse.Namespace, target: Any, console: Console) -> int:
    from ..corpus import Corpus
    from ..engines.campaign import Finding
    from ..engines.hypothesis_engine import Found, search
    from ..engines.store import keep
    from ..reproducer import load_workload

    workload = load_workload(args.workload, target.name) if args.workload else None
    corpus = Corpus(args.corpus, target.name)
    variant = target.variant(args.variant)
    seconds = args.time if args.time or args.runs else 10.0
    seed = args.seed or 0
    console.print(
        f"qfuzz {__version__}: fuzzing {target.name} variant [bold]{args.variant}[/] with hypothesis on "
        + (f"workload {args.workload}" if args.workload else "generated workloads")
        + f", seed {seed}, " + (f"{args.runs} examples" if args.runs else f"{seconds:g} s")
    )
    findings: list[Finding] = []
    show = _printer(console, "examples")
    import time

    end = time.monotonic() + seconds if not args.runs else float("inf")
    started = time.monotonic()
    minimizing = [0.0]

    def kept(f: Found, minimize: bool = True) -> Finding:
        from ..attribution import attribute

        v = f.execution.verdict
        t0 = time.monotonic()
        # --time is wall time: minimize within what is left of it (half a second at least)
        budget = min(args.minimize_time, max(end - t0, min(args.minimize_time, 0.5))) if minimize else 0.0
        kept = keep(
            f.execution, corpus,
            {"engine": "hypothesis", "seed": seed, "examples": f.first_examples, "seconds": round(f.first_seconds, 3)},
            minimize_seconds=budget,
        )
        minimizing[0] += time.monotonic() - t0
        finding = Finding(f.signature, f.first_examples, f.first_seconds, kept.execution,
                          expected=variant.explains(v.kind, v.path, *v.labels), minimized=kept.minimized,
                          stored=kept.stored, attribution=attribute(kept.execution) if target.fixes() else None)
        show(finding)
        return finding

    from ..program import cli as program_cli

    crashes: list[Any] = []
    if program_cli.is_program(target):  # in a worker child: a crashing program costs one example
        iso = program_cli.run_search(target, args, console, seconds=None if args.runs else seconds, seed=seed,
                                     workload=workload, keep=kept, corpus=corpus)
        examples, findings, crashes, minimizing[0] = iso.examples, iso.findings, iso.crashes, iso.minimize_seconds
    else:
        with console.status("hypothesis: searching"):
            result = search(target, args.variant, seconds=None if args.runs else seconds, examples=args.runs,
                            seed=seed, workload=workload, on_new=lambda f: findings.append(kept(f)))
        examples = result.examples
    wall = time.monotonic() - started
    console.print(
        f"done: {examples:,} examples in {wall:.1f} s wall time ({wall - minimizing[0]:.1f} s searching, "
        f"{examples / max(1e-9, wall - minimizing[0]):,.0f}/s; {minimizing[0]:.1f} s minimizing and storing), "
        f"{len(findings)} unique failure(s)" + (f", {sum(c.count for c in crashes)} crash(es)" if crashes else "")
    )
    return max(_report(findings, args, console), int(bool(crashes)))


# -- atheris -----------------------------------------------------------------------------------


def _atheris(args: argparse.Namespace, target: Any, console: Console) -> int:
    from ..engines.atheris_engine import Config
    from ..engines.atheris_launch import default_workdir, launch
    from ..reproducer import load_workload

    if args.workload:
        load_workload(args.workload, target.name)  # bad file: one line, exit 2, before libFuzzer starts
    config = Config(
        target=target.name,
        variant=args.variant,
        workload=args.workload,
        corpus=args.corpus or None,
        features=0 if args.no_features else 1,
        crash_on=() if args.keep_going else tuple(args.crash_on or ("*",)),
        minimize_seconds=max(0.0, args.minimize_time),
    )
    workdir = writable_dir(Path(args.workdir) if args.workdir else default_workdir(target.name, args.variant), "--workdir")
    from ..program import cli as program_cli

    config.program = program_cli.program_file(target, workdir)  # None for a compiled-in target
    seconds = args.time if args.time or args.runs else 10.0
    from ..fuzzinput import chooses_variant

    variants = (f"variants [bold]{', '.join(target.variants)}[/] (each input picks one)" if chooses_variant(target)
                else f"variant [bold]{args.variant}[/]")
    console.print(
        f"qfuzz {__version__}: fuzzing {target.name} {variants} with atheris "
        f"(interleaving features {'off' if args.no_features else 'on'}) on "
        + (f"workload {args.workload}" if args.workload else "decoded workloads")
        + ", " + (f"{args.runs} runs" if args.runs else f"{seconds:g} s")
        + (f", {args.jobs} jobs" if args.jobs > 1 else "") + f"; work directory {workdir}"
    )
    out = launch(config, workdir, seconds=None if args.runs else seconds, runs=args.runs, seed=args.seed,
                 jobs=args.jobs, extra=args.libfuzzer)
    what = {0: "nothing found", 77: "crash", 70: "timeout", 71: "out of memory", 72: "interrupted"}.get(
        out.returncode, "see its output")
    if args.jobs > 1 and out.returncode == 1:
        what = "a worker stopped: see its log"
    console.print(f"libFuzzer exited {out.returncode} ({what}) after {out.seconds:.1f} s")
    if args.jobs > 1:
        console.print(f"  worker logs: {out.workdir}/fuzz-*.log")
    for p in out.artifacts:
        console.print(f"  libFuzzer input: {p}")
    for p in out.reproducers:
        console.print(f"  reproducer: {p}   (qfuzz repro {p})")
    if out.artifacts:
        console.print(f"  replay an input: {out.command[0]} {out.artifacts[0]}")
    from ..reproducer import one_line

    status = out.status()  # libFuzzer's codes mapped onto qfuzz's 0/1/2
    if status == 2:
        console.file.flush()
        why = out.errors[0] if out.errors else f"libFuzzer exited {out.returncode} without a crash file"
        sys.stderr.write(f"qfuzz: error: {one_line(why)}\n")
    return status


# -- shared presentation ---------------------------------------------------------------------------


def _printer(console: Console, unit: str) -> Callable[[Any], None]:
    def new(f: Any) -> None:
        v = f.execution.verdict
        known = f"known: {f.expected.why}" if f.expected else "UNEXPECTED on this variant"
        console.print(Text.assemble(
            ("NEW ", "bold red"), (v.signature, "bold"),
            f"  after {f.first_execution:,} {unit} ({f.first_seconds:.2f} s)  ", (known, "dim" if f.expected else "bold yellow"),
        ))
        a = getattr(f, "attribution", None)
        if a is not None:
            console.print(f"    attribution: {a}" + ("" if a.confirmed else " (unconfirmed: found by its own decisions only)"))
        if f.minimized:
            console.print(f"    minimized in {f.minimized.seconds:.2f} s: {f.minimized.before} -> {f.minimized.after}")
        if f.stored:
            what = {"new": "stored", "replaced": "stored (smaller than the one it replaces)", "kept": "already in the corpus"}
            console.print(f"    {what[f.stored.status]}: {f.stored.path}")

    return new


def _report(findings: list[Any], args: argparse.Namespace, console: Console) -> int:
    from ..swimlane import print_trace

    if not findings:
        return 0
    table = Table(title="failures", title_justify="left", box=None, header_style="dim")
    for col in ("signature", "count", "first at", "expected", "attribution", "reproducer"):
        table.add_column(col)
    for f in findings:
        a = getattr(f, "attribution", None)
        table.add_row(
            f.signature, str(f.count), f"#{f.first_execution} ({f.first_seconds:.2f} s)",
            f.expected.why.split(":")[0] if f.expected else "UNEXPECTED", str(a) if a else "-",
            str(f.stored.path) if f.stored else "-",
        )
    console.print(table)
    if not args.no_trace:
        shown: set[str] = set()
        for f in findings:
            key = f"{f.kind}:{f.path}"
            if f.execution.target.shows_trace(f.kind) and key not in shown:
                shown.add(key)
                console.rule(f"{f.signature}")
                print_trace(f.execution, console)
                if f.stored:
                    console.print(f"replay: qfuzz repro {f.stored.path}")
    return 1
