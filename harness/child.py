"""Starting Python child processes that import the installed qfuzz.

Run from a checkout after `pip install .`, a plain `python -m harness...`
child would put the current directory first on sys.path and import the
source tree, whose native core was never built there.  `-P` (Python 3.11+)
keeps the current directory off sys.path."""
from __future__ import annotations

import sys


def python(*args: str) -> list[str]:
    """argv for a Python child: python(-P) ARGS."""
    safe = ["-P"] if sys.version_info >= (3, 11) else []
    return [sys.executable, *safe, *args]
