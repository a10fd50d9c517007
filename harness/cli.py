"""qfuzz: the command line.

Exit status, as libFuzzer and pytest users expect: 0 nothing found (or the
replay is clean), 1 a failure found (or reproduced), 2 bad usage or input,
always with a one-line message and never a traceback."""
from __future__ import annotations

import argparse
import sys
from typing import NoReturn, Optional, Sequence

from . import __version__
from .errors import QfuzzError


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit 2
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> Parser:
    from .commands import NAMES, load

    p = Parser(prog="qfuzz", description="Fuzz native-threaded queue code for lost wake-ups.")
    p.add_argument("--version", action="version", version=f"qfuzz {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=Parser)
    for name in NAMES:
        mod = load(name)
        mod.add_arguments(sub.add_parser(name, help=mod.HELP, description=mod.__doc__))
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    try:
        from .commands import load
        from .swimlane import make_console

        args = build_parser().parse_args(argv)
        return int(load(args.command).run(args, make_console()))
    except QfuzzError as exc:
        from .reproducer import one_line

        sys.stderr.write(f"qfuzz: error: {one_line(str(exc))}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("qfuzz: interrupted\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
