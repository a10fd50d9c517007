"""Every stored reproducer is a test case: it replays to its stored verdict on
its own variant, identically every time, and each variant's fixes cure what
they should."""
from __future__ import annotations

import glob
import os
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
    tree = _tree(target, rep.variant)
    for name, variant in target.variants.items():
        if _tree(target, name) != tree:
            continue  # another tree's schedule points: the decision list means something else there
        v = rep.replay(name, trace=False).verdict
        if name == "coarse":
            assert v.ok, explain_or_trace(rep, rep.replay(name))
        elif not v.ok:
            assert variant.explains(v.kind, v.path, *v.labels), explain_or_trace(rep, rep.replay(name))


def _tree(target, variant: str) -> int:
    """Which upstream tree a variant builds (the 2024 trees or the 2026 one):
    only within a tree do two variants share their schedule points."""
    from harness.targets.haproxy_queue.catalog import PRE_READY_SRV

    return target.variant(variant).bits & PRE_READY_SRV if target.name == "haproxy_queue" else 0


def _seed_bug_files(path: str) -> list[str]:
    """pre-fix's stored STUCKs on `path` that the seed fix's half for that path
    removes, by differential (harness/attribution.py), not by label pattern:
    on pre-fix a look-alike (F1, F2, a later bug) can share the labels."""
    from harness.attribution import attribute

    half = f"{SEED_FIX}/{'server' if path == 'server-queue' else 'backend'}"
    out = []
    for f in FILES:
        rep = load(f)
        v = rep.verdict
        if rep.variant == "pre-fix" and v["kind"] == "STUCK" and v["path"] == path:
            if attribute(rep.replay(trace=False)).removes(half):
                out.append(f)
    assert out, f"no stored pre-fix {path} STUCK is removed by {half}"
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


# -- the corpus's own promises: atomic replacement, reported corruption, measured sizes ---------


def _big_and_small():
    from harness.minimizer import minimize
    from harness.reproducer import from_execution
    from support import SEEDS, first_failure

    ex = first_failure("pre-fix", SEEDS["seed-hash"])
    return from_execution(ex), from_execution(minimize(ex, seconds=2).execution)


@pytest.fixture(scope="module")
def big_and_small():
    return _big_and_small()


def test_replacing_is_one_step_the_key_never_has_two_files_or_none(tmp_path, big_and_small, monkeypatch):
    from harness.corpus import Corpus

    big, small = big_and_small
    corpus = Corpus(tmp_path, "haproxy_queue")
    first = corpus.store(big)
    before = first.path.read_text()
    # killed at the one step that changes the key (os.replace): the old file is whole, and already kept
    real = os.replace

    def killed(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        corpus.store(small)
    monkeypatch.setattr(os, "replace", real)
    assert [p.name for p in corpus.files()] == [first.path.name] and first.path.read_text() == before
    assert not list(corpus.dir.glob(".tmp-*"))
    second = corpus.store(small)
    assert second.status == "replaced" and second.path == first.path  # the key's one stable name
    assert [p.name for p in corpus.files()] == [first.path.name]
    assert second.previous.read_text() == before  # the old one in superseded/, byte for byte
    assert load(second.path).content_id() == small.content_id()


def test_an_old_style_name_is_moved_onto_the_stable_one(tmp_path, big_and_small):
    from harness.corpus import Corpus
    from harness.reproducer import write_new

    big, small = big_and_small
    corpus = Corpus(tmp_path, "haproxy_queue")
    legacy = corpus.dir / f"pre-fix--stuck-server-queue-{big.content_id()}.json"
    write_new(legacy, big.dumps())
    stored = corpus.store(small)
    assert stored.status == "replaced" and not legacy.exists()
    assert [p.name for p in corpus.files()] == [stored.path.name]
    assert stored.previous.read_text() == big.dumps()


def test_sizes_come_from_replaying_not_from_the_file(tmp_path, big_and_small):
    import json

    from harness.corpus import Corpus
    from harness.reproducer import write_new

    big, small = big_and_small
    corpus = Corpus(tmp_path, "haproxy_queue")
    # a big reproducer whose file claims to be tiny
    d = json.loads(big.dumps())
    d["minimized"] = {"after": {"threads": 1, "servers": 1, "requests": 1, "events": 0, "steps": 1, "preemptions": 0}}
    liar = corpus.path_for(big.variant, big.signature)
    write_new(liar, json.dumps(d))
    assert corpus.store(small).status == "replaced"
    # a stored file that no longer replays to its verdict loses to any one that does
    d = json.loads(small.dumps())
    d["schedule"]["decisions"] = []
    stale = tmp_path / "stale"
    c2 = Corpus(stale, "haproxy_queue")
    write_new(c2.path_for(small.variant, small.signature), json.dumps(d))
    assert c2.store(big).status == "replaced"


def test_corrupt_corpus_files_are_reported_not_skipped_silently(tmp_path, capsys, big_and_small):
    from harness.corpus import Corpus

    corpus = Corpus(tmp_path, "haproxy_queue")
    corpus.store(big_and_small[1])
    (corpus.dir / "truncated.json").write_text('{"format": "qfuzz-reproducer", "version": 1, "tar')
    reps = list(corpus.reproducers())
    assert len(reps) == 1
    err = capsys.readouterr().err
    assert "truncated.json" in err and "warning" in err and len(err.strip().splitlines()) == 1


def test_superseded_is_bounded(tmp_path, big_and_small):
    import time

    from harness.corpus import SUPERSEDED_KEEP, Corpus

    big, small = big_and_small
    corpus = Corpus(tmp_path, "haproxy_queue")
    path = corpus.store(big).path
    old = corpus.dir / "superseded"
    old.mkdir()
    for i in range(SUPERSEDED_KEEP + 4):
        f = old / f"{path.stem}.{i:010x}.json"
        f.write_text("{}")
        os.utime(f, (time.time() - 1000 + i, time.time() - 1000 + i))
    other = old / "another-key.0000000000.json"
    other.write_text("{}")
    corpus.store(small)
    kept = sorted(p.name for p in old.glob(f"{path.stem}.*.json"))
    assert len(kept) == SUPERSEDED_KEEP
    assert f"{path.stem}.{0:010x}.json" not in kept  # the oldest went, the one just superseded stayed
    assert other.exists()  # another key's history is its own
