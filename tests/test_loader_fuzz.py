"""The reproducer loader under its atheris fuzzer, for a bounded number of
inputs: any exception other than a one-line QfuzzError is a crash (exit 77).
Longer runs: fuzz/fuzz_reproducer_loader.py -max_total_time=600 DIR corpus/haproxy_queue."""
from __future__ import annotations

import subprocess
import sys

import pytest

from support import ROOT

FUZZER = ROOT / "fuzz" / "fuzz_reproducer_loader.py"

# inputs that once broke the loader's one-line promise (found by this fuzzer)
REGRESSIONS = {
    # a workload key holding a newline went into the message as is: two lines on stderr
    "newline-in-unknown-key": b'{"format": "qfuzz-reproducer", "version": 1, "target": "haproxy_queue", '
    b'"variant": "pre-fix", "workload": {"threads": 1, "servers": [{"maxconn": 1, "a\\nb": 0}]}, '
    b'"schedule": {"decisions": []}, "verdict": {"kind": "OK", "signature": "OK"}}',
}


def fuzz(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(FUZZER), *args], cwd=cwd, capture_output=True, text=True, timeout=900)


def crash_report(proc: subprocess.CompletedProcess, cwd) -> str:
    found = [f"{p.name}: {p.read_bytes()[:2000]!r}" for p in sorted(cwd.glob("crash-*"))]
    return "\n".join([*found, proc.stderr[-4000:]])


def test_the_loader_survives_20000_fuzzed_inputs(tmp_path):
    new = tmp_path / "new"  # libFuzzer adds inputs to the first directory: never to the repository's corpus
    new.mkdir()
    proc = fuzz("-runs=20000", "-seed=1", "-rss_limit_mb=2048", str(new), str(ROOT / "corpus" / "haproxy_queue"),
                cwd=tmp_path)
    assert proc.returncode == 0, crash_report(proc, tmp_path)
    assert "Done 20000 runs" in proc.stderr


@pytest.mark.parametrize("name", sorted(REGRESSIONS))
def test_former_crashes_stay_fixed(tmp_path, name):
    f = tmp_path / name
    f.write_bytes(REGRESSIONS[name])
    proc = fuzz(str(f), cwd=tmp_path)
    assert proc.returncode == 0, crash_report(proc, tmp_path)
    assert f"Running: {f}" in proc.stderr
