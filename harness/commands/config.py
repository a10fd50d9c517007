"""qfuzz config: where this installation keeps what a C program built for
qfuzz may need (`--include`: the folder of qfuzz.h, for -I), and how
programs are built (`--build`: the runtime's compiler and linker flags)."""
from __future__ import annotations

import argparse

from rich.console import Console

HELP = "installation facts: the qfuzz.h folder (--include), program build flags (--build), the build cache"


def add_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--include", action="store_true", help="the folder holding qfuzz.h (for gcc -I)")
    g.add_argument("--cache", action="store_true", help="the folder programs are built into")
    g.add_argument("--build", action="store_true", help="the compiler and linker flags programs are built with")


def run(args: argparse.Namespace, console: Console) -> int:
    from ..native import core
    from ..program.build import cache_root, include_dir

    if args.include:
        print(include_dir())  # plain print: meant for $(qfuzz config --include)
        return 0
    if args.cache:
        print(cache_root())
        return 0
    info = core.rt_build_info()
    if args.build:
        print("cflags: " + " ".join(info["cflags"]))
        print("ldflags: " + " ".join(info["ldflags"] + info.get("ldlibs", [])))
        print("wrap: " + " ".join(info["wrap"]))
        return 0
    print(f"include: {include_dir()}")
    print(f"cache: {cache_root()}")
    print(f"runtime ABI: {info['abi']}, {len(info['wrap'])} wrapped calls")
    return 0
