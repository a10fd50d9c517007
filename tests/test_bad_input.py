"""Bad paths and hostile files, as a CI would meet them: every one ends in
exit 2 and one line on stderr, never a traceback, never exit 1 (which a CI
reads as "bug found"), never a crash-* file, and nothing runs forever."""
from __future__ import annotations

import glob
import json
import os
from pathlib import Path

import pytest

from support import HQ, ROOT, qfuzz

SEED = sorted(glob.glob(str(ROOT / "corpus/haproxy_queue/pre-fix--stuck-server-queue-*.json")))[0]
GOOD = Path(SEED).read_text()
FUZZ = ["fuzz", "haproxy_queue", "--variant", "pre-fix", "--runs", "200"]


def one_error_line(proc) -> str:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert len(lines[0]) < 1000, f"a {len(lines[0])}-character 'line'"
    return lines[0]


def bad_dirs(tmp_path: Path) -> dict[str, str]:
    """Folders qfuzz cannot write in, each a different way."""
    regular = tmp_path / "regular-file"
    regular.write_text("not a folder")
    return {
        "a regular file": str(regular),
        "under a regular file": str(regular / "sub"),
        "in /sys": "/sys/kernel/qfuzz-test/corpus",
        "uncreatable": "/proc/nonexistent-qfuzz/corpus",
    }


@pytest.mark.parametrize("kind", ["a regular file", "under a regular file", "in /sys", "uncreatable"])
def test_bad_corpus_and_report_paths_are_refused_before_any_work(tmp_path, kind):
    where = bad_dirs(tmp_path)[kind]
    work = tmp_path / "atheris"
    good = tmp_path / "ok"
    cases = [
        (FUZZ + ["--corpus", where], "--corpus"),
        (FUZZ[:4] + ["--engine", "atheris", "--runs", "50", "--corpus", where, "--workdir", str(work)], "--corpus"),
        (FUZZ[:4] + ["--engine", "atheris", "--runs", "50", "--workdir", where, "--corpus", str(good)], "--workdir"),
        (["nightly", "--time", "60", "--variants", "coarse", "--report", where, "--corpus", str(good)], "--report"),
        (["nightly", "--time", "60", "--variants", "coarse", "--report", str(good / "r"), "--corpus", where], "--corpus"),
        (["merge", SEED, "--corpus", where], "--corpus"),
        (["minimize", SEED, "-o", str(Path(where) / "small.json")], "-o"),
        (["repro", SEED, "--no-trace", "--html", str(Path(where) / "page.html")], "--html"),
    ]
    for args, flag in cases:
        line = one_error_line(qfuzz(*args, timeout=60))
        assert flag in line, line
    # the atheris run never started: no libFuzzer artifact a CI could file as a bug
    assert not list(work.glob("crash-*")) if work.exists() else True
    assert not (good / "r").exists()


def test_minimize_output_that_exists_or_is_a_folder_is_refused_first(tmp_path):
    taken = tmp_path / "taken.json"
    taken.write_text("{}")
    assert "already exists" in one_error_line(qfuzz("minimize", SEED, "-o", str(taken)))
    assert taken.read_text() == "{}"
    assert "is a directory" in one_error_line(qfuzz("minimize", SEED, "-o", str(tmp_path)))


def hostile_files(tmp_path: Path) -> dict[str, Path]:
    files: dict[str, Path] = {}
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    files["a FIFO"] = fifo
    files["a device"] = Path("/dev/zero")
    files["a folder with no reproducer"] = tmp_path / "emptydir"
    files["a folder with no reproducer"].mkdir()
    big = json.loads(GOOD)
    big["workload"]["servers"][0]["maxconn"] = [0] * 300_000  # 900 kB of repr, under the size cap
    files["a 300k-element field"] = tmp_path / "big.json"
    files["a 300k-element field"].write_text(json.dumps(big))
    files["empty"] = tmp_path / "empty.json"
    files["empty"].write_text("")
    files["not UTF-8"] = tmp_path / "latin.json"
    files["not UTF-8"].write_bytes(b'{"format": "qfuzz-reproducer", "variant": "pr\xe9"}')
    files["nested too deep"] = tmp_path / "deep.json"
    files["nested too deep"].write_text('{"a":' * 100_000 + "1" + "}" * 100_000)
    files["too large"] = tmp_path / "large.json"
    files["too large"].write_text('{"format": "qfuzz-reproducer", "x": "' + "a" * (2 << 20) + '"}')
    files["a BOM, then not JSON"] = tmp_path / "bom.json"
    files["a BOM, then not JSON"].write_bytes(b"\xef\xbb\xbf{nope")
    return files


@pytest.mark.parametrize("command", ["repro", "minimize"])
def test_hostile_files_give_one_line_and_exit_2(tmp_path, command):
    for what, path in hostile_files(tmp_path).items():
        line = one_error_line(qfuzz(command, str(path), timeout=30))  # a FIFO must not hang: 30 s is plenty
        assert str(path) in line, (what, line)


def test_a_fifo_or_device_as_workload_file_is_refused_not_waited_on(tmp_path):
    fifo = tmp_path / "w.json"
    os.mkfifo(fifo)
    for args in (FUZZ + ["--workload", str(fifo), "--corpus", str(tmp_path)],
                 FUZZ[:4] + ["--engine", "atheris", "--workload", "/dev/zero", "--corpus", str(tmp_path)],
                 ["repro", SEED, "--workload", str(fifo)]):
        line = one_error_line(qfuzz(*args, timeout=30))
        assert "not a regular file" in line, line


def test_sigterm_ends_a_fuzz_run_with_2_not_a_signal_death(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    proc = subprocess.Popen([str(Path(sys.executable).parent / "qfuzz"), "fuzz", "haproxy_queue", "--variant", "coarse",
                             "--time", "60", "--corpus", str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.monotonic() + 30
    while "fuzzing" not in proc.stdout.readline() and time.monotonic() < deadline:  # the header: running
        pass
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 2 and "interrupted" in err and "Traceback" not in err, err


def test_a_utf8_bom_is_not_misread_as_a_crash_file(tmp_path):
    bom = tmp_path / "bom.json"
    bom.write_bytes(b"\xef\xbb\xbf" + GOOD.encode())
    out = qfuzz("repro", str(bom), "--no-trace")
    assert out.returncode == 1, out.stdout + out.stderr  # the stored failure, reproduced
    assert "the stored failure" in out.stdout


def test_repro_dir_replays_every_good_file_and_reports_each_bad_one(tmp_path):
    d = tmp_path / "mixed"
    d.mkdir()
    (d / "a-good.json").write_text(GOOD)
    (d / "b-bad.json").write_text("{")
    os.mkfifo(d / "crash-fifo")
    (d / "c-good.json").write_text(GOOD)
    out = qfuzz("repro", str(d), "--no-trace", timeout=60)
    assert out.returncode == 2, out.stdout + out.stderr
    assert "Traceback" not in out.stderr
    assert "a-good.json" in out.stdout and "c-good.json" in out.stdout  # replayed despite the bad ones
    errors = out.stderr.strip().splitlines()
    assert any("b-bad.json" in e for e in errors) and any("crash-fifo" in e for e in errors)
    assert len(errors) == 3, out.stderr  # one per bad file, one summary


def test_an_internal_error_is_exit_2_with_a_log_not_a_traceback(monkeypatch, capsys):
    from harness import cli
    from harness.commands import list as list_command

    def broken(args, console):
        raise RuntimeError("something qfuzz did not expect")

    monkeypatch.setattr(list_command, "run", broken)
    assert cli.main(["list"]) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "internal error" in lines[0] and "Traceback" not in err
    log = Path(lines[0].rsplit("details in ", 1)[1].rstrip(")"))
    try:
        text = log.read_text()
        assert "Traceback" in text and "something qfuzz did not expect" in text
    finally:
        log.unlink()


@pytest.mark.parametrize("engine", ["pct", "atheris"])
def test_an_error_while_storing_is_exit_2_not_a_finding(tmp_path, engine):
    # the corpus folder passes the checks, but its lock cannot be opened: the first store fails
    corpus = tmp_path / "corpus"
    (corpus / "haproxy_queue" / ".lock").mkdir(parents=True)
    work = tmp_path / "work"
    args = ["fuzz", "haproxy_queue", "--variant", "pre-fix", "--engine", engine, "--time", "20", "--corpus", str(corpus),
            "--minimize-time", "0"]
    out = qfuzz(*args, *(["--workdir", str(work)] if engine == "atheris" else []), timeout=90)
    assert out.returncode == 2, out.stdout[-2000:] + out.stderr[-2000:]
    assert "Traceback" not in out.stderr.replace("=== Uncaught", "")  # libFuzzer's own report aside
    line = out.stderr.strip().splitlines()[-1]
    assert "error" in line and ".lock" in line, line
    if engine == "atheris":
        assert not list(work.glob("crash-*"))  # nothing a CI would file as a bug in the target


def test_the_standalone_fuzzer_refuses_a_bad_corpus_with_2_and_no_crash_file(tmp_path):
    import subprocess
    import sys

    regular = tmp_path / "file"
    regular.write_text("x")
    proc = subprocess.run([sys.executable, str(ROOT / "fuzz" / "fuzz_haproxy_queue.py"), f"--corpus={regular}",
                           "-runs=100"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "--corpus" in proc.stderr and "Traceback" not in proc.stderr
    assert not list(tmp_path.glob("crash-*"))


def test_merge_refuses_a_reproducer_that_does_not_reproduce_before_merging_any(tmp_path):
    liar = json.loads(GOOD)
    liar["schedule"]["decisions"] = []  # the same claimed verdict, another schedule
    liar["target_version"] = HQ.version  # recorded on this model version: refused by merge, not by the loader
    bad = tmp_path / "liar.json"
    bad.write_text(json.dumps(liar))
    line = one_error_line(qfuzz("merge", SEED, str(bad), "--corpus", str(tmp_path / "c")))
    assert str(bad) in line and "does not replay" in line
    assert not list((tmp_path / "c").rglob("*.json"))


def test_repro_of_a_crash_and_a_reproducer_that_both_fail_again_is_1_not_2(tmp_path):
    from harness.crash import Crash, save
    from harness.engines.campaign import Campaign
    from harness.targets import get

    camp = Campaign(get("pingpong"), "crashes-at-13", "pct", seed=0)
    crash = save(Crash("pingpong", "crashes-at-13", {"rounds": 13}, camp.scheduler_for(0).to_json(), "signal 11 (SIGSEGV)"),
                 tmp_path)
    out = qfuzz("repro", str(crash), SEED, "--no-trace", timeout=60)
    assert out.returncode == 1, out.stdout + out.stderr  # both reproduced: a failure, not an error
    assert out.stderr.strip() == ""


def test_the_command_reaches_its_sigterm_handler_before_the_heavy_imports():
    """A SIGTERM that arrives while `qfuzz` starts must give exit 2, not 143: the
    entry point installs its handler before importing the engines and the
    native core (harness/__init__.py imports its API lazily)."""
    import subprocess
    import sys

    code = ("import sys, harness.cli; "
            "print(sorted(m for m in sys.modules if m.startswith('harness')))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "harness.cli" in loaded
    for heavy in ("harness.runner", "harness.execution", "harness.target", "harness._native"):
        assert f"'{heavy}'" not in loaded
