#!/usr/bin/env python3
"""libFuzzer entry point (atheris) for the reproducer loader: whatever bytes a
file holds, `qfuzz repro FILE` must answer with a Reproducer or a one-line
QfuzzError, never another exception.

    fuzz/fuzz_reproducer_loader.py -max_total_time=300 DIR corpus/haproxy_queue  # DIR: new inputs; then the seeds
    fuzz/fuzz_reproducer_loader.py crash-<sha1>                                  # replay one input

Each input goes through harness.reproducer.parse_json + from_json (what
`qfuzz repro` does with a file's bytes) and through a temporary file and
harness.reproducer.load (the same, plus reading).  Only loading is fuzzed,
not replaying: the native core has fuzz_haproxy_queue.py.

Mutations: byte-level libFuzzer ones, which mostly test the JSON layer, and,
for inputs that parse, a structure-aware one (replace, delete, duplicate or
add one value anywhere in the document), which reaches the field checks
behind it: the version, the workload, the decisions, the verdict."""
import copy
import json
import os
import random
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable

import atheris

with atheris.instrument_imports(include=["harness"]):
    from harness.errors import QfuzzError
    from harness.reproducer import Reproducer, from_json, load, parse_json
    import harness.targets.haproxy_queue  # noqa: F401  (the workload checks, instrumented too)

SOURCE = "fuzz-input.json"
# one file per process, removed after each input (libFuzzer exits without Python's cleanup)
TMP = Path(tempfile.gettempdir()) / f"qfuzz-loader-fuzz-{os.getpid()}.json"

EDGE_VALUES: list[Any] = [
    None, True, False, 0, 1, -1, 2, 255, 256, 2**31 - 1, 2**31, -(2**31) - 1, 2**63, 10**300, 0.5, -0.0, 1e308,
    "", "qfuzz-reproducer", "haproxy_queue", "pre-fix", "STUCK", "a\nb", "\r", "\u2028", "\udcff", "\x00", "é" * 3,
    "[" * 3, [], {}, [0] * 3, {"": None}, [[[[[]]]]],
]


def check(what: str, call: Callable[[], Any]) -> None:
    try:
        rep = call()
    except QfuzzError as exc:
        msg = str(exc)
        if len(msg.splitlines()) != 1 or msg.strip() != msg:
            raise AssertionError(f"{what}: the error is not one line: {msg!r}") from None
        return
    if not isinstance(rep, Reproducer):
        raise AssertionError(f"{what}: returned {type(rep).__name__}, not a Reproducer")


def TestOneInput(data: bytes) -> None:
    check("parse_json + from_json", lambda: from_json(parse_json(data, SOURCE), SOURCE))
    TMP.write_bytes(data)
    try:
        check("load", lambda: load(TMP))
    finally:
        TMP.unlink()


# -- the structure-aware mutator ----------------------------------------------------


def _slots(node: Any, out: list[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
    """Every (container, key) in the document, depth first."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for k, v in items:
        out.append((node, k))
        _slots(v, out)
    return out


def _value(rnd: random.Random, doc: Any, slots: list[tuple[Any, Any]], old: Any) -> Any:
    choice = rnd.randrange(6)
    if choice == 0 and isinstance(old, int) and not isinstance(old, bool):
        return old + rnd.choice((-1, 1, -old - 1, old, 2**rnd.randrange(64)))
    if choice == 1 and slots:
        parent, key = rnd.choice(slots)
        return json.loads(json.dumps(parent[key]))  # a copy of another node
    if choice == 2 and isinstance(old, str):
        raw = atheris.Mutate(old.encode("utf-8", "surrogatepass"), 64)
        return raw.decode("utf-8", "surrogateescape")
    if choice == 3:
        return [old] if rnd.random() < 0.5 else {"x": old}
    return copy.deepcopy(rnd.choice(EDGE_VALUES))  # never share a list or dict between documents


def mutate_document(doc: Any, rnd: random.Random) -> Any:
    slots = _slots(doc, [])
    if not slots:
        return copy.deepcopy(rnd.choice(EDGE_VALUES + [{"format": "qfuzz-reproducer", "version": 1}]))
    parent, key = rnd.choice(slots)
    action = rnd.randrange(8)
    if action == 0:
        del parent[key]
    elif action == 1 and isinstance(parent, dict):
        parent[rnd.choice(("", "a\nb", "x", "decisions", "threads", "\x1b[1m", "\udcff")) + str(rnd.randrange(3))] = (
            _value(rnd, doc, slots, None)
        )
    elif action == 2 and isinstance(parent, list):
        parent.insert(key, _value(rnd, doc, slots, parent[key]))
    else:
        parent[key] = _value(rnd, doc, slots, parent[key])
    return doc


def custom_mutator(data: bytes, max_size: int, seed: int) -> bytes:
    rnd = random.Random(seed)
    if rnd.random() < 0.3:
        return atheris.Mutate(data, max_size)
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError):
        return atheris.Mutate(data, max_size)
    try:
        for _ in range(1 + int(rnd.expovariate(1.0))):
            doc = mutate_document(doc, rnd)
        out = json.dumps(doc, ensure_ascii=rnd.random() < 0.5).encode("utf-8", "surrogatepass")
    except Exception:  # noqa: BLE001  the mutator is not under test, and an exception here hangs atheris
        return atheris.Mutate(data, max_size)
    return out if len(out) <= max_size else atheris.Mutate(data, max_size)


def main() -> None:
    atheris.Setup(sys.argv, TestOneInput, custom_mutator=custom_mutator)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
