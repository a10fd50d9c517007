"""Unmodified C programs through the installed `qfuzz` script: fuzz finds a
lost wake-up in a buggy variant and prints a swim-lane naming the source
lines, the fixed variant stays clean, the reproducer replays identically
(on its own variant and on another), minimizes, refuses changed sources,
and bad input is one line with exit 2.  The programs are in
tests/data/programs/; each test copies what it needs to a temporary folder
and checks that qfuzz wrote nothing there."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from support import ROOT, qfuzz

PROGRAMS = ROOT / "tests" / "data" / "programs"
HANDOFF = ("--variant", "buggy=-DBUGGY=1", "--variant", "fixed=-DBUGGY=0")


def copy(tmp_path: Path, *names: str) -> Path:
    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    for n in names:
        shutil.copy(PROGRAMS / n, src / n)
    return src


def listing(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def one_error_line(out) -> str:
    assert out.returncode == 2, out.stdout + out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
    return lines[0]


def stored(corpus: Path, name: str) -> list[Path]:
    return sorted((corpus / name).glob("*.json"))


@pytest.fixture(scope="module")
def handoff_found(tmp_path_factory):
    """One campaign on the buggy hand-off, shared by the tests that look at what it left."""
    tmp = tmp_path_factory.mktemp("handoff")
    src = copy(tmp, "handoff.c")
    before = listing(src)
    corpus = tmp / "corpus"
    out = qfuzz("fuzz", "src/handoff.c", *HANDOFF, "--runs", "3000", "--corpus", str(corpus), cwd=tmp)
    return tmp, src, corpus, out, before


def test_fuzz_finds_the_lost_wakeup_and_prints_the_source_lines(handoff_found):
    tmp, src, corpus, out, before = handoff_found
    assert out.returncode == 1, out.stdout + out.stderr
    assert "NEW STUCK:lost-wakeup" in out.stdout, out.stdout
    files = stored(corpus, "handoff")
    assert len(files) == 1, files
    # the swim-lane names the program's own functions and lines
    assert "main (handoff.c:" in out.stdout and "producer (handoff.c:" in out.stdout, out.stdout
    assert "the wait nobody woke" in out.stdout
    trace = out.stdout.split("STUCK:lost-wakeup:COND_WAIT@main:COND_SIGNAL@producer ─")[-1]  # the swim-lane, after its rule
    for word in ("queuer", "releaser", "timeout queue", "server", "request"):
        assert word not in trace, word
    assert listing(src) == before  # nothing written next to the sources


def test_the_reproducer_is_v2_with_the_sources_hash_and_replays_identically(handoff_found):
    tmp, src, corpus, out, _ = handoff_found
    f = stored(corpus, "handoff")[0]
    d = json.loads(f.read_text())
    assert d["version"] == 2 and d["target"] == "handoff" and d["variant"] == "buggy"
    assert d["program"]["variants"] == {"buggy": ["-DBUGGY=1"], "fixed": ["-DBUGGY=0"]}
    import hashlib

    assert d["program"]["sources"][0]["sha256"] == hashlib.sha256((src / "handoff.c").read_bytes()).hexdigest()
    rep = qfuzz("repro", str(f), "--runs", "5", cwd=tmp)
    assert rep.returncode == 1, rep.stdout + rep.stderr
    assert "STUCK (the stored failure)" in rep.stdout and "5/5 replays identical" in rep.stdout
    # the same schedule on the fixed build: the wait is re-checked under the lock
    fixed = qfuzz("repro", str(f), "--variant", "fixed", "--no-trace", cwd=tmp)
    assert fixed.returncode == 0 and "handoff/fixed: OK" in fixed.stdout, fixed.stdout + fixed.stderr


def test_repro_from_another_folder_finds_the_sources_next_to_the_corpus(handoff_found, tmp_path):
    tmp, src, corpus, out, _ = handoff_found
    f = stored(corpus, "handoff")[0]
    rep = qfuzz("repro", str(f), "--no-trace", cwd=tmp_path)
    assert rep.returncode == 1 and "(the stored failure)" in rep.stdout, rep.stdout + rep.stderr


def test_html_page_names_the_call_sites(handoff_found):
    tmp, src, corpus, out, _ = handoff_found
    f = stored(corpus, "handoff")[0]
    page = tmp / "page.html"
    rep = qfuzz("repro", str(f), "--html", str(page), "--no-trace", cwd=tmp)
    assert rep.returncode == 1, rep.stderr
    text = page.read_text()
    assert "handoff.c:" in text and "lost wake-up window" in text
    body = text.split("</style>", 1)[1]  # what the page shows (the stylesheet is shared with every target)
    for word in ("queue", "stranded", "server"):
        assert word not in body, word


def test_minimize_writes_a_replayable_program_reproducer(handoff_found):
    tmp, src, corpus, out, _ = handoff_found
    f = stored(corpus, "handoff")[0]
    small = tmp / "small.json"
    m = qfuzz("minimize", str(f), "-o", str(small), "--time", "2", cwd=tmp)
    assert m.returncode == 0, m.stdout + m.stderr
    assert json.loads(small.read_text())["program"] == json.loads(f.read_text())["program"]
    rep = qfuzz("repro", str(small), "--no-trace", cwd=tmp)
    assert rep.returncode == 1 and "(the stored failure)" in rep.stdout, rep.stdout + rep.stderr


def test_a_changed_source_refuses_the_old_reproducer_on_one_line(handoff_found, tmp_path):
    tmp, src, corpus, out, _ = handoff_found
    # a copy of the sources and the corpus, then an edit of the source
    work = tmp_path / "w"
    shutil.copytree(tmp, work)
    f = stored(work / "corpus", "handoff")[0]
    # the reproducer names src/handoff.c relative to where it was recorded
    c = work / "src" / "handoff.c"
    c.write_text(c.read_text().replace("handed off", "handed over"))
    line = one_error_line(qfuzz("repro", str(f), cwd=work))
    assert "handoff.c" in line and "changed" in line and str(f) in line


def test_the_fixed_variant_stays_clean(tmp_path):
    copy(tmp_path, "handoff.c")
    out = qfuzz("fuzz", "src/handoff.c", *HANDOFF, "--variant", "fixed", "--runs", "2000",
                "--corpus", str(tmp_path / "corpus"), cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 unique failure(s)" in out.stdout and "2,000 executions" in out.stdout


def test_an_assertion_failure_is_a_fail_verdict_with_its_message(tmp_path):
    copy(tmp_path, "fails.c")
    out = qfuzz("fuzz", "src/fails.c", "--runs", "2000", "--corpus", str(tmp_path / "corpus"), cwd=tmp_path)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "NEW FAIL" in out.stdout and "counter" in out.stdout, out.stdout


def test_an_uncontrolled_blocking_call_gets_its_own_verdict_naming_the_call(tmp_path):
    copy(tmp_path, "blocks.c")
    out = qfuzz("fuzz", "src/blocks.c", "--runs", "5", "--corpus", str(tmp_path / "corpus"), cwd=tmp_path,
                timeout=60)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "NEW BLOCKING" in out.stdout and "read" in out.stdout and "blocks.c:" in out.stdout, out.stdout


def test_a_crashing_program_gets_a_crash_verdict_and_the_campaign_goes_on(tmp_path):
    copy(tmp_path, "crashy.c")
    corpus = tmp_path / "corpus"
    out = qfuzz("fuzz", "src/crashy.c", "--args", "0", "--args", "crash", "--runs", "200",
                "--corpus", str(corpus), cwd=tmp_path)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "CRASH signal 11 (SIGSEGV)" in out.stdout, out.stdout
    assert "done: 200 executions" in out.stdout, out.stdout  # every execution ran, crashes included
    crashes = sorted((corpus / "crashy" / "crashes").glob("crash-*.json"))
    assert len(crashes) == 1, crashes  # one workload crashes, one file for it
    rep = qfuzz("repro", str(crashes[0]), cwd=tmp_path)
    assert rep.returncode == 1 and "crash: signal 11 (SIGSEGV)" in rep.stdout, rep.stdout + rep.stderr


def test_a_hanging_program_is_cut_once_per_workload_and_the_campaign_goes_on(tmp_path):
    """`hang` spins outside any schedule point: the worker's watchdog (--hang-timeout) kills it
    and keeps the input; the campaign's later draws of that workload (one of the two) are
    skipped rather than each hanging for 2 s, and the hand-off's bug is still found."""
    copy(tmp_path, "crashy_handoff.c")
    corpus = tmp_path / "corpus"
    out = qfuzz("fuzz", "src/crashy_handoff.c", "--args", "hang", "--args", "0", "--runs", "300", "--hang-timeout", "2",
                "--corpus", str(corpus), "--no-trace", cwd=tmp_path, timeout=100)
    assert out.returncode == 1, out.stdout + out.stderr
    text = " ".join(out.stdout.split())
    assert text.count("CRASH timeout after 2 s") == 1, out.stdout
    assert "later draws of a workload that hung were skipped" in text, out.stdout
    assert "NEW STUCK:lost-wakeup:COND_WAIT@main" in text, out.stdout
    (crash,) = (corpus / "crashy_handoff" / "crashes").glob("timeout-*.json")
    assert json.loads(crash.read_text())["workload"] == {"args": ["hang"]}
    # the flag is the seeded engines' (hypothesis and atheris have their own watchdogs)
    bad = qfuzz("fuzz", "src/crashy_handoff.c", "--engine", "hypothesis", "--hang-timeout", "2", cwd=tmp_path)
    assert bad.returncode == 2 and "--hang-timeout applies to the seeded engines" in bad.stderr, bad.stderr


def test_a_crashing_program_under_hypothesis_gets_one_crash_line_and_the_search_goes_on(tmp_path):
    """--engine hypothesis runs its search in a worker child: the first example of
    `crash` kills it; a new worker resumes the search, which still finds the
    hand-off's lost wake-up and runs every example asked for."""
    copy(tmp_path, "crashy_handoff.c")
    corpus = tmp_path / "corpus"
    out = qfuzz("fuzz", "src/crashy_handoff.c", "--args", "crash", "--args", "0", "--engine", "hypothesis",
                "--runs", "300", "--corpus", str(corpus), "--no-trace", cwd=tmp_path)
    assert out.returncode == 1, out.stdout + out.stderr
    text = " ".join(out.stdout.split())
    assert text.count("CRASH signal 11 (SIGSEGV)") == 1, out.stdout  # one line for the crash, repeats counted
    assert "the search goes on" in text and "NEW STUCK:lost-wakeup:COND_WAIT@main" in text, out.stdout
    assert text.index("CRASH") < text.index("NEW STUCK"), out.stdout  # found after the crash, by a new worker
    assert "done: 300 examples" in text, out.stdout
    crashes = sorted((corpus / "crashy_handoff" / "crashes").glob("crash-*.json"))
    assert len(crashes) == 1, crashes
    assert json.loads(crashes[0].read_text())["workload"] == {"args": ["crash"]}
    rep = qfuzz("repro", str(crashes[0]), cwd=tmp_path)
    assert rep.returncode == 1 and "crash: signal 11 (SIGSEGV)" in rep.stdout, rep.stdout + rep.stderr
    files = stored(corpus, "crashy_handoff")
    assert files and all("stuck-lost-wakeup" in f.name for f in files), files
    rep = qfuzz("repro", str(files[0]), "--no-trace", cwd=tmp_path)
    assert rep.returncode == 1 and "(the stored failure)" in " ".join(rep.stdout.split()), rep.stdout + rep.stderr


@pytest.mark.parametrize(
    "argv, words",
    [
        (["missing.c"], ["src/missing.c", "no such file"]),
        (["handoff.c", "--variant", "buggy=DBUGGY"], ["DBUGGY", "-DMACRO"]),
        (["handoff.c", "--variant", "a=-DX=1", "--variant", "a=-DX=2"], ["defined twice"]),
        (["handoff.c", "--variant", "nope"], ["unknown variant 'nope'"]),
        (["handoff.c", "haproxy_queue"], ["haproxy_queue", ".c"]),
        (["haproxy_queue", "--variant", "pre-fix", "--cflags", "-O2"], ["--cflags"]),
        (["handoff.c", "--args", "'unclosed"], ["--args"]),
    ],
)
def test_bad_program_arguments_are_one_line_and_exit_2(tmp_path, argv, words):
    copy(tmp_path, "handoff.c")
    argv = [f"src/{a}" if a.endswith(".c") else a for a in argv]
    line = one_error_line(qfuzz("fuzz", *argv, "--runs", "1", "--corpus", str(tmp_path / "corpus"), cwd=tmp_path))
    for w in words:
        assert w in line, line


def test_a_compiler_error_is_gccs_own_message_and_exit_2(tmp_path):
    src = copy(tmp_path, "broken.c")
    out = qfuzz("fuzz", "src/broken.c", "--runs", "1", "--corpus", str(tmp_path / "corpus"), cwd=tmp_path)
    assert out.returncode == 2, out.stdout + out.stderr
    assert "undeclared_name" in out.stderr and "error" in out.stderr and "Traceback" not in out.stderr
    assert listing(src) == {"broken.c": (PROGRAMS / "broken.c").read_bytes()}


@pytest.mark.parametrize("engine", ["atheris", "hypothesis"])
def test_the_coverage_guided_and_property_engines_find_the_lost_wakeup(tmp_path, engine):
    copy(tmp_path, "handoff.c")
    corpus = tmp_path / "corpus"
    out = qfuzz("fuzz", "src/handoff.c", *HANDOFF, "--engine", engine, "--runs", "3000", "--corpus", str(corpus),
                "--no-trace", cwd=tmp_path)
    assert out.returncode in (1, 77), out.stdout + out.stderr  # qfuzz's "found", libFuzzer's crash
    files = stored(corpus, "handoff")
    assert files and all("stuck-lost-wakeup" in f.name for f in files), out.stdout + out.stderr
    rep = qfuzz("repro", str(files[0]), "--no-trace", cwd=tmp_path)
    assert rep.returncode == 1 and "(the stored failure)" in " ".join(rep.stdout.split()), rep.stdout + rep.stderr


def test_the_nightly_job_runs_every_variant_of_a_described_program(tmp_path):
    src = copy(tmp_path, "handoff.c", "handoff.qfuzz.json")
    out = qfuzz("nightly", "--targets", "src/handoff.qfuzz.json", "--time", "8", "--jobs", "2", "--engines", "pct",
                "--corpus", str(tmp_path / "corpus"), "--report", str(tmp_path / "report"), cwd=tmp_path)
    assert out.returncode == 1, out.stdout + out.stderr  # the buggy variant's finding is new and unexplained
    report = json.loads((tmp_path / "report" / "nightly.json").read_text())
    text = json.dumps(report)
    assert "STUCK:lost-wakeup:COND_WAIT@main:COND_SIGNAL@producer" in text
    assert {"buggy", "fixed"} <= set(re.findall(r'"variant": "(\w+)"', text))
    assert stored(tmp_path / "corpus", "handoff")
    assert sorted(p.name for p in src.iterdir()) == ["handoff.c", "handoff.qfuzz.json"]


def test_qfuzz_h_from_config_include_builds_with_plain_gcc_and_its_annotations_reach_qfuzz(tmp_path):
    import subprocess

    src = tmp_path / "late.c"
    src.write_text(
        "#include <pthread.h>\n#include <unistd.h>\n#include <qfuzz.h>\n"
        "int main(void)\n{\n\tqf_request_begin(7, 1000);  /* must end within 1 ms */\n"
        "\tusleep(5000);\n\tqf_request_end(7);\n\treturn 0;\n}\n"
    )
    include = qfuzz("config", "--include").stdout.strip()
    assert (Path(include) / "qfuzz.h").is_file()
    exe = tmp_path / "late"
    gcc = subprocess.run(["gcc", "-Wall", "-Wextra", "-Werror", "-I", include, str(src), "-o", str(exe)],
                         capture_output=True, text=True)
    assert gcc.returncode == 0, gcc.stderr  # without qfuzz the annotations are no-ops
    assert subprocess.run([str(exe)], timeout=10).returncode == 0
    out = qfuzz("fuzz", str(src), "--runs", "3", "--corpus", str(tmp_path / "corpus"), cwd=tmp_path)
    assert out.returncode == 1 and "NEW STUCK:deadline" in out.stdout, out.stdout + out.stderr
    assert "request 7" in out.stdout


def test_a_program_that_cannot_be_reset_in_process_runs_forked_and_says_why(tmp_path):
    copy(tmp_path, "envy.c")
    out = qfuzz("fuzz", "src/envy.c", "--runs", "100", "--corpus", str(tmp_path / "corpus"), cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "reset: each execution runs in a forked child" in out.stdout and "setenv" in out.stdout, out.stdout
    assert "done: 100 executions" in out.stdout


def test_the_python_api_finds_and_shrinks_a_programs_failure_with_hypothesis():
    import harness
    from harness.program import load
    from harness.strategies import find_failure

    t = load([str(PROGRAMS / "handoff.c")], variants=["buggy=-DBUGGY=1", "fixed=-DBUGGY=0"])
    ex = find_failure(t, "buggy", max_examples=300, seed=1)
    assert ex is not None and ex.verdict.signature == "STUCK:lost-wakeup:COND_WAIT@main:COND_SIGNAL@producer"
    assert ex.preemptions == 1  # shrunk: the producer runs between main's check and its wait
    again = harness.run(t, "buggy", ex.workload, harness.Replay(ex.decisions))
    assert again.verdict.signature == ex.verdict.signature and again.raw_trace == ex.raw_trace
    assert find_failure(t, "fixed", max_examples=300, seed=1) is None


def _first_failure(t, variant: str, args: list[str], runs: int = 300):
    import harness
    from harness.schedulers import make

    for seed in range(runs):
        ex = harness.run(t, variant, {"args": args}, make("pct", seed), trace=False)
        if ex.failed:
            return ex
    return None


def test_two_lost_wakeups_of_one_program_have_two_signatures_naming_the_stranded_waits(tmp_path):
    """Signatures name the functions of the critical events (through inlined helpers, and one
    frame up through an out-of-line one: publish() is called from two places), and A is the wait
    nothing could wake (the waiter thread's), not main's later wait for that thread."""
    from harness.program import load

    t = load([str(PROGRAMS / "two_waits.c")], args=["config", "data"])
    v = next(iter(t.variants))
    config, data = (_first_failure(t, v, [a]) for a in ("config", "data"))
    assert config is not None and data is not None
    assert config.verdict.signature == "STUCK:lost-wakeup:COND_WAIT@waiter>wait_for_config:COND_SIGNAL@set_config>publish"
    assert data.verdict.signature == "STUCK:lost-wakeup:COND_WAIT@waiter>wait_for_data:COND_SIGNAL@set_data>publish"
    assert config.verdict.critical[0].thread != 0  # main waits too, but for the waiter
    # an unrelated edit above the functions moves every line and changes no signature
    moved = tmp_path / "two_waits.c"
    moved.write_text("/* an unrelated comment\n * of three lines\n */\n" + (PROGRAMS / "two_waits.c").read_text())
    t2 = load([str(moved)], args=["config"])
    again = _first_failure(t2, next(iter(t2.variants)), ["config"])
    assert again is not None and again.verdict.signature == config.verdict.signature
    # nor does inlining: without it the wait is in wait_for_config's own frame, called from waiter's
    t3 = load([str(PROGRAMS / "two_waits.c")], cflags="-fno-inline", args=["config"])
    plain = _first_failure(t3, next(iter(t3.variants)), ["config"])
    assert plain is not None and plain.verdict.signature == config.verdict.signature
    line = lambda ex: next(e.site for e in ex.trace if e.step == ex.verdict.critical[0].step and e.site)  # noqa: E731
    import harness

    traced = [harness.run(tt, next(iter(tt.variants)), ex.workload, harness.Replay(ex.decisions))
              for tt, ex in ((t, config), (t2, again))]
    assert line(traced[0]) != line(traced[1])  # the lines did move


def test_a_fuzz_input_picks_the_variant_of_a_program_with_several_and_none_pinned():
    from harness.fuzzinput import decode, decode_input, encode
    from harness.program import load

    t = load([str(PROGRAMS / "handoff.c")], args=["a", "b"], variants=["fixed=-DBUGGY=0", "buggy=-DBUGGY=1"])
    data = bytes([1, 1, 0, 0x41])
    # pinned (the default of a loaded target, and `--variant NAME` on the command line): as before
    assert decode_input(t, data, "fixed") == ("fixed", *decode(t, data))
    t.variant_choice = True  # what `qfuzz fuzz` sets when several variants are defined and none picked
    variant, w, sched = decode_input(t, data, "fixed")
    assert variant == "buggy" and (w, sched.to_json()) == tuple(
        x if i == 0 else x.to_json() for i, x in enumerate(decode(t, data[1:])))
    assert decode_input(t, b"", "buggy")[0] == "fixed"  # a missing byte reads as 0: the first variant
    assert decode_input(t, encode(t, {"args": ["b"]}, variant="buggy"), "fixed")[:2] == ("buggy", t.workload({"args": ["b"]}))
    single = load([str(PROGRAMS / "handoff.c")], variants=["only=-DBUGGY=1"])
    single.variant_choice = True
    assert decode_input(single, data, "only") == ("only", *decode(single, data))  # one variant: no variant byte


def test_atheris_inputs_reach_the_buggy_variant_when_the_fixed_one_is_defined_first(tmp_path):
    copy(tmp_path, "handoff.c")
    corpus = tmp_path / "corpus"
    out = qfuzz("fuzz", "src/handoff.c", "--variant", "fixed=-DBUGGY=0", "--variant", "buggy=-DBUGGY=1",
                "--engine", "atheris", "--runs", "3000", "--corpus", str(corpus), "--no-trace", cwd=tmp_path)
    assert "variants fixed, buggy (each input picks one)" in " ".join(out.stdout.split()), out.stdout
    assert out.returncode in (1, 77), out.stdout + out.stderr
    files = stored(corpus, "handoff")
    assert files and all(f.name.startswith("buggy--stuck-lost-wakeup") for f in files), files
    assert json.loads(files[0].read_text())["variant"] == "buggy"


def test_a_property_over_a_crashing_program_reports_a_crash_and_its_reproducer(tmp_path, monkeypatch):
    """no_failure() on a program runs each execution in a forked child: a segfault fails the
    property with a crash reproducer, and this (pytest) process lives on."""
    from hypothesis import Phase, settings

    from harness.program import load
    from harness.strategies import PropertyCrash, no_failure

    src = copy(tmp_path, "crashy.c")
    monkeypatch.setenv("QFUZZ_FAILURES", str(tmp_path / "failures"))
    t = load([str(src / "crashy.c")], args=["0", "crash"])
    prop = no_failure(t, next(iter(t.variants)), explore=2,
                      settings=settings(max_examples=30, database=None, deadline=None, phases=[Phase.generate]))
    with pytest.raises(PropertyCrash) as caught:
        prop()
    assert "CRASH on default: the program died of signal 11 (SIGSEGV)" in str(caught.value)
    path = caught.value.path
    assert path is not None and path.parent == tmp_path / "failures" / "crashy" / "crashes" and path.is_file()
    assert json.loads(path.read_text())["workload"] == {"args": ["crash"]}
    rep = qfuzz("repro", str(path), cwd=tmp_path)
    assert rep.returncode == 1 and "crash: signal 11 (SIGSEGV)" in rep.stdout, rep.stdout + rep.stderr
    no_failure(t, next(iter(t.variants)), workload={"args": ["0"]}, explore=2,
               settings=settings(max_examples=5, database=None, deadline=None, phases=[Phase.generate]))()


def test_pthread_atfork_handlers_never_run_at_qfuzzs_own_forks(tmp_path):
    """pthread_atfork is wrapped (accepted, dropped): the program's fork() fails here, and its
    handlers must not run when qfuzz forks the execution's child (this program aborts if they do)."""
    copy(tmp_path, "atfork.c")
    out = qfuzz("fuzz", "src/atfork.c", "--runs", "30", "--corpus", str(tmp_path / "corpus"), cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "reset: each execution runs in a forked child" in out.stdout and "CRASH" not in out.stdout, out.stdout
    assert "done: 30 executions" in out.stdout and "0 unique failure(s)" in out.stdout, out.stdout


def test_pct_spreads_its_change_points_over_the_programs_measured_run_length():
    import harness
    from harness.program import load
    from harness.schedulers import PCT, Replay

    t = load([str(PROGRAMS / "handoff.c")], args=["", "x"], variants=["buggy=-DBUGGY=1"])
    w = t.workload({"args": []})
    k = t.measured_steps("buggy", w)
    assert k == harness.run(t, "buggy", w, Replay(b""), trace=False).steps and 5 < k < 100
    for seed in range(20):
        measured = harness.run(t, "buggy", w, PCT(seed=seed), trace=False)
        assert measured.decisions == harness.run(t, "buggy", w, PCT(seed=seed, k=k), trace=False).decisions
    generic = [harness.run(t, "buggy", w, PCT(seed=s, k=200), trace=False).decisions for s in range(20)]
    assert generic != [harness.run(t, "buggy", w, PCT(seed=s), trace=False).decisions for s in range(20)]


def test_a_forked_execution_dies_with_the_process_that_waits_for_it(tmp_path):
    """A program's execution in a forked child (harness.run(fork=True): hypothesis and the
    nightly job run a workload that crashed before that way) that spins outside any schedule
    point: when its worker is killed for hanging, the child must go too, not spin on forever."""
    import os
    import signal
    import subprocess
    import sys
    import time

    copy(tmp_path, "crashy_handoff.c")
    code = ("import harness; from harness.program import load; "
            "t = load(['src/crashy_handoff.c'], args=['hang']); "
            "harness.run(t, next(iter(t.variants)), {'args': ['hang']}, harness.RandomWalk(seed=0), fork=True)")
    worker = subprocess.Popen([sys.executable, "-c", code], cwd=tmp_path)

    def children() -> list[int]:
        try:
            tasks = os.listdir(f"/proc/{worker.pid}/task")
            return [int(c) for t in tasks for c in open(f"/proc/{worker.pid}/task/{t}/children").read().split()]
        except OSError:
            return []

    deadline = time.monotonic() + 60
    while not children() and time.monotonic() < deadline:  # building the program, then the fork
        time.sleep(0.1)
    (child,) = children()
    time.sleep(0.5)  # the child is spinning now
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait(timeout=10)
    gone = time.monotonic() + 5
    while os.path.exists(f"/proc/{child}") and time.monotonic() < gone:
        if open(f"/proc/{child}/stat").read().split(") ")[1].startswith("Z"):
            break  # a zombie: dead, waiting for init to reap it
        time.sleep(0.05)
    alive = os.path.exists(f"/proc/{child}") and not open(f"/proc/{child}/stat").read().split(") ")[1].startswith("Z")
    if alive:
        os.kill(child, signal.SIGKILL)
    assert not alive, "the forked execution outlived its worker"
