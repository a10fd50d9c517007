"""Reproducer format v1 and the corpus: round trips, atomic writes, dedupe."""
from __future__ import annotations

import json

import pytest

import harness
from harness.corpus import Corpus
from harness.errors import ReproducerError
from harness.reproducer import from_execution, load, write_new
from support import SEEDS, first_failure


@pytest.fixture(scope="module")
def stuck():
    return first_failure("pre-fix", SEEDS["seed-hash"])


def test_round_trip_replays_the_same_failure(tmp_path, stuck):
    rep = from_execution(stuck, found={"engine": "pct"})
    f = tmp_path / "r.json"
    assert write_new(f, rep.dumps())
    again = load(f)
    assert again.signature == stuck.verdict.signature
    assert again.decisions == stuck.decisions.rstrip(b"\0")
    ex = again.replay()
    assert ex.raw_trace == harness.run(stuck.target, "pre-fix", stuck.workload, harness.Replay(stuck.decisions)).raw_trace
    d = json.loads(f.read_text())
    assert d["format"] == "qfuzz-reproducer" and d["version"] == 1
    assert {"target", "variant", "workload", "schedule", "verdict", "qfuzz"} <= set(d)
    assert d["verdict"]["critical"][0]["label"] and d["verdict"]["request"] is not None


def test_write_new_never_overwrites(tmp_path):
    f = tmp_path / "x.json"
    assert write_new(f, "first\n")
    assert not write_new(f, "second\n")
    assert f.read_text() == "first\n"
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]  # no temp file left


def test_corpus_keeps_one_per_variant_and_signature_and_only_smaller_replaces(tmp_path, stuck):
    from harness.minimizer import minimize

    corpus = Corpus(tmp_path, "haproxy_queue")
    big = from_execution(stuck)
    first = corpus.store(big)
    assert first.status == "new"
    assert corpus.store(from_execution(stuck)).status == "kept"
    small = from_execution(minimize(stuck, seconds=2).execution)
    assert small.size() < big.size()
    second = corpus.store(small)
    assert second.status == "replaced"
    assert second.path == first.path and second.previous.exists()  # replaced in place, the old one kept
    assert [p.name for p in corpus.files()] == [second.path.name]
    assert corpus.store(big).status == "kept"
    # the same signature on another variant is another entry
    back = from_execution(first_failure("pre-fix", SEEDS["seed-roundrobin"]))
    other = from_execution(back.replay("server-fix"))  # replays to the same signature there
    assert other.signature == back.signature and corpus.store(back).status == "new"
    assert corpus.store(other).status == "new"


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "not valid JSON"),
        (b"{", "not valid JSON"),
        (b"[1, 2]", "not a qfuzz reproducer"),
        (b'{"format": "something-else"}', "format"),
        (b'{"format": "qfuzz-reproducer", "version": 99}', "newer than this qfuzz"),
        (b'{"format": "qfuzz-reproducer", "version": 1, "target": "nope", "variant": "x"}', "unknown target"),
        (b"\xff\xfe\x00garbage", "not UTF-8"),
        (b"[" * 100000 + b"]" * 100000, "JSON"),
        (b'{"x": NaN}', "not valid JSON"),
    ],
)
def test_bad_files_give_one_clear_line(tmp_path, content, message):
    f = tmp_path / "bad.json"
    f.write_bytes(content)
    with pytest.raises(ReproducerError) as err:
        load(f)
    text = str(err.value)
    assert message in text and str(f) in text and "\n" not in text


def test_bad_workload_field_is_named(tmp_path, stuck):
    d = from_execution(stuck).to_json()
    d["workload"]["requests"][1]["thread"] = 7
    f = tmp_path / "w.json"
    f.write_text(json.dumps(d))
    with pytest.raises(ReproducerError, match=r"workload\.requests\[1\]\.thread: 7 is outside 0\.\.1"):
        load(f)


def test_huge_file_is_refused_before_parsing(tmp_path):
    f = tmp_path / "huge.json"
    f.write_bytes(b" " * (2 << 20))
    with pytest.raises(ReproducerError, match="larger than"):
        load(f)
