"""qfuzz list: targets and their variants, or (--bugs) the bug catalog."""
from __future__ import annotations

import argparse

from rich.console import Console
from rich.table import Table
from rich.text import Text

HELP = "targets and their variants (--bugs: the bug catalog)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bugs", action="store_true", help="the bug catalog: upstream commit, oracle, variant")


def run(args: argparse.Namespace, console: Console) -> int:
    from ..targets import get, names

    for name in names():
        t = get(name)
        if args.bugs:
            if not t.bugs:
                continue
            table = Table(title=f"{name}: bug catalog ({len(t.bugs)} upstream bugs, each a variant with its fix reverted)",
                          title_justify="left", header_style="dim")
            for col in ("commit", "date", "subject", "oracle", "variant", "mix"):
                table.add_column(col, overflow="fold")
            for b in t.bugs:
                table.add_row(b.commit, b.date, b.subject, b.oracle, b.variant, t.variants[b.variant].mix)
            console.print(table)
            continue
        console.print(Text.assemble((name, "bold"), f"  {t.description}"))
        table = Table(box=None, pad_edge=False, show_header=True, header_style="dim")
        table.add_column("variant")
        table.add_column("expected")
        table.add_column("what it is")
        for v in t.variants.values():
            shows = ", ".join(str(p) for p in v.shows) or "-"
            table.add_row(v.name, v.expect if v.expected_clean else f"bugs: {shows}", v.about)
        console.print(table)
    return 0
