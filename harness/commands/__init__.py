"""One module per qfuzz command: HELP, add_arguments(parser), run(args, console) -> exit status."""
from __future__ import annotations

import importlib
from types import ModuleType

# the order `qfuzz --help` lists them in
NAMES = ["list", "fuzz", "repro", "minimize", "stress", "nightly", "merge", "config"]


def load(name: str) -> ModuleType:
    return importlib.import_module(f"{__name__}.{name}")
