"""qfuzz list: targets and their variants."""
from __future__ import annotations

import argparse

from rich.console import Console
from rich.table import Table
from rich.text import Text

HELP = "targets and their variants"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bugs", action="store_true", help="the bug catalog")


def run(args: argparse.Namespace, console: Console) -> int:
    from ..targets import get, names

    for name in names():
        t = get(name)
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
