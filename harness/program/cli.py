"""The command line's program-target branches, so each command needs a line
or two: `qfuzz fuzz path/to/prog.c [more.c ...] [--cflags "..."]
[--args "..."]... [--variant NAME=-DMACRO=VALUE]... [--variant NAME]`.

A target argument ending in .c makes a program target (every target
argument then must be a .c file).  `--variant NAME=MACROS` defines a
variant (the first one defined is fuzzed unless `--variant NAME` picks
another; with atheris, and with a raw crash file, each input picks among
the defined variants unless one is picked); without any, the program has
one variant, "default".  Each
`--args` is one argument list for main() (split as a shell would); several
make the campaign's mix."""
from __future__ import annotations

import argparse
from typing import Any, Optional

from ..commands.common import positive_float
from ..errors import QfuzzError
from ..target import Target
from . import is_program_path, load
from .target import ProgramTarget


def add_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("C programs (TARGET is one or more .c files)")
    g.add_argument("--cflags", help='compiler flags for every source, e.g. --cflags "-DN=4 -Iinclude"')
    g.add_argument("--args", action="append", metavar="ARGS",
                   help="main()'s arguments, as one shell-quoted string; repeat for a mix (default: none)")
    g.add_argument("--hang-timeout", type=positive_float, metavar="S",
                   help="seconds without a new execution before the worker child counts as hung: its input is "
                        "saved as a timeout crash and the search goes on (default 30; the seeded engines)")


def is_program(target: Any) -> bool:
    return isinstance(target, ProgramTarget)


def target_of(args: argparse.Namespace) -> Target:
    """Resolve `args.target` (a list) and `args.variant` (a list of names
    and NAME=MACROS definitions) into a Target; sets args.variant to the
    variant name to fuzz."""
    from ..targets import get

    names = list(args.target) if isinstance(args.target, (list, tuple)) else [args.target]
    given = list(args.variant or []) if isinstance(args.variant, (list, tuple)) else [args.variant] * bool(args.variant)
    defs = [v for v in given if "=" in v]
    picks = list(dict.fromkeys(v for v in given if "=" not in v))
    cflags, arg_lists = getattr(args, "cflags", None), getattr(args, "args", None) or []
    if any(is_program_path(n) for n in names):
        bad = [n for n in names if not is_program_path(n)]
        if bad:
            raise QfuzzError(f"{bad[0]}: a program target is C sources (*.c) only; a built-in target name goes alone")
        t = load(names, cflags=cflags, args=arg_lists, variants=defs)
        if len(picks) > 1:
            raise QfuzzError(f"--variant: pick one variant to fuzz, not {', '.join(picks)}")
        args.variant = picks[0] if picks else next(iter(t.variants))
        t.variant(args.variant)
        t.variant_choice = not picks  # several defined, none pinned: a fuzz input picks (atheris)
        args.target = t.name
        return t
    if len(names) != 1:
        raise QfuzzError(f"one target name, not {len(names)} ({' '.join(names)}); C programs are given as .c files")
    if defs:
        raise QfuzzError(f"--variant {defs[0]}: NAME=MACROS defines a variant of a C program; {names[0]} has its own "
                         "variants (qfuzz list)")
    if cflags or arg_lists or getattr(args, "hang_timeout", None) is not None:
        raise QfuzzError("--cflags, --args and --hang-timeout apply to C programs (.c files) only")
    if not picks:
        raise QfuzzError(f"--variant is required for target {names[0]} (qfuzz list shows its variants)")
    if len(picks) > 1:
        raise QfuzzError(f"--variant: one variant, not {', '.join(picks)}")
    args.target, args.variant = names[0], picks[0]
    return get(names[0])


def banner(target: Target, variant: str) -> Optional[str]:
    """What to say about a program before fuzzing it (the reset mode), or None."""
    if not is_program(target):
        return None
    assert isinstance(target, ProgramTarget)
    macros = " ".join(target.spec.variant_macros[variant]) or "no macros"
    mix = "; ".join(" ".join(a) or "(none)" for a in target.spec.args)
    return f"program {target.name}: variant {variant} ({macros}), main() arguments: {mix}"


def run_campaign(campaign: Any, args: argparse.Namespace, console: Any, *, seconds: Optional[float],
                 on_new: Any) -> Any:
    """`qfuzz fuzz prog.c` with a seeded engine: build first (a compiler error
    is gcc's message and exit 2), then the campaign in a worker child
    (harness/program/isolate.py); each crash is reported and saved."""
    from rich.text import Text

    from .isolate import Crashed, run_campaign as isolated

    target = campaign.target
    console.print(banner(target, campaign.variant.name))
    target.so_path(campaign.variant.name)

    def crashed(c: Crashed) -> None:
        console.print(Text.assemble(("CRASH ", "bold red"), (c.reason, "bold"), f"  at execution #{c.execution:,}; "
                                    "the campaign goes on"))
        console.print(f"    crash reproducer: {c.file}   (qfuzz repro {c.file})")

    def start() -> None:  # in the worker: loading the program tells how it is reset
        note = target.reset_note(campaign.variant.name)
        console.print(f"  reset: {note or 'in process (writable segments, heap and descriptors restored)'}")

    result = isolated(campaign, seconds=seconds, runs=args.runs, on_new=on_new, on_crash=crashed, on_start=start,
                      **_hang(args))
    for c in result.crashes:
        if c.count > 1:
            console.print(f"  {c.reason}: {c.count} executions of that workload crashed; kept {c.file}")
    if result.skipped:
        console.print(f"  {result.skipped:,} later draws of a workload that hung were skipped (each would "
                      "have hung again)")
    if result.error:
        raise QfuzzError(f"the campaign stopped: {result.error}")
    return result


def run_search(target: Target, args: argparse.Namespace, console: Any, *, seconds: Optional[float], seed: int,
               workload: Any, keep: Any, corpus: Any) -> Any:
    """`qfuzz fuzz prog.c --engine hypothesis`: build first (a compiler error is
    gcc's message and exit 2), then the search in a worker child
    (harness/program/isolated_search.py); each crash is one line and a file."""
    from rich.text import Text

    from .isolate import Crashed
    from .isolated_search import run_search as isolated

    assert isinstance(target, ProgramTarget)
    console.print(banner(target, args.variant))
    target.so_path(args.variant)

    def crashed(c: Crashed) -> None:
        console.print(Text.assemble(("CRASH ", "bold red"), (c.reason, "bold"),
                                    f"  at example #{c.execution:,}; crash reproducer: {c.file} "
                                    f"(qfuzz repro {c.file}); the search goes on"), soft_wrap=True)

    def start() -> None:  # in the worker: loading the program tells how it is reset
        note = target.reset_note(args.variant)
        console.print(f"  reset: {note or 'in process (writable segments, heap and descriptors restored)'}")

    result = isolated(target, args.variant, seconds=seconds, examples=args.runs, seed=seed, workload=workload,
                      keep=keep, crashes_dir=corpus.dir / "crashes", on_crash=crashed, on_start=start)
    if result.error:
        raise QfuzzError(f"the search stopped: {result.error}")
    return result


def _hang(args: argparse.Namespace) -> dict[str, float]:
    s = getattr(args, "hang_timeout", None)
    return {} if s is None else {"hang_seconds": s}


def program_file(target: Target, workdir: Any) -> Optional[str]:
    """For `--engine atheris`: the program written where libFuzzer's processes
    (which run in `workdir`) can load it; None for a compiled-in target."""
    import json
    import os
    from pathlib import Path

    if not is_program(target):
        return None
    assert isinstance(target, ProgramTarget)
    path = Path(workdir).resolve() / "program.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps({"program": target.program_block(), "cwd": os.getcwd(),
                       "variant_choice": target.variant_choice}, indent=1) + "\n"
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)
    return str(path)


def load_program_file(path: str) -> Target:
    """The program target a program_file() names (its sources found from the folder it was written in)."""
    from pathlib import Path

    from ..reproducer import parse_json, read_limited
    from . import from_reproducer_block

    d = parse_json(read_limited(Path(path)), path)
    if not isinstance(d, dict) or "program" not in d or not isinstance(d.get("cwd"), str):
        raise QfuzzError(f"{path}: not a qfuzz program description")
    t = from_reproducer_block(d["program"], path, Path(d["cwd"]))
    t.variant_choice = bool(d.get("variant_choice", False))
    return t
