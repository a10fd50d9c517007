"""What defines a program target: its C sources (with their content
hashes), compiler flags, variants (named macro sets) and the argument lists
main() is run with.  Parsed from the command line (`--cflags`, `--args`,
`--variant NAME=-DMACRO=VALUE`) and stored in a reproducer's "program"
block, so a reproducer names exactly the code it replays against."""
from __future__ import annotations

import hashlib
import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence

from ..errors import QfuzzError, ReproducerError

DEFAULT_VARIANT = "default"
MAX_ARGS = 64  # per argument list
MAX_ARG_LISTS = 64
MAX_SOURCE_BYTES = 16 << 20
_VARIANT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}$")
_MACRO = re.compile(r"^-D[A-Za-z_][A-Za-z0-9_]*(=.*)?$|^-U[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Source:
    path: str  # as stored: the path the user gave, normalized
    sha256: str
    file: Path  # where it is on this machine

    def to_json(self) -> dict[str, str]:
        return {"path": self.path, "sha256": self.sha256}


@dataclass(frozen=True)
class ProgramSpec:
    sources: tuple[Source, ...]
    cflags: tuple[str, ...] = ()
    variants: tuple[tuple[str, tuple[str, ...]], ...] = ((DEFAULT_VARIANT, ()),)
    args: tuple[tuple[str, ...], ...] = ((),)  # the argument lists a campaign draws from

    @property
    def name(self) -> str:
        """The target's name: the first source's file stem, as C users name a program."""
        stem = Path(self.sources[0].path).stem
        return re.sub(r"[^A-Za-z0-9_.-]", "_", stem) or "program"

    @property
    def variant_macros(self) -> dict[str, tuple[str, ...]]:
        return dict(self.variants)

    def key(self) -> str:
        """What makes two specs the same target (sources' bytes, flags, variants, args)."""
        blob = repr((tuple(s.sha256 for s in self.sources), tuple(s.path for s in self.sources), self.cflags,
                     self.variants, self.args))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def to_json(self) -> dict[str, Any]:
        return {
            "sources": [s.to_json() for s in self.sources],
            "cflags": list(self.cflags),
            "variants": {name: list(macros) for name, macros in self.variants},
            "args": [list(a) for a in self.args],
        }


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 16), b""):
            h.update(chunk)
    return h.hexdigest()


def _source(path: str) -> Source:
    p = Path(path)
    if not p.name.endswith(".c"):
        raise QfuzzError(f"{path}: not a C source (a program target is one or more .c files)")
    try:
        if not p.is_file():
            raise QfuzzError(f"{path}: no such file" if not p.exists() else f"{path}: not a regular file")
        if p.stat().st_size > MAX_SOURCE_BYTES:
            raise QfuzzError(f"{path}: larger than {MAX_SOURCE_BYTES} bytes")
        digest = sha256_of(p)
    except OSError as exc:
        raise QfuzzError(f"{path}: cannot read ({exc.strerror})") from None
    return Source(os.path.normpath(path), digest, p.resolve())


def parse_variant(spec: str) -> tuple[str, tuple[str, ...]]:
    """`NAME=-DMACRO=VALUE [-DOTHER ...]` (macros separated by blanks or commas)."""
    name, eq, rest = spec.partition("=")
    if not eq:
        raise QfuzzError(f"--variant {spec!r}: expected NAME=-DMACRO=VALUE (or a variant NAME defined so)")
    if not _VARIANT_NAME.match(name):
        raise QfuzzError(f"--variant {spec!r}: {name!r} is not a variant name (letters, digits, _ . + -)")
    try:
        macros = tuple(m for part in shlex.split(rest) for m in part.split(",") if m)
    except ValueError as exc:
        raise QfuzzError(f"--variant {spec!r}: {exc}") from None
    for m in macros:
        if not _MACRO.match(m):
            raise QfuzzError(f"--variant {spec!r}: {m!r} is not -DMACRO, -DMACRO=VALUE or -UMACRO")
    return name, macros


def split_flags(text: str, what: str) -> tuple[str, ...]:
    try:
        return tuple(shlex.split(text))
    except ValueError as exc:
        raise QfuzzError(f"{what} {text!r}: {exc}") from None


def from_command_line(
    sources: Sequence[str], cflags: Optional[str], args: Iterable[str], variants: Iterable[str]
) -> ProgramSpec:
    """A spec from `qfuzz fuzz a.c b.c --cflags ... --args ... --variant NAME=...`."""
    srcs = tuple(_source(s) for s in sources)
    seen: dict[str, Source] = {}
    for s in srcs:
        if str(s.file) in seen:
            raise QfuzzError(f"{s.path}: given twice")
        seen[str(s.file)] = s
    defined: dict[str, tuple[str, ...]] = {}
    for v in variants:
        name, macros = parse_variant(v)
        if name in defined:
            raise QfuzzError(f"--variant {v!r}: variant {name!r} defined twice")
        defined[name] = macros
    arg_lists = tuple(split_flags(a, "--args") for a in args) or ((),)
    if len(arg_lists) > MAX_ARG_LISTS or any(len(a) > MAX_ARGS for a in arg_lists):
        raise QfuzzError(f"--args: at most {MAX_ARG_LISTS} lists of {MAX_ARGS} arguments each")
    return ProgramSpec(
        srcs,
        split_flags(cflags, "--cflags") if cflags else (),
        tuple(defined.items()) or ((DEFAULT_VARIANT, ()),),
        tuple(dict.fromkeys(arg_lists)),
    )


# -- the reproducer's "program" block ----------------------------------------------------------


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        raise ReproducerError(f"{where}: expected a list of strings")
    return tuple(value)


def locate(path: str, near: Optional[Path]) -> Optional[Path]:
    """Where a stored source path is on this machine: as given (absolute, or
    relative to the current directory), else relative to the reproducer's
    folder or one of its parents (a corpus sits inside the project)."""
    p = Path(path)
    if p.is_file():
        return p
    if p.is_absolute() or near is None:
        return None
    for base in [near, *near.resolve().parents]:
        if (base / p).is_file():
            return base / p
    return None


def from_block(block: Any, source: str, near: Optional[Path] = None) -> ProgramSpec:
    """The spec a reproducer's "program" block names, with every source
    checked against its stored hash.  A changed or missing source is one
    line naming the file."""
    if not isinstance(block, dict):
        raise ReproducerError(f"{source}: program: expected an object")
    raw = block.get("sources")
    if not isinstance(raw, list) or not raw:
        raise ReproducerError(f"{source}: program.sources: expected a non-empty list")
    srcs = []
    for i, s in enumerate(raw):
        where = f"{source}: program.sources[{i}]"
        if not isinstance(s, dict) or not isinstance(s.get("path"), str) or not isinstance(s.get("sha256"), str):
            raise ReproducerError(f"{where}: expected {{\"path\": ..., \"sha256\": ...}}")
        found = locate(s["path"], near)
        if found is None:
            raise ReproducerError(f"{source}: program source {s['path']} not found (run from the folder it was "
                                  "recorded in, or next to the sources)")
        try:
            digest = sha256_of(found)
        except OSError as exc:
            raise ReproducerError(f"{source}: program source {found}: cannot read ({exc.strerror})") from None
        if digest != s["sha256"]:
            raise ReproducerError(f"{source}: program source {found} has changed since this reproducer was "
                                  f"recorded (sha256 {digest[:12]}, recorded {s['sha256'][:12]}); refusing to replay")
        srcs.append(Source(s["path"], digest, found.resolve()))
    cflags = _strings(block.get("cflags", []), f"{source}: program.cflags")
    variants = block.get("variants", {DEFAULT_VARIANT: []})
    if not isinstance(variants, dict) or not variants:
        raise ReproducerError(f"{source}: program.variants: expected an object of variant name -> macro list")
    vs = []
    for name, macros in variants.items():
        if not _VARIANT_NAME.match(name):
            raise ReproducerError(f"{source}: program.variants: {name!r} is not a variant name")
        ms = _strings(macros, f"{source}: program.variants.{name}")
        for m in ms:
            if not _MACRO.match(m):
                raise ReproducerError(f"{source}: program.variants.{name}: {m!r} is not a macro definition")
        vs.append((name, ms))
    args = block.get("args", [[]])
    if not isinstance(args, list) or not args or len(args) > MAX_ARG_LISTS:
        raise ReproducerError(f"{source}: program.args: expected 1..{MAX_ARG_LISTS} argument lists")
    arg_lists = tuple(_strings(a, f"{source}: program.args[{i}]") for i, a in enumerate(args))
    return ProgramSpec(tuple(srcs), cflags, tuple(vs), arg_lists)


__all__ = ["ProgramSpec", "Source", "from_command_line", "from_block", "parse_variant", "DEFAULT_VARIANT"]
