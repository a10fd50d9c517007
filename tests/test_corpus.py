"""Every stored reproducer is a test case: it replays to its stored verdict on
its own variant, identically every time, and each variant's fixes cure what
they should."""
from __future__ import annotations

import glob
from pathlib import Path

import pytest

from harness.reproducer import load
from harness.swimlane import make_console, render
from support import ROOT

# model reproducers (the real-binary stress reproducers are re-run by tests/test_haproxy_binary.py)
FILES = sorted(f for f in glob.glob(str(ROOT / "corpus" / "*" / "*.json"))
               if '"format": "qfuzz-reproducer"' in open(f).read(4096))
SEED_FIX = "5541d4995"


def explain_or_trace(rep, ex) -> str:
    console = make_console()
    with console.capture() as cap:
        console.print(render(ex))
    return f"{rep.path}: {rep.signature} on {rep.variant} replayed as {ex.verdict.signature}\n{cap.get()}"


def test_the_corpus_has_both_seed_paths_small():
    seeds = [load(f) for f in FILES if Path(f).name.startswith("pre-fix--stuck")]
    for path in ("server-queue", "backend-queue"):
        small = [r for r in seeds if r.verdict["path"] == path and r.workload["threads"] <= 3
                 and len(r.workload["servers"]) <= 2 and len(r.workload["requests"]) <= 6]
        assert small, f"no small pre-fix reproducer for the {path} path"


@pytest.mark.parametrize("path", FILES, ids=[Path(f).name for f in FILES])
def test_reproducer_replays_to_its_verdict(path):
    rep = load(path)
    if rep.target != "haproxy_queue" and rep.program is None:
        pytest.skip("neither a model nor a program reproducer")
    first = rep.replay()
    assert first.verdict.signature == rep.signature, explain_or_trace(rep, first)
    for _ in range(20):
        again = rep.replay()
        assert (again.raw_trace, again.decisions) == (first.raw_trace, first.decisions)


@pytest.mark.parametrize("path", FILES, ids=[Path(f).name for f in FILES])
def test_each_variant_shows_only_what_it_should(path):
    rep = load(path)
    if rep.program is not None:
        pytest.skip("a program's variants carry no expectations")
    from harness.targets import get

    target = get(rep.target)
    for name, variant in target.variants.items():
        v = rep.replay(name, trace=False).verdict
        if name == "coarse":
            assert v.ok, explain_or_trace(rep, rep.replay(name))
        elif not v.ok:
            assert variant.explains(v.kind, v.path, *v.labels), explain_or_trace(rep, rep.replay(name))


def _seed_bug_files(path: str) -> list[str]:
    from harness.targets import get

    out = []
    pre_fix = get("haproxy_queue").variant("pre-fix")
    for f in FILES:
        rep = load(f)
        v = rep.verdict
        if rep.variant == "pre-fix" and v["kind"] == "STUCK" and v["path"] == path:
            labels = [c["label"] if c else "-" for c in v["critical"]]
            why = pre_fix.explains("STUCK", path, *labels)
            if why and why.why.startswith(SEED_FIX):
                out.append(f)
    return out


@pytest.mark.parametrize("path", _seed_bug_files("server-queue"), ids=lambda p: Path(p).name)
def test_server_path_is_stuck_on_pre_fix_and_clean_once_the_server_half_is_in(path):
    rep = load(path)
    assert rep.replay("pre-fix").verdict.signature == rep.signature
    for variant in ("server-fix", "seed-fix", "coarse"):
        v = rep.replay(variant).verdict
        assert v.ok, f"{path} on {variant}: {v.signature}"


@pytest.mark.parametrize("path", _seed_bug_files("backend-queue"), ids=lambda p: Path(p).name)
def test_backend_path_is_stuck_until_the_backend_half_is_in(path):
    rep = load(path)
    for variant in ("pre-fix", "server-fix"):
        v = rep.replay(variant).verdict
        assert (v.kind, v.path) == ("STUCK", "backend-queue"), f"{path} on {variant}: {v.signature}"
    for variant in ("seed-fix", "coarse"):
        v = rep.replay(variant).verdict
        assert v.ok, f"{path} on {variant}: {v.signature}"
