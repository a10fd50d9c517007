"""Perturbation of the real HAProxy (issue 11, item 4).

Offline and fast: the runtime native/rt/perturb/perturb.c compiled into a
tiny instrumented C program (PIE and non-PIE): its decisions are a pure
function of (seed, point, hit index) whatever the threads do, every delay
is recorded, count points are never delayed, and nothing happens without
a plan.  The plan's validation, its round trip through the stress
reproducer, the point table against the 2.6.12 and 3.0.11 symbol tables,
and the command line's bad input.  With the instrumented builds (only
when cached: a cold build is minutes): the hooks fire in a short real run."""
from __future__ import annotations

import ctypes
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from harness.errors import QfuzzError
from harness.stress.blackbox.repro import load, make, write
from harness.stress.blackbox.run import RunResult, run_once
from harness.targets.haproxy_binary import BLACKBOX, perturb_build, points
from harness.targets.haproxy_binary.config import StressConfig, from_json
from harness.targets.haproxy_binary.perturb import (MAX_POINTS, Plan, Point, fired, plan_from_json, read_shared,
                                                    resolve, summarize, symbols)

ROOT = Path(__file__).resolve().parent.parent
RUNTIME = ROOT / "native" / "rt" / "perturb" / "perturb.c"
VERSIONS = ("2.6.12", "3.0.11")

PROGRAM = r"""
#include <pthread.h>
__attribute__((noinline)) int work(int x) { return x * 3 + 1; }
__attribute__((noinline)) int other(int x) { return x ^ 5; }
static void *run(void *a) {
    volatile int s = 0;
    for (int i = 0; i < 400; i++) { s += work(i); s += other(i); }
    (void)a;
    return 0;
}
int main(void) {
    pthread_t t[3];
    for (int i = 0; i < 3; i++) pthread_create(&t[i], 0, run, 0);
    for (int i = 0; i < 3; i++) pthread_join(t[i], 0);
    return 0;
}
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("perturb")
    obj = d / "perturb.o"
    subprocess.run(["gcc", "-c", "-O2", "-fPIC", "-Wall", "-Wextra", "-Werror", "-o", obj, RUNTIME], check=True)
    (d / "prog.c").write_text(PROGRAM)
    out = {}
    for name, flags in (("pie", ["-pie", "-fPIE"]), ("nopie", ["-no-pie", "-fno-PIE"])):
        exe = d / name
        subprocess.run(["gcc", "-O1", "-finstrument-functions", *flags, "-Wall", "-Wextra", "-Werror", "-o", exe,
                        d / "prog.c", obj, "-lpthread"], check=True)
        out[name] = exe
    lib = d / "libperturb.so"
    subprocess.run(["gcc", "-shared", "-O2", "-fPIC", "-Wall", "-Wextra", "-Werror", "-o", lib, RUNTIME], check=True)
    out["lib"] = lib
    return out


def _plan(**kw: Any) -> Plan:
    d = {"version": "test", "seed": 11, "mode": "prob", "ppm": 300_000, "delay_us": [0, 20],
         "points": [{"function": "work"}, {"function": "other", "at": "exit"}, {"function": "work", "at": "exit",
                                                                              "role": "count"}]}
    return plan_from_json({**d, **kw}, "test")


def _run(exe: Path, plan: Plan, tmp: Path) -> tuple[dict[str, Any], Any]:
    shared = tmp / f"shared-{plan.seed}-{exe.name}.bin"
    res = resolve(plan, str(exe), shared)
    subprocess.run([str(exe)], env={**os.environ, **res.env}, check=True, timeout=60)
    c = read_shared(shared)
    return summarize(res, c), c


def _decide(lib: Path, plan: Plan, point: int, hit: int) -> int:
    so = ctypes.CDLL(str(lib))
    so.qp_decide.restype = ctypes.c_uint64
    so.qp_decide.argtypes = [ctypes.c_uint64, ctypes.c_uint, *[ctypes.c_uint64] * 5, ctypes.c_uint, ctypes.c_uint64]
    mode = 1 if plan.mode == "prob" else 2
    return int(so.qp_decide(plan.seed, mode, plan.ppm, plan.k, plan.n, plan.delay_us[0], plan.delay_us[1], point,
                            hit))


@pytest.mark.parametrize("kind", ["pie", "nopie"])
def test_runtime_decisions_are_a_pure_function_of_the_plan(built: dict[str, Path], tmp_path: Path, kind: str) -> None:
    plan = _plan()
    summary, c = _run(built[kind], plan, tmp_path)
    pts = summary["points"]
    # every hit of every point was seen, on 3 threads
    assert pts["work:entry"]["hits"] == pts["other:exit"]["hits"] == pts["work:exit (count)"]["hits"] == 1200
    assert pts["work:exit (count)"]["delays"] == 0  # a count point is never delayed
    # the delayed hits are exactly those the decision function names, whichever thread made them
    for rt in (0, 1):
        want = {i for i in range(1200) if _decide(built["lib"], plan, rt, i)}
        got = {r[2] for r in c.records if r[0] == rt}
        assert got == want and 200 < len(want) < 520  # p = 0.3 of 1200
        durs = {r[2]: r[3] for r in c.records if r[0] == rt}
        assert all(durs[i] == _decide(built["lib"], plan, rt, i) - 1 for i in want)  # the planned duration
        assert all(0 <= durs[i] <= 20_000 for i in want)
    assert len({r[1] for r in c.records}) >= 2  # recorded with the delaying thread's id
    assert fired(summary) == 2400


def test_same_plan_same_decisions_other_seed_other_decisions(built: dict[str, Path], tmp_path: Path) -> None:
    _, a = _run(built["pie"], _plan(), tmp_path)
    _, b = _run(built["pie"], _plan(), tmp_path)
    _, c = _run(built["pie"], _plan(seed=12), tmp_path)
    key = lambda cs: sorted((r[0], r[2], r[3]) for r in cs.records)  # noqa: E731
    assert key(a) == key(b) and key(a) != key(c)


def test_pct_mode_delays_k_change_points_per_round(built: dict[str, Path], tmp_path: Path) -> None:
    plan = _plan(mode="pct", k=2, n=100)
    _, c = _run(built["pie"], plan, tmp_path)
    for rt in (0, 1):
        hits = sorted(r[2] for r in c.records if r[0] == rt)
        per_round = [sum(1 for h in hits if h // 100 == r) for r in range(12)]
        assert all(1 <= k <= 2 for k in per_round)  # 2 seeded positions (which may coincide) in each round of 100


def test_no_plan_no_file_and_the_program_runs(built: dict[str, Path], tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QFUZZ_PERTURB")}
    env["QFUZZ_PERTURB_FILE"] = str(tmp_path / "x.bin")  # a file but no points: off
    subprocess.run([str(built["pie"])], env=env, check=True, timeout=30)
    assert not (tmp_path / "x.bin").exists()


# -- the plan -------------------------------------------------------------------------


@pytest.mark.parametrize("bad, field", [
    ({"points": []}, "points"), ({"mode": "random"}, "mode"), ({"ppm": 2_000_000}, "ppm"),
    ({"delay_us": [5, 1]}, "delay_us"), ({"points": [{"function": "x y"}]}, "function"),
    ({"points": [{"function": "f", "role": "count"}]}, "points"), ({"extra": 1}, "extra"),
    ({"points": [{"function": "f", "at": "middle"}]}, "points[0]"),
])
def test_bad_plans_are_one_line_naming_the_field(bad: dict[str, Any], field: str) -> None:
    with pytest.raises(QfuzzError) as e:
        from_json({"perturb": {**_plan().to_json(), **bad}}, "cfg")
    assert field in str(e.value) and "\n" not in str(e.value)


def test_unknown_function_is_one_line(built: dict[str, Path], tmp_path: Path) -> None:
    plan = _plan(points=[{"function": "no_such_function"}])
    with pytest.raises(QfuzzError, match="no_such_function.*symbol table"):
        resolve(plan, str(built["pie"]), tmp_path / "s.bin")


def test_plan_round_trips_through_the_stress_reproducer(tmp_path: Path) -> None:
    plan = Plan("2.6.12", (Point("pendconn_add", "entry", "delay", "why"), Point("stream_free", "entry", "count")),
                seed=5, mode="pct", k=3, n=50, delay_us=(100, 300))
    cfg = StressConfig(threads=3, conns=2, keepalive=True, perturb=plan.to_json())
    r = RunResult(config=cfg, version="2.6.12-x", started=0.0, seconds=1.0, requests=10, responses=10, client_errors={},
                  status={"200": 10}, verdicts=[], episodes=[], samples=1, max_sample_gap=0.0, checks={},
                  logs_missing=0, stopped_early=False, instrumentation={"perturbation": {"points": {}}})
    path = write(tmp_path, make(BLACKBOX, r, {"engine": "stress"}))
    assert path is not None
    back, d, _ = load(path)
    assert back == cfg and plan_from_json(back.perturb, "x") == plan
    assert d["observed"]["instrumentation"] == {"perturbation": {"points": {}}}
    plain = StressConfig()
    assert "perturb" not in plain.to_json()  # plain stress writes the JSON it always did


def test_corpus_stress_reproducers_replay_plain() -> None:
    files = sorted((ROOT / "corpus" / "haproxy_binary").glob("*.json"))
    assert files
    for f in files:
        cfg, _, _ = load(f)
        assert cfg.perturb is None


# -- the point table --------------------------------------------------------------------


def test_auto_points_come_from_the_model_corpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(Path(__file__).resolve().parent.parent)  # a checkout: ./corpus/haproxy_queue
    assert points.model_corpus() == Path.cwd() / "corpus" / "haproxy_queue"
    choice = points.auto()
    delay = [p for p in choice.points if p.role == "delay"]
    assert [(p.function, p.at) for p in delay] == [("pendconn_add", "entry")]
    text = "\n".join(choice.reasons)
    for label in ("ASQ_SERVED", "LB_FULL", "AS_SKIPLB_FULL"):
        assert label in text  # the model's critical events A, read from corpus/haproxy_queue
    assert any("server-queue STUCK reproducers" in s for s in choice.sources)
    # without the corpus, the fallback table says so and picks the same delay point
    fb = points.auto(corpus=Path("/nonexistent"))
    assert [p.function for p in fb.points if p.role == "delay"] == ["pendconn_add"]
    assert "FALLBACK" in fb.sources[0]


@pytest.mark.parametrize("version", VERSIONS)
def test_every_mapped_label_names_a_function_of_the_build(version: str) -> None:
    exe = perturb_build.cached(version)
    if exe is None:
        pytest.skip(f"instrumented HAProxy {version} not built (qfuzz stress haproxy_binary --haproxy-version "
                    f"{version} --perturb auto builds it)")
    table = symbols(str(exe))
    missing = sorted({m.function for m in points.LABELS.values() if m.function not in table})
    assert not missing
    n = sum(len(table[p.function]) for p in points.auto().points)
    assert n <= MAX_POINTS


# -- the command line ---------------------------------------------------------------------


def _qfuzz(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["qfuzz", *args], capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("argv, what", [
    (["--perturb", "auto"], "--haproxy-version"),
    (["--perturb", "auto", "--haproxy-version", "debian"], "--haproxy-version"),
    (["--perturb", "pendconn_add:middle", "--haproxy-version", "2.6.12"], "--perturb"),
    (["--perturb", "auto", "--haproxy-version", "2.6.12", "--perturb-p", "3"], "--perturb-p"),
])
def test_bad_perturb_usage_is_one_line_and_exit_2(argv: list[str], what: str) -> None:
    p = _qfuzz("stress", "haproxy_binary", *argv, "--time", "1")
    assert p.returncode == 2 and what in p.stderr and p.stderr.count("\n") == 1, p.stderr


def _need_build(version: str) -> str:
    exe = perturb_build.cached(version)
    if exe is None:
        pytest.skip(f"instrumented HAProxy {version} not built")
    return str(exe)


def test_unknown_point_on_a_real_build_is_one_line_and_exit_2() -> None:
    _need_build("2.6.12")
    p = _qfuzz("stress", "haproxy_binary", "--haproxy-version", "2.6.12", "--perturb", "no_such_fn", "--time", "2")
    assert p.returncode == 2 and "no_such_fn" in p.stderr and p.stderr.count("\n") == 1, p.stderr


@pytest.mark.parametrize("version", VERSIONS)
def test_hooks_fire_in_a_short_real_run(version: str) -> None:
    exe = _need_build(version)
    plan = Plan(version, tuple(points.auto().points), seed=3)
    cfg = StressConfig(threads=3, conns=2, keepalive=True, seconds=3, perturb=plan.to_json())
    r = run_once(BLACKBOX, cfg, exe, version, stop_on_stuck=True)
    s = r.instrumentation["perturbation"]
    assert s["initialised"] and r.requests > 0
    add = s["points"]["pendconn_add:entry"]
    assert add["hits"] > 0 and 0 < add["delays"] <= add["hits"] and s["recorded"] == add["delays"]
    assert s["points"]["stream_free:entry (count)"]["hits"] > 0 and s["points"]["stream_free:entry (count)"]["delays"] == 0
    assert json.dumps(r.summary())  # the hit counts go into the reproducer's evidence


def test_a_run_whose_delay_points_never_fire_is_exit_2_not_clean() -> None:
    _need_build("2.6.12")
    # nothing is redistributed in a plain run: the hook exists but never fires
    p = _qfuzz("stress", "haproxy_binary", "--haproxy-version", "2.6.12", "--perturb", "pendconn_redistribute",
               "--threads", "2", "--conns", "2", "--time", "2", "--no-save")
    assert p.returncode == 2 and "never fired" in p.stderr and p.stderr.count("\n") == 1, (p.stdout, p.stderr)
    assert "pendconn_redistribute:entry 0 hits" in p.stdout


F1 = "fixed--stuck-backend-queue-as_skiplb_full-md_pxqlen-*.json"


def test_against_perturb_needs_a_version_one_line_exit_2() -> None:
    f = sorted((ROOT / "corpus" / "haproxy_queue").glob(F1))[0]
    p = _qfuzz("repro", str(f), "--against", "haproxy_binary", "--perturb", "auto")
    assert p.returncode == 2 and "--haproxy-version" in p.stderr and p.stderr.count("\n") == 1, p.stderr


def test_against_perturb_aims_at_the_reproducers_own_critical_events() -> None:
    from harness.reproducer import load as load_model

    f = sorted((ROOT / "corpus" / "haproxy_queue").glob(F1))[0]
    choice = points.for_verdict(load_model(f).verdict, f.name)
    assert [(p.function, p.role) for p in choice.points] == [("pendconn_add", "delay"), ("process_srv_queue", "count")]
    assert "AS_SKIPLB_FULL" in choice.reasons[0] and "MD_PXQLEN" in choice.reasons[1]
    _need_build("3.0.11")
    p = _qfuzz("repro", str(f), "--against", "haproxy_binary", "--haproxy-version", "3.0.11", "--perturb", "auto",
               "--runs", "1", "--budget", "10")
    assert p.returncode in (0, 1), p.stderr
    assert "perturb pendconn_add:entry" in p.stdout and "perturbation hooks: pendconn_add:entry" in p.stdout
    import re

    m = re.search(r"pendconn_add:entry (\d+) hits, (\d+) delayed \(([\d.]+) ms\)", p.stdout)
    assert m and int(m[1]) >= 1 and int(m[2]) == int(m[1])  # every hit delayed, 30 ms each
    assert abs(float(m[3]) - 30.0 * int(m[2])) < 0.5


# -- an exploration with shapes that never queued (unit level: no HAProxy) -------------------


def _fake_run(requests: int, hits: int, stuck: int = 0) -> RunResult:
    from types import SimpleNamespace

    summary = {"initialised": True, "recorded": 0, "not_recorded": 0,
               "points": {"pendconn_add:entry": {"hits": hits, "delays": hits // 2, "delay_ms": 0.1 * hits, "role": "delay"}}}
    verdicts = [SimpleNamespace(kind="STUCK", path="backend-queue", end=1.0)] * stuck
    return RunResult(config=StressConfig(), version="t", started=0.0, seconds=1.0, requests=requests, responses=requests,
                     client_errors={}, status={}, verdicts=verdicts, episodes=[], samples=0, max_sample_gap=0.0,
                     checks={}, logs_missing=0, stopped_early=False, instrumentation={"perturbation": summary})


def _explore_with(monkeypatch: pytest.MonkeyPatch, runs: list[RunResult]) -> tuple[int, str, str]:
    """`qfuzz stress haproxy_binary --explore --perturb ...` whose runs are `runs`."""
    from rich.console import Console

    from harness.stress.blackbox.explore import Exploration, Row
    from harness.targets.haproxy_binary import cli

    def fake_explore(_target: Any, **kw: Any) -> Exploration:
        ex = Exploration(0, 0.0)
        for i, r in enumerate(runs):
            ex.rows.append(Row(i, r.config, i % 4 == 3, r, float(i)))
            kw["on_run"](ex.rows[-1])
        return ex

    monkeypatch.setattr(cli, "resolve_haproxy", lambda *a, **k: "/bin/true")
    monkeypatch.setattr(cli, "haproxy_version", lambda exe: "2.6.12-test")
    monkeypatch.setattr(cli, "explore", fake_explore)
    console = Console(record=True, width=200)
    import io
    import sys

    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    code = cli.main(["haproxy_binary", "--explore", "--haproxy-version", "2.6.12", "--perturb", "pendconn_add",
                     "--no-save", "--time", "60"], console)
    return code, console.export_text(), err.getvalue()


def test_exploration_skips_a_shape_that_never_queued(monkeypatch: pytest.MonkeyPatch) -> None:
    """A shape whose delay point never fired is no verdict for that run:
    its requests are not judged, and the clean judged runs give exit 0."""
    code, out, err = _explore_with(monkeypatch, [_fake_run(1000, 500), _fake_run(17032, 0), _fake_run(800, 300)])
    assert code == 0 and err == "", err
    assert "no verdict: the shape never queued" in out
    assert "no verdict in 1 run(s) (1)" in out and "17032 requests are not counted" in out
    assert "judged: 2 run(s); 1800 threaded requests, 0 STUCK" in out


def test_exploration_where_no_run_fired_is_exit_2(monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, err = _explore_with(monkeypatch, [_fake_run(1000, 0), _fake_run(900, 0)])
    assert code == 2 and err.count("\n") == 1 and "never fired in any of the 2 run(s)" in err, err


def test_exploration_with_a_stuck_run_is_exit_1_whatever_the_silent_shapes(monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, _ = _explore_with(monkeypatch, [_fake_run(1000, 0), _fake_run(50, 20, stuck=1)])
    assert code == 1 and "judged: 1 run(s); 50 threaded requests, 1 STUCK" in out


def test_against_perturb_takes_explicit_points_as_stress_does() -> None:
    from types import SimpleNamespace

    from rich.console import Console

    from harness.targets.haproxy_binary.perturb_cli import SCENARIO_DELAY_US, scenario_plan

    rep = SimpleNamespace(verdict={"critical": []}, path="x.json")
    console = Console(record=True, width=200)
    plan = scenario_plan(rep, "pendconn_add,process_srv_queue:exit", "3.0.11", console)
    assert plan is not None and [(p.function, p.at, p.role) for p in plan.points] == [
        ("pendconn_add", "entry", "delay"), ("process_srv_queue", "exit", "delay")]
    assert plan.delay_us == (SCENARIO_DELAY_US, SCENARIO_DELAY_US) and plan.ppm == 1_000_000
    assert "points given on the command line" in console.export_text()
    # the same parser as `qfuzz stress --perturb`: the same one-line error
    with pytest.raises(QfuzzError, match="FUNCTION\\[:entry\\|:exit\\]"):
        scenario_plan(rep, "pendconn_add:middle", "3.0.11", console)


def test_against_bad_explicit_points_are_one_line_and_exit_2() -> None:
    f = sorted((ROOT / "corpus" / "haproxy_queue").glob(F1))[0]
    p = _qfuzz("repro", str(f), "--against", "haproxy_binary", "--haproxy-version", "3.0.11",
               "--perturb", "pendconn_add:middle")
    assert p.returncode == 2 and "--perturb" in p.stderr and p.stderr.count("\n") == 1, p.stderr


def test_against_explicit_points_perturb_a_real_scenario() -> None:
    f = sorted((ROOT / "corpus" / "haproxy_queue").glob(F1))[0]
    _need_build("3.0.11")
    p = _qfuzz("repro", str(f), "--against", "haproxy_binary", "--haproxy-version", "3.0.11",
               "--perturb", "pendconn_add:entry", "--runs", "1", "--budget", "10")
    assert p.returncode in (0, 1), p.stderr
    assert "perturb pendconn_add:entry;" in p.stdout and "points given on the command line" in p.stdout
    assert "perturbation hooks: pendconn_add:entry" in p.stdout and "process_srv_queue" not in p.stdout.split("hooks:")[1]
