"""Every kind of file `qfuzz repro` and `qfuzz minimize` accept, told apart
by content, never by name:

- a reproducer (JSON, "format": "qfuzz-reproducer"): replayed in process;
- a crash reproducer ("qfuzz-crash", from the nightly job): run in a child
  process, since it crashed or hung a worker once;
- a stress reproducer ("qfuzz-stress-reproducer", the real HAProxy);
- a libFuzzer crash-*/timeout-* file (raw bytes): decoded into a workload
  and a schedule (harness.fuzzinput) for the --target and --variant given.

Files are data only (no pickle, no eval) and bounded in size."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from .errors import QfuzzError, ReproducerError
from .reproducer import BOM, FORMAT, Reproducer, from_execution, from_json, parse_json, read_limited

RAW_PREFIXES = ("crash-", "timeout-", "oom-", "leak-", "slow-unit-")


@dataclass
class Input:
    path: Path
    kind: str  # "reproducer", "crash", "stress", "raw"
    reproducer: Optional[Reproducer] = None  # "reproducer" and "raw"
    crash: Optional[object] = None  # harness.crash.Crash


def expand(files: Sequence[str]) -> list[Path]:
    """Files as given; directories expand to the reproducers and libFuzzer
    artifacts they hold."""
    out: list[Path] = []
    for f in files:
        p = Path(f)
        if p.is_dir():
            # not only regular files: a FIFO or a device there is reported by load(), not skipped
            found = sorted(x for x in p.iterdir() if not x.is_dir() and not x.name.startswith(".")
                           and (x.suffix == ".json" or x.name.startswith(RAW_PREFIXES)))
            if not found:
                raise QfuzzError(f"{p}: no reproducer (*.json) or crash file in this directory")
            out += found
        else:
            out.append(p)
    return out


def load(path: Path, target: Optional[str] = None, variant: Optional[str] = None,
         workload: Optional[Path] = None) -> Input:
    data = read_limited(path)
    source = str(path)
    looks_json = data.removeprefix(BOM).lstrip()[:1] == b"{"  # an editor's BOM does not make it raw bytes
    if not looks_json and target is None:
        raise ReproducerError(f"{source}: not a qfuzz reproducer; a libFuzzer crash file (raw bytes) needs "
                              "--target and --variant")
    if looks_json:
        try:
            d = parse_json(data, source)
        except ReproducerError:
            if target is None:
                raise
            d = None
        if isinstance(d, dict):
            fmt = d.get("format")
            if fmt == FORMAT:
                rep = from_json(d, source)
                rep.path = path
                return Input(path, "reproducer", reproducer=rep)
            from . import crash

            if crash.is_crash(d):
                c = crash.from_json(d, source)
                c.path = path
                return Input(path, "crash", crash=c)
            from .stress import binary

            if binary.is_stress_reproducer(d):
                return Input(path, "stress")
            if target is None:
                raise ReproducerError(f"{source}: format: {fmt!r} is not a qfuzz reproducer format"
                                      if fmt is not None else f"{source}: not a qfuzz reproducer (no \"format\" field)")
    if target is None or variant is None:
        raise ReproducerError(f"{source}: raw bytes: a libFuzzer crash file needs --target and --variant")
    return Input(path, "raw", reproducer=decode_raw(path, data, target, variant, workload))


def decode_raw(path: Path, data: bytes, target: str, variant: str, workload: Optional[Path] = None) -> Reproducer:
    """A libFuzzer input, run once through its decoder; the result is an
    ordinary reproducer (its decision list replays exactly)."""
    from .fuzzinput import decode_input, supported
    from .runner import run
    from .targets import get

    t = get(target)
    t.variant(variant)
    if workload is not None:
        # a run with a pinned workload (qfuzz fuzz --workload): every byte is schedule
        from .reproducer import load_workload

        variant, w, scheduler = decode_input(t, data, variant, workload=load_workload(workload, t.name))
    else:
        if not supported(t):
            raise QfuzzError(f"{path}: target {target} has no fuzzer input decoder")
        variant, w, scheduler = decode_input(t, data, variant)
    ex = run(t, variant, w, scheduler, trace=False)
    rep = from_execution(ex, found={"engine": "atheris", "input": path.name})
    rep.path = path
    return rep
