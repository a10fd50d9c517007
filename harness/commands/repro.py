"""qfuzz repro: replay reproducers, check determinism, show the swim-lanes."""
from __future__ import annotations

import argparse
import hashlib
from pathlib import Path
from typing import Any, Optional, Sequence

from rich.console import Console
from rich.text import Text

from ..errors import QfuzzError
from .common import positive_int

HELP = "replay reproducers"


def add_arguments(rp: argparse.ArgumentParser) -> None:
    rp.add_argument("files", nargs="+")
    rp.add_argument("--variant", help="replay on this variant instead of the file's own")
    rp.add_argument("--runs", type=positive_int, default=1, help="replay N times and compare")
    rp.add_argument("--trace", action="store_true", help="the full trace (every step)")
    rp.add_argument("--no-trace", action="store_true", help="only the verdict")
    rp.add_argument("--html", metavar="OUT",
                    help="also write the swim-lane as a self-contained HTML page: OUT is the file with one "
                         "reproducer, a directory (one OUT/NAME.html each) with several")


def expand(files: Sequence[str]) -> list[Path]:
    out: list[Path] = []
    for f in files:
        p = Path(f)
        if p.is_dir():
            found = sorted(x for x in p.glob("*.json") if not x.name.startswith("."))
            if not found:
                raise QfuzzError(f"{p}: no reproducer (*.json) in this directory")
            out += found
        else:
            out.append(p)
    return out


def fingerprint(ex: Any) -> str:
    return hashlib.sha1(ex.verdict.signature.encode() + bytes(ex.decisions) + ex.raw_trace).hexdigest()


def write_html(ex: Any, rep: Any, page: Path, console: Console) -> None:
    from ..htmltrace import render_html, write_page

    write_page(page, render_html(ex, source=str(rep.path), stored_variant=rep.variant))
    console.print(Text(f"  html: {page}"))


def run(args: argparse.Namespace, console: Console) -> int:
    from ..htmltrace import page_paths
    from ..reproducer import load
    from ..swimlane import print_trace

    paths = expand(args.files)
    reps = [load(p) for p in paths]  # every file checked before anything runs
    pages: list[Optional[Path]] = [*page_paths(paths, args.html)] if args.html else [None] * len(reps)
    if args.variant:
        for rep in reps:
            from ..targets import get

            get(rep.target).variant(args.variant)
    failed = False
    for rep, page in zip(reps, pages):
        variant = args.variant or rep.variant
        ex = rep.replay(variant)
        prints = {fingerprint(ex)}
        for _ in range(args.runs - 1):
            prints.add(fingerprint(rep.replay(variant)))
        same = ex.verdict.signature == rep.signature
        v = ex.verdict
        head = Text.assemble(
            (str(rep.path), "bold"), f"  {rep.target}/{variant}: ",
            (v.kind, "bold red" if not v.ok else "bold green"),
            "" if v.ok else (" (the stored failure)" if same else f" (stored: {rep.signature})"),
        )
        console.print(head)
        if args.runs > 1:
            identical = args.runs - len(prints) + 1
            console.print(f"  {identical}/{args.runs} replays identical (verdict, decisions and trace)"
                          if len(prints) == 1 else f"  NOT DETERMINISTIC: {len(prints)} different outcomes in {args.runs} replays")
        if not args.no_trace:
            print_trace(ex, console, full=args.trace)
        if page is not None:
            write_html(ex, rep, page, console)
        failed |= not v.ok
    return 1 if failed else 0
