"""The command line as a user runs it: exit status, one-line errors, files."""
from __future__ import annotations

import json

import pytest

from support import ROOT, SEEDS, qfuzz


def one_error_line(proc) -> str:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_list_shows_targets_and_variants():
    out = qfuzz("list")
    assert out.returncode == 0
    for name in ("haproxy_queue", "pre-fix", "server-fix", "seed-fix", "dequeuing-fix", "coarse"):
        assert name in out.stdout


def test_fuzz_finds_and_stores_the_seed_bug_then_repro_replays_it(tmp_path):
    wl = tmp_path / "w.json"
    wl.write_text(json.dumps(SEEDS["seed-hash"]))
    corpus = tmp_path / "corpus"
    out = qfuzz("fuzz", "haproxy_queue", "--variant", "pre-fix", "--runs", "3000", "--workload", str(wl),
                "--corpus", str(corpus))
    assert out.returncode == 1, out.stdout + out.stderr
    assert "NEW STUCK:server-queue" in out.stdout
    files = sorted((corpus / "haproxy_queue").glob("pre-fix--stuck-server-queue*.json"))
    assert files
    assert "replay: qfuzz repro" in out.stdout and "thread 1" in out.stdout  # the swim-lane was printed
    rep = qfuzz("repro", str(files[0]), "--runs", "5")
    assert rep.returncode == 1
    assert "5/5 replays identical" in rep.stdout
    clean = qfuzz("repro", str(files[0]), "--variant", "server-fix", "--no-trace")
    assert clean.returncode == 0 and "OK" in clean.stdout
    # minimize writes a new file and never overwrites
    out_file = tmp_path / "min.json"
    m = qfuzz("minimize", str(files[0]), "-o", str(out_file))
    assert m.returncode == 0 and out_file.exists()
    again = qfuzz("minimize", str(files[0]), "-o", str(out_file))
    assert "already exists" in one_error_line(again)


def test_fuzz_on_coarse_finds_nothing(tmp_path):
    out = qfuzz("fuzz", "haproxy_queue", "--variant", "coarse", "--runs", "3000", "--corpus", str(tmp_path))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 unique failure(s)" in out.stdout
    assert not (tmp_path / "haproxy_queue").exists() or not list((tmp_path / "haproxy_queue").glob("*.json"))


@pytest.mark.parametrize(
    "args, expect",
    [
        (["fuzz", "nosuch", "--variant", "x"], "unknown target 'nosuch'"),
        (["fuzz", "haproxy_queue", "--variant", "nope"], "unknown variant 'nope'"),
        (["fuzz", "haproxy_queue", "--variant", "pre-fix", "--time", "-1"], "must be positive"),
        (["fuzz", "haproxy_queue", "--variant", "pre-fix", "--strategy", "dfs"], "invalid choice"),
        (["fuzz", "haproxy_queue"], "required"),
        (["repro", "/nonexistent/file.json"], "cannot read"),
        (["repro", str(ROOT / "README.md")], "not a qfuzz reproducer"),
        (["nosuchcommand"], "invalid choice"),
    ],
)
def test_bad_usage_gives_one_line_and_exit_2(args, expect):
    assert expect in one_error_line(qfuzz(*args))


def test_invalid_workload_names_the_file_and_field(tmp_path):
    bad = dict(SEEDS["seed-hash"])
    bad["servers"] = [{"maxconn": "one"}]
    wl = tmp_path / "bad.json"
    wl.write_text(json.dumps(bad))
    line = one_error_line(qfuzz("fuzz", "haproxy_queue", "--variant", "pre-fix", "--workload", str(wl)))
    assert str(wl) in line and "servers[0].maxconn" in line


def test_corrupt_reproducer_is_refused_with_its_name(tmp_path):
    f = tmp_path / "crash.json"
    f.write_text('{"format": "qfuzz-reproducer", "version": 1, "target": "haproxy_queue", "variant": "pre-fix",'
                 ' "workload": {"threads": 2}, "schedule": {"decisions": []}, "verdict": {}}')
    line = one_error_line(qfuzz("repro", str(f)))
    assert str(f) in line and "workload.servers" in line


def test_repro_takes_a_libfuzzer_crash_file_with_target_and_variant(tmp_path):
    raw = tmp_path / "crash-0123456789abcdef"
    raw.write_bytes(bytes(range(40)))
    line = one_error_line(qfuzz("repro", str(raw)))
    assert "--target and --variant" in line and str(raw) in line
    out = qfuzz("repro", str(raw), "--target", "haproxy_queue", "--variant", "coarse", "--no-trace")
    assert out.returncode == 0 and "haproxy_queue/coarse: OK" in out.stdout
    # a directory of artifacts expands to them
    out = qfuzz("repro", str(tmp_path), "--target", "haproxy_queue", "--variant", "coarse", "--no-trace")
    assert out.returncode == 0 and raw.name in out.stdout


def test_minimize_and_repro_take_a_libfuzzer_crash_file(tmp_path):
    from harness.fuzzinput import encode
    from harness.reproducer import load

    from support import SEEDS, first_failure

    # a seed-workload failure: the fuzz input's encoding holds its every field (jittered
    # generic-mix workloads of the corpus it cannot)
    ex = first_failure("pre-fix", SEEDS["seed-hash"])
    raw = tmp_path / "crash-feedface"
    raw.write_bytes(encode("haproxy_queue", ex.workload.data, ex.decisions))
    out = qfuzz("repro", str(raw), "--target", "haproxy_queue", "--variant", "pre-fix", "--no-trace")
    assert out.returncode == 1 and "STUCK" in out.stdout
    small = tmp_path / "small.json"
    m = qfuzz("minimize", str(raw), "--target", "haproxy_queue", "--variant", "pre-fix", "-o", str(small), "--time", "1")
    assert m.returncode == 0, m.stderr
    assert load(small).replay().verdict.kind == "STUCK"


def test_time_is_wall_time_minimizing_included(tmp_path):
    import time

    # a minute of minimizing per failure asked for, two seconds of budget: the budget wins
    t0 = time.monotonic()
    out = qfuzz("fuzz", "haproxy_queue", "--variant", "pre-fix", "--time", "2", "--minimize-time", "60",
                "--corpus", str(tmp_path), "--no-trace")
    wall = time.monotonic() - t0
    assert out.returncode == 1, out.stdout + out.stderr
    assert wall < 30, f"--time 2 took {wall:.0f} s"  # generous for a loaded machine; minimizing outside took minutes
    done = next(line for line in out.stdout.splitlines() if line.startswith("done:"))
    assert "wall time" in done and "searching" in done and "minimizing" in done  # what each part took


def test_a_pipe_gets_plain_progress_lines_with_elapsed_and_remaining(tmp_path):
    out = qfuzz("fuzz", "haproxy_queue", "--variant", "coarse", "--time", "7", "--corpus", str(tmp_path))
    assert out.returncode == 0, out.stdout + out.stderr
    lines = [line for line in out.stdout.splitlines() if line.startswith("progress:")]
    assert lines and "elapsed" in lines[0] and "left" in lines[0] and "executions" in lines[0]
