"""Call sites as `function (file:line)`: offsets into a built program's .so,
symbolized with binutils' addr2line (it comes with gcc) from the object's
debug info (-g), one addr2line run per batch of new offsets, cached per .so."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Iterable

_DISCRIMINATOR = " (discriminator "


class Symbolizer:
    def __init__(self, so: Path):
        self.so = Path(so)
        self.cache: dict[int, str] = {0: ""}
        self.functions: dict[int, list[str]] = {0: []}  # offset -> its chain of functions (signatures)
        self.tool = shutil.which("addr2line")

    def __call__(self, offset: int) -> str:
        if offset not in self.cache:
            self.resolve([offset])
        return self.cache[offset]

    def frames(self, offset: int) -> list[str]:
        """The functions the offset is in, outermost first, through every inlined call:
        ["worker", "futex_wait"] for a futex_wait() helper inlined into worker(); [] without
        debug info."""
        if offset not in self.functions:
            self.functions[offset] = self._chain(offset)
        return self.functions[offset]

    def _chain(self, offset: int) -> list[str]:
        if self.tool is None:
            return []
        try:
            out = subprocess.run([self.tool, "-f", "-i", "-C", "-e", str(self.so), f"{offset:#x}"],
                                 capture_output=True, text=True, timeout=60, check=True).stdout.splitlines()
        except (OSError, subprocess.SubprocessError):
            return []
        names = [fn for fn in out[0::2] if fn not in ("??", "")]  # innermost first, then the functions it is inlined into
        return names[::-1]

    def resolve(self, offsets: Iterable[int]) -> None:
        todo = sorted({o for o in offsets if o not in self.cache})
        if not todo:
            return
        if self.tool is None:  # no binutils: the offset is still a stable name
            self.cache.update({o: f"+{o:#x}" for o in todo})
            return
        try:
            out = subprocess.run(
                [self.tool, "-f", "-C", "-e", str(self.so), *(f"{o:#x}" for o in todo)],
                capture_output=True, text=True, timeout=60, check=True,
            ).stdout.splitlines()
        except (OSError, subprocess.SubprocessError):
            self.cache.update({o: f"+{o:#x}" for o in todo})
            return
        for i, o in enumerate(todo):
            fn = out[2 * i] if 2 * i < len(out) else "??"
            where = out[2 * i + 1] if 2 * i + 1 < len(out) else "??:0"
            self.cache[o] = format_site(fn, where, o)


def format_site(function: str, where: str, offset: int) -> str:
    where = where.split(_DISCRIMINATOR)[0].strip()
    file, _, line = where.rpartition(":")
    if function in ("??", "") and file in ("??", ""):
        return f"+{offset:#x}"
    name = os.path.basename(file) if file and file != "??" else "??"
    return f"{function} ({name}:{line})" if line not in ("", "?", "0") else f"{function} ({name})"
