"""Compile and link a user's unmodified C sources for the runtime (native/rt).

build(sources, cflags, macros) -> path of a prog.so in the cache, built once
per content: the key hashes the sources' bytes, the flags, the variant
macros, the qfuzz version and the runtime (harness._native's own bytes), and
each entry remembers the headers gcc read (-MD) with their hashes, so an
edited header rebuilds too.  The cache lives in $QFUZZ_CACHE, else
$XDG_CACHE_HOME/qfuzz, else ~/.cache/qfuzz: never in the user's source
folder.  An entry is built in a temporary folder and renamed into place, so
a crash or a concurrent build never leaves a half-written one.

The flags and the wrap list come from the installed runtime
(core.rt_build_info()); the headers qfuzz.h and qf.h from include_dir().
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Optional, Sequence

from .. import __version__
from ..errors import QfuzzError
from ..native import core


class CompileError(QfuzzError):
    """gcc rejected the sources; str() is gcc's own message."""


def include_dir() -> Path:
    """The folder holding qfuzz.h (and qf.h) in this installation."""
    return Path(__file__).resolve().parent.parent / "include"


def cache_root() -> Path:
    env = os.environ.get("QFUZZ_CACHE")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "qfuzz"


@lru_cache(maxsize=1)
def runtime_id() -> str:
    """Identifies the runtime a prog.so was linked for: its ABI number and
    the bytes of harness._native."""
    h = hashlib.sha256(str(core.rt_build_info()["abi"]).encode())
    with open(core.__file__, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _read_sources(sources: Iterable[str | os.PathLike[str]]) -> list[tuple[Path, bytes]]:
    out = []
    for s in sources:
        p = Path(s)
        try:
            out.append((p.resolve(), p.read_bytes()))
        except FileNotFoundError:
            raise QfuzzError(f"{s}: no such file") from None
        except IsADirectoryError:
            raise QfuzzError(f"{s}: is a directory, not a C source") from None
        except OSError as exc:
            raise QfuzzError(f"{s}: cannot read ({exc.strerror})") from None
    if not out:
        raise QfuzzError("no C sources given")
    return out


def _key(srcs: list[tuple[Path, bytes]], cflags: Sequence[str], macros: Sequence[str], race: bool) -> str:
    h = hashlib.sha256()
    for path, data in srcs:
        h.update(path.name.encode() + b"\0" + hashlib.sha256(data).digest())
    for part in (list(cflags), list(macros), [__version__, runtime_id(), str(race)]):
        h.update(json.dumps(part).encode())
    return h.hexdigest()[:32]


def _deps_valid(entry: Path) -> bool:
    try:
        manifest = json.loads((entry / "manifest.json").read_text())
        return all(Path(p).is_file() and _digest(Path(p)) == d for p, d in manifest["deps"].items())
    except (OSError, ValueError, KeyError):
        return False


def _parse_depfile(text: str) -> list[str]:
    body = text.replace("\\\n", " ").split(":", 1)[-1]
    return [t for t in body.split() if t]


def _run(cmd: list[str]) -> None:
    try:
        p = subprocess.run(cmd, capture_output=True, text=True)
    except FileNotFoundError:
        raise QfuzzError(f"{cmd[0]}: not found (qfuzz needs gcc to build programs)") from None
    if p.returncode != 0:
        raise CompileError((p.stderr or p.stdout).rstrip() or f"{cmd[0]} failed with status {p.returncode}")


def build(
    sources: Sequence[str | os.PathLike[str]],
    cflags: Sequence[str] = (),
    macros: Sequence[str] = (),
    *,
    race: bool = False,
    cache: Optional[Path] = None,
    cc: str = "gcc",
) -> Path:
    """Build (or find in the cache) the prog.so of `sources` compiled with
    `cflags` and the variant `macros` (each "-DNAME=VALUE" or "NAME=VALUE").
    Raises CompileError with gcc's message when gcc refuses them."""
    srcs = _read_sources(sources)
    macros = [m if m.startswith("-") else f"-D{m}" for m in macros]
    key = _key(srcs, cflags, macros, race)
    root = Path(cache) if cache else cache_root()
    entry = root / "programs" / key
    so = entry / f"{srcs[0][0].stem}.so"  # the program's name (load_program's "name")
    if so.is_file() and _deps_valid(entry):
        return so
    info = core.rt_build_info()
    (root / "programs").mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=root / "programs"))
    try:
        compile_flags = [f for f in cflags if not f.startswith(("-l", "-L"))]
        objs = []
        deps: dict[str, str] = {}
        for i, (path, _) in enumerate(srcs):
            obj, dep = tmp / f"{i}-{path.stem}.o", tmp / f"{i}.d"
            _run([cc, "-c", *info["cflags"], "-I", str(include_dir()), "-I", str(path.parent), *compile_flags, *macros,
                  "-MMD", "-MF", str(dep), "-o", str(obj), str(path)])
            objs.append(str(obj))
            for d in _parse_depfile(dep.read_text()):
                dp = Path(d)
                if not dp.is_absolute():
                    dp = (path.parent / dp).resolve()
                deps[str(dp)] = _digest(dp)
        wraps = [f"-Wl,--wrap={w}" for w in info["wrap"]]
        libs = [f for f in cflags if f.startswith(("-l", "-L"))]
        _run([cc, *info["ldflags"], "-o", str(tmp / so.name), *objs, *wraps, *libs, *info["ldlibs"]])
        for o in objs:
            os.unlink(o)
        (tmp / "manifest.json").write_text(json.dumps({"sources": [str(p) for p, _ in srcs], "deps": deps,
                                                        "cflags": list(cflags), "macros": macros}, indent=1))
        if entry.exists():
            shutil.rmtree(entry, ignore_errors=True)  # stale: a header changed
        try:
            os.rename(tmp, entry)
        except OSError:
            if not so.is_file():  # not a concurrent build that won the race
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return so
