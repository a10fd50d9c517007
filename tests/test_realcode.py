"""Real C code the project did not write (harness.realcode: libuv's thread
pool, liburcu's call_rcu worker), fetched from Debian's source packages at
test time and run unmodified through the installed `qfuzz` command line:
the released code is clean over a seeded search, and the lost wake-up a
one-line edit injects at build time is found, minimized and replays
identically.  Skipped, with the reason, when the source package cannot be
fetched (no network and nothing cached)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness import realcode
from harness.errors import QfuzzError
from support import qfuzz

# (code, injection, main()'s arguments for the search)
INJECTED = [
    ("libuv_threadpool", "signal-before-publish", "2 2"),
    ("libuv_threadpool", "wake-dropped", "2 2"),
    ("liburcu_call_rcu", "futex-reset-dropped", "2 2"),
]
RUNS = "3000"


def _prepare(name: str, dest: Path, injection: str | None = None) -> realcode.Prepared:
    try:
        return realcode.prepare(name, dest, injection)
    except QfuzzError as exc:
        pytest.skip(f"{name}: Debian source package not available here: {exc}")


def _fuzz(prog: realcode.Prepared, args: str, corpus: Path, *extra: str):
    return qfuzz("fuzz", *prog.cli_args(), "--args", args, "--runs", RUNS, "--seed", "1", "--corpus", str(corpus),
                 "--no-trace", *extra, cwd=corpus.parent, timeout=300)


@pytest.mark.parametrize("name", sorted(realcode.CODES))
def test_released_code_is_clean(name: str, tmp_path: Path) -> None:
    prog = _prepare(name, tmp_path)
    corpus = tmp_path / "corpus"
    out = _fuzz(prog, realcode.get(name).args, corpus)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"{int(RUNS):,} executions" in out.stdout and "0 unique failure(s)" in out.stdout, out.stdout


@pytest.mark.parametrize("name,injection,args", INJECTED, ids=[f"{n}-{i}" for n, i, _ in INJECTED])
def test_injected_lost_wakeup_is_found_minimized_and_replays(name: str, injection: str, args: str,
                                                             tmp_path: Path) -> None:
    prog = _prepare(name, tmp_path, injection)
    corpus = tmp_path / "corpus"
    out = _fuzz(prog, args, corpus)
    assert out.returncode == 1, out.stdout + out.stderr
    stored = [json.loads(p.read_text()) | {"path": p} for p in sorted((corpus / name).glob("*.json"))]
    stuck = [r for r in stored if r["verdict"]["kind"] == "STUCK"]
    assert stuck, f"no lost wake-up stored:\n{out.stdout}{out.stderr}"
    rep = stuck[0]
    minimized = rep["workload"]["args"]
    assert all(int(a) <= int(g) for a, g in zip(minimized, args.split())), minimized
    # the program named in the trace is the library's code: the wait nobody woke is one of its lines
    replay = qfuzz("repro", str(rep["path"]), "--runs", "3", cwd=tmp_path)
    assert replay.returncode == 1, replay.stdout + replay.stderr
    assert "3/3 replays identical" in replay.stdout, replay.stdout
    source = Path(prog.code.sources[0]).name if name == "libuv_threadpool" else "urcu-call-rcu-impl.h"
    assert source in replay.stdout, replay.stdout


def test_injection_leaves_the_released_tree_alone(tmp_path: Path) -> None:
    released = _prepare("libuv_threadpool", tmp_path)
    injected = _prepare("libuv_threadpool", tmp_path, "signal-before-publish")
    a = (released.root / "src/threadpool.c").read_text()
    b = (injected.root / "src/threadpool.c").read_text()
    assert a != b
    cached = realcode.debsrc.unpack(realcode.debsrc.fetch("libuv1", "1.44.2")) / "src/threadpool.c"
    assert cached.read_text() == a  # Debian's file, byte for byte
    assert "injected by qfuzz" in b and len(b.splitlines()) == len(a.splitlines()) - 1  # +1 line, -2 lines
