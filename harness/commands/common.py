"""Helpers shared by the commands."""
from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path


def positive_float(s: str) -> float:
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{s!r} is not a number") from None
    if not v > 0:
        raise argparse.ArgumentTypeError(f"{s!r} must be positive")
    return v


def positive_int(s: str) -> int:
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{s!r} is not an integer") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"{s!r} must be at least 1")
    return v


def writable_dir(path: str | os.PathLike[str], what: str) -> Path:
    """Prove that `path` is, or can be made, a directory qfuzz can write in,
    before any work: a bad --corpus or --report is a one-line error at the
    start, not a traceback after the whole run.  Nothing is left behind (a
    probe directory is made and removed in the deepest folder that exists)."""
    from ..errors import QfuzzError

    p = Path(path)
    base = p
    while not os.path.lexists(base) and base != base.parent:
        base = base.parent
    if not base.is_dir():
        raise QfuzzError(f"{what} {p}: " + ("exists and is not a directory" if base == p else f"{base} is not a directory"))
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".qfuzz-probe-", dir=base))
    except OSError as exc:
        raise QfuzzError(f"{what} {p}: cannot write there ({exc.strerror or exc})") from None
    return p


def writable_file(path: str | os.PathLike[str], what: str) -> Path:
    """`path` is to be a new file: its folder must be writable and the name free."""
    from ..errors import QfuzzError

    p = Path(path)
    if p.is_dir():
        raise QfuzzError(f"{what} {p}: is a directory")
    if os.path.lexists(p):
        raise QfuzzError(f"{what} {p}: already exists; choose another")
    try:
        writable_dir(p.parent, "folder")
    except QfuzzError as exc:
        raise QfuzzError(f"{what} {p}: {exc}") from None
    return p
