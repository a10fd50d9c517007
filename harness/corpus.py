"""corpus/<target>/: one minimized reproducer per variant and failure signature.

The key includes the variant because the same signature on two variants is
two facts (the seed bug on pre-fix and the trylock residual on seed-fix
share one).  A new reproducer for a known key replaces the stored one only
if it is strictly smaller, sizes measured by replaying both (never read from
the files); a stored one that no longer replays to its verdict is replaced
by any that does.  Stores are serialized with a lock file, so parallel
workers can share a corpus.

Replacing is one atomic step.  Each key has one stable file name,
VARIANT--SIGNATURE-KEYHASH.json; the old file is first hard-linked into
superseded/ (so it is kept before anything changes), then os.replace() puts
the new one on the same name.  At every instant the key has exactly one
file, complete, old or new: never both, never neither, whatever kills the
process (an earlier write-new-then-move-old left both after a kill, and
two files per key from then on).  Hard link plus rename is plain POSIX
(no renameat2(RENAME_EXCHANGE), which would leave the old name on the new
content).  A file named before stable names existed is renamed onto its
stable name (one step) as it is replaced.  superseded/ keeps the newest
SUPERSEDED_KEEP files per key.

Files that cannot be read while listing the corpus are reported on stderr
(once each), never skipped silently; other qfuzz formats (crash and stress
reproducers) are left alone."""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

from .errors import ReproducerError
from .reproducer import Reproducer, load, size_of, write_new

SUPERSEDED_KEEP = 5  # per key: what a person may want to compare with; older ones go
_reported: set[str] = set()  # corrupt files already reported by this process


def slug(signature: str) -> str:
    return re.sub(r"[^a-z0-9_]+", "-", signature.lower().replace(":", "-")).strip("-")


def measured_size(rep: Reproducer) -> Optional[tuple[int, ...]]:
    """What "smaller" means (reproducer.size_of), from replaying `rep`; None
    if it does not replay to its own signature.  Nothing is taken from the
    file's own counts."""
    ex = rep.replay(trace=False)
    return size_of(ex) if ex.verdict.signature == rep.signature else None


@dataclass
class Stored:
    status: str  # "new", "replaced" (a smaller one), or "kept" (the stored one is as small)
    path: Path
    previous: Optional[Path] = None  # "replaced": where the old one went (superseded/)


class Corpus:
    def __init__(self, root: str | os.PathLike[str], target: str):
        self.dir = Path(root) / target
        self.target = target

    def path_for(self, variant: str, signature: str) -> Path:
        """The key's stable file name (the hash keeps two signatures whose slugs meet apart)."""
        key = hashlib.sha1(f"{variant}\0{signature}".encode()).hexdigest()[:10]
        return self.dir / f"{variant}--{slug(signature)}-{key}.json"

    def files(self) -> list[Path]:
        if not self.dir.is_dir():
            return []
        return sorted(p for p in self.dir.glob("*.json") if not p.name.startswith("."))

    def reproducers(self) -> Iterator[Reproducer]:
        for p in self.files():
            try:
                yield load(p)
            except ReproducerError as exc:
                _report(p, exc)

    def find(self, variant: str, signature: str) -> Optional[Reproducer]:
        for rep in self._stored(variant, signature):
            return rep
        return None

    def _stored(self, variant: str, signature: str) -> list[Reproducer]:
        return [rep for rep in self.reproducers()
                if rep.signature == signature and rep.variant == variant and rep.target == self.target]

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.dir / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                # what a killed writer left: a temporary file is never a reproducer (those
                # are on their names already); a minute old, so no live writer's
                for tmp in self.dir.glob(".tmp-*.json"):
                    with contextlib.suppress(OSError):
                        if time.time() - tmp.stat().st_mtime > 60:
                            tmp.unlink()
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def store(self, rep: Reproducer) -> Stored:
        size = measured_size(rep)
        if size is None:
            raise ReproducerError(f"{rep.path or 'new reproducer'}: does not replay to {rep.signature}; not stored")
        with self._locked():
            olds = self._stored(rep.variant, rep.signature)
            sized = [(m, o) for o in olds if (m := measured_size(o)) is not None]
            if sized:
                best_size, best = min(sized, key=lambda t: t[0])
                if best_size <= size:
                    return Stored("kept", best.path)  # type: ignore[arg-type]
            path = self.path_for(rep.variant, rep.signature)
            if olds and olds[0].path == path and olds[0].content_id() == rep.content_id():
                return Stored("kept", path)
            previous = self._replace(path, rep.dumps(), [o.path for o in olds if o.path is not None])
            rep.path = path
            return Stored("replaced" if olds else "new", path, previous)

    def _replace(self, path: Path, text: str, olds: list[Path]) -> Optional[Path]:
        """Put `text` on `path` in one step, every file it replaces kept in
        superseded/ first; returns where the first of them went."""
        fd, tmp = _temp(self.dir, text)
        try:
            archived = [self._archive(o) for o in olds]
            if os.path.lexists(path) and path not in olds:  # an unreadable file on the key's name: keep it too
                self._archive(path)
            if olds and path not in olds:
                os.rename(olds[0], path)  # an old-style name: onto the stable one, still one file
                olds = olds[1:]
            os.replace(tmp, path)  # the atomic step
            for o in olds:
                if o != path:
                    os.unlink(o)  # extra copies of the key (merged corpora): archived above
            _fsync_dir(self.dir)
        finally:
            if os.path.lexists(tmp):
                os.unlink(tmp)
        self._prune(path)
        return archived[0] if archived else None

    def _archive(self, old: Path) -> Path:
        d = self.dir / "superseded"
        d.mkdir(exist_ok=True)
        data = old.read_bytes()
        dest = d / f"{old.stem}.{hashlib.sha1(data).hexdigest()[:10]}.json"
        if not dest.exists():
            try:
                os.link(old, dest)  # atomic, and the same bytes: nothing to copy
            except FileExistsError:
                pass
            except OSError:  # a file system without hard links
                write_new(dest, data.decode("utf-8", "replace"))
            os.utime(dest)  # when it was superseded: what the pruning goes by
            _fsync_dir(d)
        return dest

    def _prune(self, path: Path) -> None:
        d = self.dir / "superseded"
        mine = sorted(d.glob(f"{path.stem}.*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
        for p in mine[SUPERSEDED_KEEP:]:
            p.unlink(missing_ok=True)


def _temp(directory: Path, text: str) -> tuple[int, str]:
    import tempfile

    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=directory)
    with os.fdopen(fd, "w") as f:
        f.write(text)
        f.flush()
        os.fchmod(f.fileno(), 0o644)
        os.fsync(f.fileno())
    return fd, tmp


def _fsync_dir(d: Path) -> None:
    fd = os.open(d, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _report(path: Path, exc: Exception) -> None:
    """A corrupt file in the corpus is news, once per file per process;
    another qfuzz format is not."""
    if str(path) in _reported:
        return
    _reported.add(str(path))
    from .inputs import load as load_any

    try:
        if load_any(path).kind != "reproducer":
            return  # a crash or stress reproducer: not a model reproducer, not corrupt
    except ReproducerError:
        pass
    except Exception:
        pass
    from .reproducer import one_line

    sys.stderr.write(f"qfuzz: warning: corpus file skipped: {one_line(str(exc))}\n")
