"""qfuzz: the command line.

Exit status, as libFuzzer and pytest users expect: 0 nothing found (or the
replay is clean), 1 a failure found (or reproduced), 2 bad usage, bad input,
an interruption or an internal error, always with a one-line message on
stderr and never a traceback (an internal error's goes to a log file the
line names)."""
from __future__ import annotations

import argparse
import os
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
        # not finished is not clean: the same status as any other run that could not do its job
        sys.stderr.write("qfuzz: interrupted\n")
        return 2
    except SystemExit:
        raise
    except BaseException as exc:  # an internal error: never a traceback, never "failure found"
        return internal_error(exc)


def internal_error(exc: BaseException, prog: str = "qfuzz") -> int:
    """One line naming a log file that holds the traceback; exit 2."""
    import tempfile
    import traceback

    from .reproducer import one_line

    where = "no log written"
    try:
        fd, log = tempfile.mkstemp(prefix="qfuzz-error-", suffix=".log")
        with os.fdopen(fd, "w") as f:
            f.write(f"qfuzz {__version__}: {' '.join(sys.argv)}\n")
            traceback.print_exception(exc, file=f)
        where = f"details in {log}"
    except Exception:
        pass
    sys.stderr.write(f"{prog}: internal error: {one_line(f'{type(exc).__name__}: {exc}')} ({where})\n")
    return 2


if __name__ == "__main__":
    sys.exit(main())
