"""The atheris engine, run as libFuzzer runs it: a subprocess (libFuzzer exits
the process), through the executable entry script or `qfuzz fuzz`."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

import harness
from harness.fuzzinput import decode
from harness.reproducer import load

from support import HQ, ROOT, SEED_PATH, SEEDS, qfuzz

ENTRY = ROOT / "fuzz" / "fuzz_haproxy_queue.py"
BUDGET = 60  # seconds of fuzzing at most; these take one or two


def fuzz(*args: str, cwd) -> subprocess.CompletedProcess:
    """The entry script; libFuzzer writes to stderr, atheris the Python exception to stdout: merged."""
    return subprocess.run([sys.executable, str(ENTRY), *args], cwd=cwd, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=BUDGET + 60)


def pinned(tmp_path, name: str) -> str:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(SEEDS[name]))
    return str(path)


@pytest.mark.parametrize("seed_workload", sorted(SEED_PATH))
def test_finds_the_seed_bug_on_both_paths(tmp_path, seed_workload):
    path = SEED_PATH[seed_workload]
    proc = fuzz(f"-max_total_time={BUDGET}", "-seed=1", f"--workload={pinned(tmp_path, seed_workload)}",
                f"--corpus={tmp_path / 'corpus'}", f"--crash-on=STUCK:{path}:*", "--minimize-time=1", cwd=tmp_path)
    assert proc.returncode == 77, proc.stdout[-3000:]
    crashes = list(tmp_path.glob("crash-*"))
    assert len(crashes) == 1 and f"InterleavingFailure: STUCK:{path}:" in proc.stdout
    # the JSON reproducer replays to the same signature...
    (stored,) = (tmp_path / "corpus" / "haproxy_queue").glob("pre-fix--stuck-*.json")
    rep = load(stored)
    assert rep.replay().verdict.signature == rep.signature and rep.found["engine"] == "atheris"
    # ...and so does the crash file, decoded with its pinned workload
    w, s = decode(HQ, crashes[0].read_bytes(), workload=SEEDS[seed_workload])
    assert harness.run(HQ, "pre-fix", w, s).verdict.signature.startswith(f"STUCK:{path}:")


def test_finds_the_seed_bug_from_decoded_workloads_and_replays_the_crash_file(tmp_path):
    proc = fuzz(f"-max_total_time={BUDGET}", "-seed=2", "--corpus=", "--crash-on=STUCK:*", cwd=tmp_path)
    assert proc.returncode == 77, proc.stdout[-3000:]
    (crash,) = tmp_path.glob("crash-*")
    w, s = decode(HQ, crash.read_bytes())  # what `qfuzz repro` does with a crash file
    signature = harness.run(HQ, "pre-fix", w, s).verdict.signature
    assert signature.startswith("STUCK:") and f"InterleavingFailure: {signature}:" in proc.stdout
    again = fuzz(str(crash), "--corpus=", cwd=tmp_path)  # libFuzzer's own replay of one input
    assert again.returncode == 77 and f"InterleavingFailure: {signature}:" in again.stdout


@pytest.mark.parametrize("features", ["--corpus=", "--no-features"])
def test_coarse_shows_nothing(tmp_path, features):
    proc = fuzz("-runs=30000", "-seed=3", "--variant=coarse", features, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "Done 30000 runs" in proc.stdout and not list(tmp_path.glob("crash-*"))


def test_qfuzz_fuzz_engine_atheris(tmp_path):
    proc = qfuzz("fuzz", "haproxy_queue", "--variant", "pre-fix", "--engine", "atheris", "--time", str(BUDGET),
                 "--workload", pinned(tmp_path, "seed-roundrobin"), "--crash-on", "STUCK:backend-queue:*",
                 "--corpus", str(tmp_path / "corpus"), "--workdir", str(tmp_path / "work"), "--minimize-time", "1",
                 "--", "-seed=4", cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]  # libFuzzer's 77 is qfuzz's 1
    assert "libFuzzer exited 77 (crash)" in proc.stdout
    assert list((tmp_path / "work").glob("crash-*")) and "reproducer:" in proc.stdout
    assert (tmp_path / "work" / "fuzz_haproxy_queue").stat().st_mode & 0o111  # -jobs/-fork can restart it


def test_bad_usage_is_one_line_exit_2(tmp_path):
    proc = fuzz("-runs=1", "--variant=no-such-variant", cwd=tmp_path)
    assert proc.returncode == 2 and proc.stdout.count("\n") == 1 and "unknown variant" in proc.stdout
    proc = qfuzz("fuzz", "haproxy_queue", "--variant", "pre-fix", "--engine", "pct", "--jobs", "2", cwd=tmp_path)
    assert proc.returncode == 2 and "applies to --engine atheris only" in proc.stderr
