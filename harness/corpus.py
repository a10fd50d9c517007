"""corpus/<target>/: one minimized reproducer per variant and failure signature.

The key includes the variant because the same signature on two variants is
two facts (the seed bug on pre-fix and the trylock residual on seed-fix
share one).  A new reproducer for a known key replaces the stored one only
if it is strictly smaller; the old file then moves to superseded/ (nothing
is ever overwritten or lost).  Stores are serialized with a lock file, so
parallel workers can share a corpus."""
from __future__ import annotations

import fcntl
import os
import re
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

from .errors import ReproducerError
from .reproducer import Reproducer, load, write_new


def slug(signature: str) -> str:
    return re.sub(r"[^a-z0-9_]+", "-", signature.lower().replace(":", "-")).strip("-")


@dataclass
class Stored:
    status: str  # "new", "replaced" (a smaller one), or "kept" (the stored one is as small)
    path: Path
    previous: Optional[Path] = None


class Corpus:
    def __init__(self, root: str | os.PathLike[str], target: str):
        self.dir = Path(root) / target
        self.target = target

    def files(self) -> list[Path]:
        if not self.dir.is_dir():
            return []
        return sorted(p for p in self.dir.glob("*.json") if not p.name.startswith("."))

    def reproducers(self) -> Iterator[Reproducer]:
        for p in self.files():
            try:
                yield load(p)
            except ReproducerError:
                continue  # not ours to judge here; `qfuzz repro` reports it

    def find(self, variant: str, signature: str) -> Optional[Reproducer]:
        for rep in self.reproducers():
            if rep.signature == signature and rep.variant == variant and rep.target == self.target:
                return rep
        return None

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.dir / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def store(self, rep: Reproducer) -> Stored:
        with self._locked():
            old = self.find(rep.variant, rep.signature)
            if old is not None and old.size() <= rep.size():
                return Stored("kept", old.path)  # type: ignore[arg-type]
            path = self.dir / f"{rep.variant}--{slug(rep.signature)}-{rep.content_id()}.json"
            if not write_new(path, rep.dumps()):
                return Stored("kept", path)
            rep.path = path
            if old is None:
                return Stored("new", path)
            moved = self.dir / "superseded" / old.path.name  # type: ignore[union-attr]
            moved.parent.mkdir(exist_ok=True)
            os.replace(old.path, moved)  # type: ignore[arg-type]
            return Stored("replaced", path, moved)
