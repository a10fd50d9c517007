"""qfuzz repro: replay reproducers, check determinism, show the swim-lanes.

Takes reproducer JSON, the nightly job's crash reproducers (run in a child
process), stress reproducers of the real HAProxy, libFuzzer crash-* files
(with --target and --variant), and directories of any of these."""
from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path
from typing import Any, Optional

from rich.console import Console
from rich.text import Text

from ..errors import QfuzzError
from .common import positive_int, writable_dir

HELP = "replay reproducers and crash files"


def add_arguments(rp: argparse.ArgumentParser) -> None:
    rp.add_argument("files", nargs="+", help="reproducers, crash files, or directories of them")
    rp.add_argument("--variant", help="replay on this variant instead of the file's own (for a libFuzzer "
                                      "crash file: the variant it was found on)")
    rp.add_argument("--target", help="the target of libFuzzer crash files (raw bytes)")
    rp.add_argument("--workload", help="for crash files of a run with a pinned workload (fuzz --workload): that file")
    rp.add_argument("--runs", type=positive_int, default=1, help="replay N times and compare")
    rp.add_argument("--trace", action="store_true", help="the full trace (every step)")
    rp.add_argument("--no-trace", action="store_true", help="only the verdict")
    rp.add_argument("--html", metavar="OUT",
                    help="also write the swim-lane as a self-contained HTML page: OUT is the file with one "
                         "reproducer, a directory (one OUT/NAME.html each) with several")
    rp.add_argument("--against", choices=["haproxy_binary"],
                    help="run the model reproducer's shape on the real HAProxy instead of replaying it")
    rp.add_argument("--seconds", type=positive_int, default=None,
                    help="stress reproducers and --against: seconds per run (default: the file's own; "
                         "--against: the scenario's length)")
    rp.add_argument("--budget", type=positive_int, default=None,
                    help="stress reproducers and --against: wall seconds for all the runs (default 60; "
                         "the plan is printed first)")
    rp.add_argument("--perturb", metavar="auto|POINTS", default=None,
                    help="--against: seeded delays in an instrumented build of --haproxy-version V, at the points the "
                         "reproducer's own critical events map to ('auto') or at FUNCTION[:entry|:exit][,...]")
    rp.add_argument("--haproxy-version", metavar="V",
                    help="stress reproducers and --against: HAProxy built from Debian's tarball of version V "
                         "(default: the installed package)")


def fingerprint(ex: Any) -> str:
    return hashlib.sha1(ex.verdict.signature.encode() + bytes(ex.decisions) + ex.raw_trace).hexdigest()


def write_html(ex: Any, rep: Any, page: Path, console: Console) -> None:
    from ..htmltrace import render_html, write_page

    write_page(page, render_html(ex, source=str(rep.path), stored_variant=rep.variant))
    console.print(Text(f"  html: {page}"))


def replay_model(rep: Any, args: argparse.Namespace, page: Optional[Path], console: Console, raw: bool) -> bool:
    """Replay one model reproducer; True if it fails."""
    from ..swimlane import print_trace

    variant = rep.variant if raw else (args.variant or rep.variant)
    ex = rep.replay(variant)
    prints = {fingerprint(ex)}
    for _ in range(args.runs - 1):
        prints.add(fingerprint(rep.replay(variant)))
    same = ex.verdict.signature == rep.signature
    v = ex.verdict
    console.print(Text.assemble(
        (str(rep.path), "bold"), f"  {rep.target}/{variant}: ",
        (v.kind, "bold red" if not v.ok else "bold green"),
        "" if v.ok or raw else (" (the stored failure)" if same else f" (stored: {rep.signature})"),
    ))
    if args.runs > 1:
        identical = args.runs - len(prints) + 1
        console.print(f"  {identical}/{args.runs} replays identical (verdict, decisions and trace)"
                      if len(prints) == 1 else f"  NOT DETERMINISTIC: {len(prints)} different outcomes in {args.runs} replays")
    if not args.no_trace:
        print_trace(ex, console, full=args.trace)
    if page is not None:
        write_html(ex, rep, page, console)
    return not v.ok


def run(args: argparse.Namespace, console: Console) -> int:
    from ..crash import run_in_child
    from ..htmltrace import page_paths
    from ..inputs import expand, load
    from ..reproducer import one_line

    paths = expand(args.files)
    # every file is checked before anything runs; a bad one is reported (one line
    # each), the good ones still replay, and the exit status is 2 at the end
    workload = Path(args.workload) if args.workload else None
    if workload is not None:
        from ..reproducer import read_limited

        read_limited(workload)  # a bad --workload is bad usage: before any replay
    loaded: list[tuple[Path, Any]] = []
    unreadable = 0
    for p in paths:
        try:
            inp = load(p, args.target, args.variant if args.target else None, workload)
            if args.variant and not args.target and inp.reproducer is not None:
                inp.reproducer.target_object().variant(args.variant)  # a program's own variants too
            loaded.append((p, inp))
        except QfuzzError as exc:
            if len(paths) == 1 or (args.variant and "unknown variant" in str(exc)):
                raise
            unreadable += 1
            console.file.flush()
            sys.stderr.write(f"qfuzz: error: {one_line(str(exc))}\n")
    if not loaded:
        raise QfuzzError(f"none of the {len(paths)} files can be replayed")
    every = [*page_paths(paths, args.html)] if args.html else [None] * len(paths)
    for page in {pg.parent for pg in every if pg is not None}:
        writable_dir(page, "--html")
    pages: list[Optional[Path]] = [every[paths.index(p)] for p, _ in loaded]
    inputs = [inp for _, inp in loaded]
    status = 0
    for inp, page in zip(inputs, pages):
        if inp.kind == "stress":
            from ..stress import binary

            status = max(status, int(binary.repro_file(inp.path, console, args.runs, seconds=args.seconds,
                                                       budget=args.budget, haproxy_version_=args.haproxy_version)))
        elif inp.kind == "crash":
            outcomes = [run_in_child(inp.crash) for _ in range(args.runs)]  # type: ignore[arg-type]
            failed = [o for o in outcomes if o[0] != "ok"]
            console.print(Text.assemble((str(inp.path), "bold"), f"  recorded: {inp.crash.reason}; "  # type: ignore[union-attr]
                                        f"replayed in a child process {len(outcomes)} time(s): ",
                                        (", ".join(sorted({f'{o}: {d}' for o, d in outcomes})), "bold red" if failed else "bold green")),
                          soft_wrap=True)  # one line a script can grep, however long the path
            status = max(status, 1 if failed else 0)
        elif args.against:
            from ..stress import binary

            status = max(status, int(binary.against(inp.reproducer, console, args.runs, args.seconds, args.against,
                                                    budget=args.budget, haproxy_version_=args.haproxy_version,
                                                    perturb=args.perturb)))
        else:
            status = max(status, int(replay_model(inp.reproducer, args, page, console, inp.kind == "raw")))
    if unreadable:
        console.file.flush()
        sys.stderr.write(f"qfuzz: error: {unreadable} of {len(paths)} files could not be replayed (see above)\n")
        return 2
    return status
