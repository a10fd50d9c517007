"""Format stability: the reproducers in tests/golden/ were written by an
earlier qfuzz; each must still load and replay to exactly the verdict,
decisions and trace recorded in tests/golden/expected.json.  If this fails,
read tests/golden/README.md: never re-record to make it pass.

    python tests/test_golden.py record    # add entries for new golden files only
"""
from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import pytest

GOLDEN = Path(__file__).resolve().parent / "golden"
EXPECTED = GOLDEN / "expected.json"
FILES = sorted(f for f in GOLDEN.glob("*.json") if f != EXPECTED)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def replayed(path: Path) -> dict[str, Any]:
    """What a replay of `path` gives, in the form expected.json records."""
    from harness.reproducer import load

    ex = load(path).replay()
    return {
        "signature": ex.verdict.signature,
        "decisions_sha256": sha256(bytes(ex.decisions)),
        "raw_trace_sha256": sha256(ex.raw_trace),
        "steps": ex.steps,
    }


def expected() -> dict[str, Any]:
    return json.loads(EXPECTED.read_text())


def test_every_golden_file_is_recorded_and_the_format_version_is_the_recorded_one():
    from harness.reproducer import VERSION

    exp = expected()
    assert exp["version"] == VERSION, (
        f"harness.reproducer.VERSION is {VERSION} but tests/golden/ holds version {exp['version']} files: "
        "migrate them (or assert that they are refused) as tests/golden/README.md says"
    )
    assert sorted(exp["files"]) == [f.name for f in FILES]
    verdicts = [json.loads(f.read_text())["verdict"] for f in FILES]
    covered = {(v["kind"], v["path"]) for v in verdicts}
    assert {("STUCK", "server-queue"), ("STUCK", "backend-queue"), ("SAFETY", "-")} <= covered


@pytest.mark.parametrize("path", FILES, ids=[f.name for f in FILES])
def test_golden_file_replays_exactly_as_recorded(path):
    want = expected()["files"][path.name]
    got = replayed(path)
    stored = json.loads(path.read_text())["verdict"]["signature"]
    assert got["signature"] == want["signature"] == stored, "the verdict changed: see tests/golden/README.md"
    assert got["decisions_sha256"] == want["decisions_sha256"], (
        "the same stored decisions now drive another schedule: see tests/golden/README.md"
    )
    assert got == want, "the replayed trace changed: see tests/golden/README.md"


def test_a_file_from_a_newer_format_is_refused_on_one_line(tmp_path):
    from harness.errors import ReproducerError
    from harness.reproducer import LATEST, load
    from support import qfuzz

    d = json.loads(FILES[0].read_text())
    d["version"] = LATEST + 1  # one past the newest format this qfuzz reads
    f = tmp_path / "newer.json"
    f.write_text(json.dumps(d))
    with pytest.raises(ReproducerError) as err:
        load(f)
    msg = str(err.value)
    assert msg == f"{f}: version: {LATEST + 1} is newer than this qfuzz reads ({LATEST}); upgrade qfuzz"
    out = qfuzz("repro", str(f))
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.splitlines() == [f"qfuzz: error: {msg}"]


def record() -> int:
    """Add expected entries for golden files that have none.  An existing
    entry is re-recorded only after harness.reproducer.VERSION was bumped."""
    from harness.reproducer import VERSION

    exp = expected() if EXPECTED.exists() else {"version": VERSION, "files": {}}
    bumped = exp["version"] != VERSION
    changed = []
    for f in FILES:
        got = replayed(f)
        old = exp["files"].get(f.name)
        if old is not None and old != got and not bumped:
            changed.append(f.name)
        elif old is None or bumped:
            exp["files"][f.name] = got
    if changed:
        print(f"refusing to re-record {', '.join(changed)}: bump harness.reproducer.VERSION first "
              "(tests/golden/README.md)", file=sys.stderr)
        return 1
    exp["version"] = VERSION
    exp["files"] = {k: exp["files"][k] for k in sorted(exp["files"]) if (GOLDEN / k).exists()}
    EXPECTED.write_text(json.dumps(exp, indent=1, sort_keys=True) + "\n")
    print(f"recorded {len(exp['files'])} golden files in {EXPECTED}")
    return 0


if __name__ == "__main__":
    if sys.argv[1:] != ["record"]:
        sys.exit(__doc__)
    sys.exit(record())
