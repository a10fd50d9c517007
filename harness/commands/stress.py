"""qfuzz stress TARGET ...: free-running stress runs on real threads and real
time, the way the seed bug was seen in the wild and the baseline the
controlled engines must beat.  `haproxy_binary` drives the real HAProxy;
any other target runs its C model with free-running schedule points.
Real programs are black-box targets (harness/stress/blackbox: TARGETS)."""
from __future__ import annotations

import argparse

from rich.console import Console

HELP = "stress a target on free-running threads (the baseline)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("target", help="haproxy_binary, or a model target such as haproxy_queue")
    p.add_argument("rest", nargs=argparse.REMAINDER, help="the mode's own options (see qfuzz stress TARGET --help)")


def run(args: argparse.Namespace, console: Console) -> int:
    from ..stress.blackbox import TARGETS

    if args.target in TARGETS:
        from ..stress import binary as mode  # the black-box targets (harness/stress/blackbox)
    else:
        from ..stress import model as mode  # type: ignore[no-redef]
    return int(mode.main([args.target, *args.rest], console))
