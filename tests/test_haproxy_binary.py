"""haproxy_binary: the real HAProxy under stress.

Offline: config generation, the CLI's usage errors, log and stat parsing,
the STUCK/legitimate classification on recorded runs (tests/data/
haproxy_binary/, see its README), the reproducer format.  With HAProxy
(installed on demand by harness.debs.ensure; in CI a failed install fails):
the generated configs pass `haproxy -c`, start/stop leaves no process, a
SIGTERM mid-run cleans up, and one short real run checks the machinery end
to end."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from harness.child import python
from rich.console import Console

from harness import debs
from harness.errors import QfuzzError
from harness.stress import binary
from harness.stress.blackbox.procs import listening_socket
from harness.stress.blackbox.repro import FORMAT, load, make, write
from harness.stress.blackbox.run import RunResult, run_once
from harness.stress.blackbox import ab
from harness.targets.haproxy_binary import BLACKBOX, cli, scenario
from harness.targets.haproxy_binary.config import BALANCES, StressConfig, from_json, render_haproxy
from harness.targets.haproxy_binary.log import parse_date, parse_file, parse_line, parse_lines
from harness.targets.haproxy_binary.oracle import LEGIT, STUCK, UNKNOWN, classify, episodes
from harness.targets.haproxy_binary.stack import Stack, find_haproxy
from harness.targets.haproxy_binary.stats import Sample, ServerStat, load_samples, parse_stat

DATA = Path(__file__).parent / "data" / "haproxy_binary"
ROOT = Path(__file__).resolve().parent.parent


def need_haproxy() -> str:
    try:
        debs.ensure(["haproxy"])
    except QfuzzError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must be able to install haproxy: {exc}")
        pytest.skip(str(exc))
    return find_haproxy()


def recorded(name: str) -> tuple[dict[str, Any], list[Any], list[Sample]]:
    d = DATA / name
    meta = json.loads((d / "meta.json").read_text())
    entries = [e for e in parse_file(str(d / "haproxy.log")).entries if e.request_id]
    with open(d / "samples.jsonl") as f:
        samples = load_samples(f)
    return meta, entries, samples


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def children_of(pid: int) -> list[int]:
    out = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if int((p / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(p.name))
            except (OSError, IndexError, ValueError):
                continue
    return out


def wait_gone(pids: list[int], seconds: float = 5.0) -> list[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.05)
    return [p for p in pids if alive(p)]


# -- configuration ------------------------------------------------------------------


def test_config_renders_the_shape() -> None:
    cfg = StressConfig(threads=3, servers=2, maxconn=1, balance="uri", timeout_queue=1500)
    text = render_haproxy(cfg, 7, [1111, 2222], "/x/stats.sock", 5140)
    for needle in ("nbthread 3", "balance uri", "server s0 127.0.0.1:1111 maxconn 1", "server s1 127.0.0.1:2222 maxconn 1",
                   "timeout queue 1500ms", "bind fd@7", "log 127.0.0.1:5140", "format raw", "option httplog",
                   "stats socket /x/stats.sock"):
        assert needle in text, needle
    unlimited = render_haproxy(StressConfig(maxconn=0), 3, [1], "/s", 1)
    assert "server s0 127.0.0.1:1\n" in unlimited and "maxconn 1\n" not in unlimited.split("backend be")[1]


@pytest.mark.parametrize("bad, field", [
    ({"threads": 0}, "config.threads"), ({"threads": 17}, "config.threads"), ({"balance": "hash"}, "config.balance"),
    ({"balance": "random", "draws": 0}, "config.draws"),
    ({"keepalive": 1}, "config.keepalive"), ({"bogus": 1}, "config.bogus"), ({"seconds": 0}, "config.seconds"),
    ({"origin": "nginx", "slow_pct": 5, "slow_ms": 100}, "config.slow_pct"),
])
def test_config_rejects_bad_fields_on_one_line(bad: dict[str, Any], field: str) -> None:
    with pytest.raises(QfuzzError) as err:
        from_json(bad, "config")
    assert str(err.value).startswith(field) and "\n" not in str(err.value)


F2 = DATA / "model" / "f2-fixed-adm_disable.json"  # a fixed copy: the corpus gets regenerated


def test_model_reproducer_becomes_a_timed_scenario() -> None:
    """F2's reproducer: one thread, an active server at maxconn 2 and a
    backup, 3 requests, enable then disable of the active one."""
    from harness.reproducer import load as load_model

    rep = load_model(F2)
    sc = scenario.from_model(rep.workload, rep.verdict)
    u = scenario.SCALE_MS
    assert sc.config.balance == "first" and sc.config.threads == 1 and sc.config.timeout_queue == 50 * u
    assert sc.server_options == (" maxconn 2", " maxconn 1 backup")
    assert sc.requests == ((30 * u, "/k1", 20 * u), (40 * u, "/k3", 20 * u), (40 * u, "/k3", 10 * u))
    # the disable shares its instant with two arrivals and came after them in the model: half a unit later
    assert sc.events == ((35 * u, "enable server be/s0"), (40 * u + u // 2, "disable server be/s0"))
    assert sc.expect_path == "backend-queue" and sc.expect_request == 2
    assert "option redispatch" in sc.backend_options
    text = render_haproxy(sc.config, 3, [1111, 2222], "/s", 1, sc.server_options, sc.backend_options)
    assert "server s1 127.0.0.1:2222 maxconn 1 backup" in text and "    option redispatch\n" in text
    # the scenario's end leaves room for the last request to time out
    assert sc.config.seconds * 1000 >= 40 * u + 20 * u + 50 * u
    script = scenario.render_commands(sc)
    assert script.count("curl ") == 3 and "disable server be/s0" in script


def test_unmappable_model_reproducer_is_one_line() -> None:
    w = {"threads": 2, "servers": [{"maxconn": 1}], "backend": {"balance": "roundrobin"}, "requests": [], "events": []}
    with pytest.raises(QfuzzError, match="cannot be mapped"):
        scenario.from_model(w, {"kind": "SAFETY"})
    with pytest.raises(QfuzzError, match="no HAProxy counterpart"):
        scenario.from_model({**w, "backend": {"balance": "source"}}, {"kind": "STUCK"})
    with pytest.raises(QfuzzError, match="does not have"):
        scenario.from_model({**w, "events": [{"at": 0, "action": "disable", "server": 3}]}, {"kind": "STUCK"})
    # a model connect error is per attempt of one request, a real one per server address: refused, never dropped
    req = {"at": 0, "duration": 10}
    with pytest.raises(QfuzzError, match=r"requests\[\]\.fails.*per server address") as err:
        scenario.from_model({**w, "requests": [{**req, "fails": 1}]}, {"kind": "STUCK"})
    assert "\n" not in str(err.value)
    sc = scenario.from_model({**w, "backend": {"balance": "roundrobin", "retries": 1}, "requests": [req], "jitter": 5,
                              "threads_per_group": 1},
                             {"kind": "STUCK"})
    assert "retries 1" in sc.backend_options and "timer jitter" in sc.ignored
    assert any("thread groups" in i for i in sc.ignored)


def test_random_draws_map_onto_balance_random() -> None:
    """F6's shape: `balance random(1)` on two servers; the path is the
    backend queue, and the draws are named as not carried over."""
    w = {"threads": 1, "servers": [{"maxconn": 1}, {"maxconn": 1}],
         "backend": {"balance": "random", "draws": 1, "timeout_queue": 50},
         "requests": [{"at": 0, "duration": 100, "key": 5}, {"at": 1, "duration": 10, "key": 5}], "events": []}
    sc = scenario.from_model(w, {"kind": "STUCK", "path": "backend-queue", "request": 1})
    assert (sc.config.balance, sc.config.draws, sc.config.path) == ("random", 1, "backend-queue")
    text = render_haproxy(sc.config, 3, [1111, 2222], "/s", 1, sc.server_options, sc.backend_options)
    assert "    balance random(1)\n" in text
    assert any("random draws" in i for i in sc.ignored)
    # the model's default of 2 draws is HAProxy's too, and a stress reproducer's JSON leaves it out
    w["backend"].pop("draws")
    sc2 = scenario.from_model(w, {"kind": "STUCK"})
    assert "balance random(2)" in render_haproxy(sc2.config, 3, [1, 2], "/s", 1, sc2.server_options)
    assert "draws" not in sc2.config.to_json() and sc.config.to_json()["draws"] == 1
    assert from_json(sc.config.to_json(), "x") == sc.config


def test_slowstart_maps_onto_a_server_leaving_maintenance() -> None:
    """HAProxy ramps only a server leaving maintenance: a slowstart server
    up at t=0 in the model is rendered `disabled` and enabled just before
    t=0; one down in the model waits for its own enable event."""
    u = scenario.SCALE_MS
    w = {"threads": 1, "servers": [{"maxconn": 2, "slowstart": 20}, {"maxconn": 2, "slowstart": 10, "down": True}],
         "backend": {"balance": "roundrobin", "timeout_queue": 50},
         "requests": [{"at": 0, "duration": 100}, {"at": 1, "duration": 10}],
         "events": [{"at": 12, "action": "enable", "server": 1}]}
    sc = scenario.from_model(w, {"kind": "STUCK", "path": "backend-queue"})
    assert sc.server_options == (f" maxconn 2 slowstart {20 * u}ms disabled", f" maxconn 2 slowstart {10 * u}ms disabled")
    assert sc.events == ((-scenario.PRE_ENABLE_MS, "enable server be/s0"), (12 * u, "enable server be/s1"))
    assert any("slowstart ramp" in i for i in sc.ignored)
    text = render_haproxy(sc.config, 3, [1111, 2222], "/s", 1, sc.server_options, sc.backend_options)
    assert f"server s0 127.0.0.1:1111 maxconn 2 slowstart {20 * u}ms disabled\n" in text
    # the hand-runnable script sends the enable before the first request
    script = scenario.render_commands(sc)
    assert script.index("enable server be/s0") < script.index("id=s-0")
    # without slowstart nothing changes: no enable, no `disabled`
    plain = scenario.from_model({**w, "servers": [{"maxconn": 2}], "events": []}, {"kind": "STUCK"})
    assert plain.server_options == (" maxconn 2",) and plain.events == ()


def test_unmappable_reproducer_on_the_command_line_exits_2() -> None:
    safety = next((ROOT / "corpus" / "haproxy_queue").glob("*--safety-*.json"))
    r = subprocess.run(python("-m", "harness.cli", "repro", str(safety), "--against", "haproxy_binary"), cwd=ROOT,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "cannot be mapped" in r.stderr, r.stderr


def test_replay_plan_fits_the_budget() -> None:
    assert cli.plan_replay(100, 20.0, 60.0) == (2, 2 * (20.0 + cli.RUN_OVERHEAD))
    assert cli.plan_replay(1, 500.0, 60.0)[0] == 1  # at least one run
    assert cli.plan_replay(3, 5.0, 3600.0)[0] == 3


def test_ab_arithmetic() -> None:
    lo, hi = ab.poisson_ci(0)
    assert lo == 0 and hi == pytest.approx(3.6889, abs=1e-3)  # -ln(0.025)
    assert ab.poisson_ci(10) == (pytest.approx(4.7954, abs=1e-3), pytest.approx(18.3904, abs=1e-3))
    assert ab.per_million_ci(0, 2_000_000)[1] == pytest.approx(1.8444, abs=1e-3)
    lo, hi = ab.wilson(5, 10)
    assert (lo, hi) == (pytest.approx(0.2366, abs=1e-3), pytest.approx(0.7634, abs=1e-3))
    r = binary_result(requests=1000, stuck=4, eps=2)
    cells = ab.table([("2.6.12", "backend-queue", False, r), ("2.6.12", "backend-queue", False, r),
                      ("3.0.11", "backend-queue", False, binary_result(3000, 0, 0))])
    c = cells[("2.6.12", "backend-queue", False)]
    assert (c.runs, c.requests, c.stuck, c.episodes) == (2, 2000, 8, 4) and c.stuck_per_million == 4000
    assert cells[("3.0.11", "backend-queue", False)].ci[0] == 0


def binary_result(requests: int, stuck: int, eps: int) -> Any:
    class R:
        pass

    r = R()
    r.requests, r.stuck, r.episodes, r.unknown, r.seconds = requests, stuck, [0] * eps, 0, 1.0  # type: ignore[attr-defined]
    return r


@pytest.mark.parametrize("argv", [["--threads", "0"], ["--haproxy-version", "abc"]])
def test_cli_usage_error_is_one_line_and_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as ex:
        binary.main(["haproxy_binary", *argv], Console())
    assert ex.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("qfuzz stress: error: ") and err.count("\n") == 1


def test_missing_haproxy_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("shutil.which", lambda name: None)
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    with pytest.raises(QfuzzError, match="scripts/install-debs.sh haproxy"):
        find_haproxy()
    with pytest.raises(QfuzzError, match="not an executable"):
        find_haproxy("/nonexistent/haproxy")


def test_debs_ensure_reports_a_failed_install_on_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    script = tmp_path / "install.sh"
    script.write_text("echo 'apt said no' >&2\necho 'install-debs.sh: boom' >&2\nexit 1\n")
    monkeypatch.setattr(debs, "SCRIPT", script)
    with pytest.raises(QfuzzError) as err:
        debs.ensure(["qfuzz-no-such-package"])
    assert str(err.value) == "cannot install qfuzz-no-such-package: install-debs.sh: boom"
    monkeypatch.setattr(debs, "SCRIPT", tmp_path / "missing.sh")
    with pytest.raises(QfuzzError, match="not found"):
        debs.ensure(["qfuzz-no-such-package"])


# -- parsing --------------------------------------------------------------------------

SERVED = ('127.0.0.1:58544 [26/Nov/2026:23:16:49.484] fe be/s0 0/12/0/1/13 200 80 - - ---- 4/4/3/1/0 10/0 '
          '"GET /k0?id=2-38&d=0 HTTP/1.1"')
SRV_TIMEOUT = ('127.0.0.1:58544 [26/Nov/2026:23:16:50.484] fe be/s0 0/1003/-1/-1/1003 503 217 - - sQ-- 4/4/3/0/0 10/0 '
               '"GET /k0?id=2-39&d=0 HTTP/1.1"')
PX_TIMEOUT = ('<134>Nov 26 23:16:50 haproxy[1]: 127.0.0.1:40000 [26/Nov/2026:23:16:50.484] fe be/<NOSRV> 2/1001/-1/-1/1003 '
              '503 217 - - sQ-- 4/4/3/0/0 0/7 "GET /k1?id=1-5&d=0 HTTP/1.1"')


def test_log_lines_parse() -> None:
    e = parse_line(SRV_TIMEOUT, 3)
    assert e is not None and e.queue_timeout and e.server == "s0" and e.path == "server-queue"
    assert (e.Tw, e.status, e.term, e.srv_conn, e.line, e.request_id) == (1003, 503, "sQ--", 0, 3, "2-39")
    assert e.queued_at == pytest.approx(parse_date("26/Nov/2026:23:16:50.484"))
    assert e.left_queue_at - e.queued_at == pytest.approx(1.003)
    px = parse_line(PX_TIMEOUT)  # a syslog prefix is skipped
    assert px is not None and px.server is None and px.path == "backend-queue" and px.queued_at == pytest.approx(e.queued_at + 0.002)
    ok = parse_line(SERVED)
    assert ok is not None and not ok.queue_timeout and ok.Tr == 1
    assert parse_date("01/Jan/1970:00:00:01.250") == 1.25  # UTC
    parsed = parse_lines([SERVED, "[NOTICE] haproxy starting", "", SRV_TIMEOUT])
    assert len(parsed.entries) == 2 and parsed.other == 1


def test_show_stat_csv_parses() -> None:
    csv = (DATA / "show-stat.csv").read_text()
    s = parse_stat(csv, 10.0)
    assert s is not None and s.t == 10.0 and set(s.servers) == {"s0", "s1"}
    assert s.qcur == 3 and s.servers["s0"] == ServerStat(2, 1, 812, True) and not s.servers["s1"].usable
    assert parse_stat("garbage", 1.0) is None and parse_stat(csv, 1.0, backend="other") is None


# -- classification on recorded runs ---------------------------------------------------


def served_overlapping(entries: list[Any], server: str, a: float, b: float) -> list[Any]:
    """Log-only evidence, independent of the stat samples: requests served by
    `server` whose time on it (left queue .. end) overlaps [a, b]."""
    out = []
    for e in entries:
        if e.server == server and e.Tc >= 0:
            start, end = e.left_queue_at, e.date + max(e.Ta, 0) / 1000.0
            if start < b and end > a:
                out.append(e)
    return out


@pytest.mark.parametrize("name", ["stuck-server", "stuck-backend"])
def test_recorded_stuck_run_is_classified_stuck(name: str) -> None:
    meta, entries, samples = recorded(name)
    verdicts = classify(entries, samples, meta["timeout_queue"])
    kinds = [v.kind for v in verdicts]
    assert len(verdicts) == meta["expect"]["queue_timeouts"]
    assert kinds.count(STUCK) == meta["expect"]["stuck"] and kinds.count(LEGIT) == meta["expect"]["legitimate"]
    for v in verdicts:
        assert v.entry.path in meta["expect"]["paths"]
        idle = [w.server for w in v.servers if w.idle]
        assert idle and (v.entry.server is None or idle == [v.entry.server])
        for server in idle:
            assert not served_overlapping(entries, server, *v.window), "the log shows the server busy"
    eps = episodes(verdicts)
    assert len(eps) >= 1 and eps[0].to_json()["idle_servers"]


def test_recorded_overload_timeouts_are_all_legitimate() -> None:
    """nbthread 1 (no race possible) with slow requests: every queue timeout
    is legitimate, and none may be called STUCK."""
    meta, entries, samples = recorded("legit-overload")
    verdicts = classify(entries, samples, meta["timeout_queue"])
    assert len(verdicts) >= meta["expect"]["min_queue_timeouts"]
    assert [v.kind for v in verdicts if v.kind == STUCK] == []
    assert sum(v.kind == LEGIT for v in verdicts) >= meta["expect"]["min_legitimate"]


@pytest.mark.parametrize("name", sorted(p.name for p in DATA.iterdir() if (p / "meta.json").exists()))
def test_every_recording_matches_its_expectation(name: str) -> None:
    meta, entries, samples = recorded(name)
    verdicts = classify(entries, samples, meta["timeout_queue"])
    exp = meta["expect"]
    assert sum(v.kind == STUCK for v in verdicts) == exp.get("stuck", 0)
    assert sorted({v.entry.path for v in verdicts if v.kind == STUCK}) == sorted(exp.get("paths", []))


def _sample(t: float, stot: int, scur: int = 0, qcur: int = 0, bq: int = 0, s1: tuple[int, int] | None = None) -> Sample:
    servers = {"s0": ServerStat(qcur, scur, stot, True)}
    if s1 is not None:
        servers["s1"] = ServerStat(0, s1[1], s1[0], True)
    return Sample(t, bq, servers)


def _timeout(server: str | None, t: float = 100.0, tw: int = 1000) -> Any:
    srv = server or "<NOSRV>"
    return parse_line(f'127.0.0.1:1 [01/Jan/1970:00:01:40.000] fe be/{srv} 0/{tw}/-1/-1/{tw} 503 217 - - sQ-- '
                      f'1/1/1/0/0 0/0 "GET /k0?id=0-1&d=0 HTTP/1.1"')


def test_classification_rule_on_synthetic_evidence() -> None:
    idle = [_sample(99.9 + 0.01 * i, 5, qcur=1) for i in range(130)]
    assert classify([_timeout("s0")], idle, 1000)[0].kind == STUCK
    busy = [_sample(s.t, 5, scur=1 if 40 < i < 50 else 0) for i, s in enumerate(idle)]
    assert classify([_timeout("s0")], busy, 1000)[0].kind == LEGIT  # a connection open for a moment
    served = [_sample(s.t, 5 + (i > 60)) for i, s in enumerate(idle)]
    assert classify([_timeout("s0")], served, 1000)[0].kind == LEGIT  # stot moved
    # only the margins moved: the server was busy right at the ends, not in the window
    edges = [_sample(s.t, 5 + (i > 125), scur=int(i < 3)) for i, s in enumerate(idle)]
    assert classify([_timeout("s0")], edges, 1000)[0].kind == STUCK
    gappy = [s for i, s in enumerate(idle) if not 20 < i < 60]
    assert classify([_timeout("s0")], gappy, 1000)[0].kind == UNKNOWN  # idle, but HAProxy went silent: no verdict
    gappy_busy = [s for i, s in enumerate(busy) if not 10 < i < 40]
    assert classify([_timeout("s0")], gappy_busy, 1000)[0].kind == LEGIT  # busy evidence needs no dense samples
    assert classify([_timeout("s0", tw=400)], idle, 1000)[0].kind == UNKNOWN
    assert classify([_timeout("s0")], idle[:50], 1000)[0].kind == UNKNOWN  # samples end inside the window
    # the backend queue: any usable server idle over the window strands it
    two = [_sample(s.t, 5, bq=1, s1=(9 + i, 1)) for i, s in enumerate(idle)]
    assert classify([_timeout(None)], two, 1000)[0].kind == STUCK
    both_busy = [_sample(s.t, 5 + i, bq=1, s1=(9 + i, 1)) for i, s in enumerate(idle)]
    assert classify([_timeout(None)], both_busy, 1000)[0].kind == LEGIT


def test_episodes_cluster_overlapping_stuck_timeouts() -> None:
    idle = [_sample(99.0 + 0.01 * i, 5) for i in range(800)]
    ts = [_timeout("s0", t) for t in (100.0,)]
    later = parse_line(SRV_TIMEOUT.replace("26/Nov/2026:23:16:50.484", "01/Jan/1970:00:01:40.300"))
    far = parse_line(SRV_TIMEOUT.replace("26/Nov/2026:23:16:50.484", "01/Jan/1970:00:01:44.000"))
    vs = classify([*ts, later, far], idle + [_sample(105.5 + 0.01 * i, 5) for i in range(10)], 1000)
    assert [v.kind for v in vs][:2] == [STUCK, STUCK]
    eps = episodes(vs)
    assert len(eps[0].verdicts) == 2


# -- the reproducer --------------------------------------------------------------------


def _result_from(name: str) -> RunResult:
    meta, entries, samples = recorded(name)
    verdicts = classify(entries, samples, meta["timeout_queue"])
    cfg = from_json(json.loads((DATA / name / "config.json").read_text()), "config")
    return RunResult(
        config=cfg, version=meta["haproxy"], started=samples[0].t, seconds=samples[-1].t - samples[0].t,
        requests=len(entries), responses=len(entries), client_errors={}, status={}, verdicts=verdicts,
        episodes=episodes(verdicts), samples=len(samples), max_sample_gap=0.0, checks={"dropped_logs": 0, "udp_drops": 0},
        logs_missing=0, stopped_early=True,
    )


def test_stress_reproducer_round_trip_and_never_overwrites(tmp_path: Path) -> None:
    r = _result_from("stuck-server")
    rep = make(BLACKBOX, r, {"engine": "test"})
    assert binary.is_stress_reproducer(rep) and rep["format"] == FORMAT and rep["version"] == 1
    assert not binary.is_stress_reproducer({"format": "qfuzz-reproducer"})
    path = write(tmp_path, rep)
    assert path is not None and path.name.startswith("stuck-server-queue-")
    assert write(tmp_path, rep) is None  # the same file exists: nothing overwritten
    assert [p.name for p in tmp_path.iterdir()] == [path.name]
    cfg, d, _ = load(path)
    assert cfg == r.config and d["observed"]["stuck"] == r.stuck >= 1
    assert d["observed"]["episodes_evidence"][0]["first"]["kind"] == STUCK


@pytest.mark.parametrize("text, what", [
    ("{", "not valid JSON"), ('{"format": "qfuzz-reproducer"}', "format"),
    ('{"format": "qfuzz-stress-reproducer", "version": 2, "target": "haproxy_binary", "config": {}}', "version"),
    ('{"format": "qfuzz-stress-reproducer", "version": 1, "target": "haproxy_binary", "config": {"threads": 99}}',
     "config.threads"),
])
def test_repro_file_rejects_bad_files_with_exit_2(tmp_path: Path, text: str, what: str,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "bad.json"
    p.write_text(text)
    assert binary.repro_file(p, Console(), runs=1) == 2
    err = capsys.readouterr().err
    assert what in err and err.count("\n") == 1


# -- with the real binary ----------------------------------------------------------------


def test_generated_configs_pass_haproxy_check(tmp_path: Path) -> None:
    exe = need_haproxy()
    for balance in BALANCES:
        fe = listening_socket()
        try:
            cfg = tmp_path / f"{balance}.cfg"
            cfg.write_text(render_haproxy(StressConfig(balance=balance, servers=2), fe.fileno(), [1, 2],
                                          str(tmp_path / "s.sock"), 5140))
            r = subprocess.run([exe, "-c", "-f", str(cfg)], capture_output=True, text=True, pass_fds=(fe.fileno(),),
                               timeout=30)
        finally:
            fe.close()
        assert r.returncode == 0, (balance, r.stdout + r.stderr)
    # a scenario's server options: slowstart on a server in maintenance, random's draws
    w = {"threads": 2, "servers": [{"maxconn": 2, "slowstart": 20}, {"maxconn": 1, "backup": True}],
         "backend": {"balance": "random", "draws": 1}, "requests": [{"at": 0, "duration": 10}], "events": []}
    sc = scenario.from_model(w, {"kind": "STUCK"})
    fe = listening_socket()
    try:
        cfg = tmp_path / "scenario.cfg"
        cfg.write_text(render_haproxy(sc.config, fe.fileno(), [1, 2], str(tmp_path / "s.sock"), 5140,
                                      sc.server_options, sc.backend_options))
        r = subprocess.run([exe, "-c", "-f", str(cfg)], capture_output=True, text=True, pass_fds=(fe.fileno(),),
                           timeout=30)
    finally:
        fe.close()
    assert r.returncode == 0 and "slowstart" in cfg.read_text(), r.stdout + r.stderr


def test_stack_starts_serves_and_leaves_nothing_behind() -> None:
    exe = need_haproxy()
    with Stack(StressConfig(servers=2, maxconn=1), exe) as st:
        pids, d = st.pids(), st.dir
        assert len(pids) == 3 and all(alive(p) for p in pids) and d is not None and d.is_dir()
        with socket.create_connection(("127.0.0.1", st.port), timeout=5) as c:
            c.sendall(b"GET /k0?id=t-1&d=0 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            reply = b""
            while chunk := c.recv(4096):
                reply += chunk
        assert reply.startswith(b"HTTP/1.1 200") and b"ok s" in reply
    assert wait_gone(pids) == [] and not d.exists()
    with pytest.raises(RuntimeError):  # an error inside: still cleaned up
        with Stack(StressConfig(), exe) as st:
            pids, d = st.pids(), st.dir
            raise RuntimeError("boom")
    assert wait_gone(pids) == [] and d is not None and not d.exists()


def test_sigterm_mid_run_stops_everything() -> None:
    need_haproxy()
    code = "import sys; from harness.cli import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.Popen(
        python("-c", code, "stress", "haproxy_binary", "--time", "30", "--no-save"), cwd=ROOT,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    kids: list[int] = []
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and len(kids) < 4:  # origin, log collector, haproxy, load
        time.sleep(0.1)
        kids = children_of(proc.pid)
    assert len(kids) == 4, kids
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 2, err  # interrupted: not clean, not a finding (qfuzz's exit-status contract)
    assert wait_gone(kids) == []


def test_short_real_run_end_to_end() -> None:
    """nbthread 1 (the control: no STUCK possible) with slow requests, so
    legitimate queue timeouts happen: the log must be complete, the samples
    dense, and every timeout judged legitimate."""
    exe = need_haproxy()
    cfg = StressConfig(threads=1, conns=6, keepalive=True, slow_pct=40, slow_ms=1200, timeout_queue=1000, seconds=6)
    r = run_once(BLACKBOX, cfg, exe, "test", stop_on_stuck=False)
    assert r.requests > 10 and r.requests == r.responses and r.logs_missing == 0, r.client_errors
    assert r.checks == {"dropped_logs": 0, "udp_drops": 0}
    assert r.samples > 100 and r.program_exit is None
    assert len(r.verdicts) >= 1 and r.stuck == 0 and r.legit >= 1
    assert {v.entry.path for v in r.verdicts} == {"backend-queue"}


def test_found_reproducers_load() -> None:
    """Reproducers the exploration wrote (seed 4, 2026-11-27): both paths."""
    files = sorted((DATA / "reproducers").glob("*.json"))
    paths = set()
    for f in files:
        cfg, d, _ = load(f)
        assert binary.is_stress_reproducer(d) and d["observed"]["stuck"] >= 1 and cfg.threads > 1
        paths.update(d["observed"]["paths"])
    assert paths == {"server-queue", "backend-queue"}


# -- builds of other versions ----------------------------------------------------------


def _fake_tree(tmp_path: Path, version: str, ok: bool = True) -> Path:
    tree = tmp_path / f"haproxy-{version}"
    tree.mkdir()
    recipe = (f"\tprintf '#!/bin/sh\\necho \"HAProxy version {version} $(TARGET)\"\\n' > haproxy && chmod +x haproxy"
              if ok else "\t@echo 'src/queue.c:1: error: boom' && exit 1")
    (tree / "Makefile").write_text(f"all:\n{recipe}\n")
    return tree


def test_build_caches_by_version_and_fails_on_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The build script on a cached tree (a stand-in Makefile: no HAProxy
    source is needed for the script's own logic)."""
    from harness.targets.haproxy_binary import build

    monkeypatch.setenv("QFUZZ_CACHE", str(tmp_path / "cache"))
    exe = build.build(_fake_tree(tmp_path, "9.9.1"), "9.9.1", jobs=1)
    assert exe == tmp_path / "cache" / "haproxy" / "9.9.1" / "haproxy"
    out = subprocess.run([str(exe)], capture_output=True, text=True, timeout=10).stdout
    assert out.strip() == "HAProxy version 9.9.1 linux-glibc"  # make got TARGET=linux-glibc
    assert "make -j1 TARGET=linux-glibc USE_THREAD=1" in (exe.parent / "build.log").read_text()
    monkeypatch.setattr(build.debsrc, "fetch", lambda *a: pytest.fail("a cached version must not be fetched"))
    assert build.binary("9.9.1") == str(exe)
    with pytest.raises(QfuzzError) as err:
        build.build(_fake_tree(tmp_path, "9.9.2", ok=False), "9.9.2", jobs=1)
    msg = str(err.value)
    assert msg.startswith("HAProxy 9.9.2: build failed") and "build.log" in msg and "\n" not in msg
    assert "boom" in Path(msg.split("log: ")[1].rstrip(")")).read_text()


def test_unknown_version_is_one_line_and_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    from harness.targets.haproxy_binary import build

    monkeypatch.setenv("QFUZZ_CACHE", str(tmp_path))

    def fetch(package: str, version: str) -> Path:
        raise QfuzzError(f"{package} {version}: not in the Debian source lists (known: 2.6.12, 3.0.11)")

    monkeypatch.setattr(build.debsrc, "fetch", fetch)
    from harness.cli import main

    assert main(["stress", "haproxy_binary", "--haproxy-version", "9.9.9", "--time", "1"]) == 2
    err = capsys.readouterr().err
    assert "9.9.9" in err and err.count("\n") == 1


def test_short_real_scenario_f2() -> None:
    """F2 on the installed binary: the admin commands reach the stats
    socket, every scripted request is logged, and one of the two requests
    of the model's stranding instant times out in the backend queue."""
    exe = need_haproxy()
    from harness.reproducer import load as load_model

    rep = load_model(F2)
    sc = scenario.from_model(rep.workload, rep.verdict)
    o = scenario.run_scenario(sc, exe, "test")
    assert [c for _, c, _ in o.admin] == ["enable server be/s0", "disable server be/s0"]
    assert all(a == "" for _, _, a in o.admin)  # HAProxy accepted both
    assert o.result.requests == 3 and sorted(o.result.outcomes) == [0, 1, 2]
    # r1 and r2 arrive at the same instant; which of them gets S0's second slot is the kernel's choice
    timed_out = [v for v in o.result.verdicts if v.entry.request_id in ("s-1", "s-2")]
    assert len(timed_out) == 1 and timed_out[0].entry.server is None  # queued on the backend
    assert sorted(o.result.outcomes.values()) == ["200", "200", "503"]


def test_short_real_scenario_slowstart() -> None:
    """A slowstart server up at t=0 in the model: the real one leaves
    maintenance just before t=0 and ramps, so with maxconn 2 its limit is
    1 for at least the first second (a 2 s slowstart: 0% then 50% of 2;
    the warmup tick 1 s after the enable still sees 1).  r1 arrives while
    r0 holds that one slot, queues, and times out in 1 s; without the
    mapping it would get the second slot at once."""
    exe = need_haproxy()
    w = {"threads": 1, "servers": [{"maxconn": 2, "slowstart": 100}], "backend": {"balance": "roundrobin"},
         "requests": [{"at": 0, "duration": 100}, {"at": 1, "duration": 0}], "events": []}
    sc = scenario.from_model(w, {"kind": "STUCK", "path": "backend-queue", "request": 1})
    o = scenario.run_scenario(sc, exe, "test")
    assert [(c, a) for _, c, a in o.admin] == [("enable server be/s0", "")]
    assert o.result.outcomes == {0: "200", 1: "503"}, o.log_text
    (v,) = o.result.verdicts
    assert v.entry.request_id == "s-1" and v.entry.term.startswith("sQ") and v.kind == LEGIT  # s0 held r0


def test_engine_knows_no_haproxy() -> None:
    """The black-box engine speaks to HAProxy only through the descriptor:
    no engine import, name or string (docstrings aside) names it, except
    the registry of target names."""
    import ast

    engine = ROOT / "harness" / "stress" / "blackbox"
    for f in sorted(engine.glob("*.py")):
        tree = ast.parse(f.read_text())
        docs = {id(n.body[0].value) for n in ast.walk(tree)
                if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef)) and n.body
                and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
        hits = []
        for n in ast.walk(tree):
            if isinstance(n, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "TARGETS" for t in n.targets):
                continue
            text = (n.module or "") if isinstance(n, ast.ImportFrom) else (
                " ".join(a.name for a in n.names) if isinstance(n, ast.Import) else
                n.id if isinstance(n, ast.Name) else n.attr if isinstance(n, ast.Attribute) else
                n.value if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docs else "")
            if "haproxy" in text.lower():
                hits.append(text)
        hits = [h for h in hits if h != "haproxy_binary"]  # the TARGETS tuple's element
        assert hits == [], (f.name, hits)


def test_corpus_stress_reproducers_still_load() -> None:
    """Files written before the engine split (HAProxy's version under their
    own "haproxy" key) load and name their target and version."""
    from harness.stress.blackbox.repro import program_version

    files = sorted((ROOT / "corpus" / "haproxy_binary").glob("*.json"))
    assert files
    for f in files:
        cfg, d, target = load(f)
        assert target is BLACKBOX and cfg.threads > 1 and program_version(d).startswith("2.6.12")
