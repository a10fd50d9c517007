"""A model reproducer (targets/haproxy_queue) as a timed scenario on the real
HAProxy: `qfuzz repro FILE --against haproxy_binary [--haproxy-version V]`.

The model's time unit becomes SCALE_MS real milliseconds (its usual
`timeout queue` of 50 becomes 1 s, far above the 10 ms stat sampling the
oracle needs).  Then:

* servers: maxconn, minconn (with the backend's fullconn), maxqueue,
  weight, backup, down (`disabled`) as in the workload; balance as in the
  workload (hash becomes `balance uri`, each key its own path; random(draws)
  becomes `balance random(<draws>)`, whose draws HAProxy makes with its own
  generator: a new draw per run, or the same draws at every start before
  715107652, e.g. on 2.6.12); redispatch becomes
  `option redispatch`; persistence cookies become `cookie SRV` and a
  `Cookie: SRV=s<N>` header;
* slowstart: `slowstart <ms>`.  HAProxy never ramps a server at start-up,
  only one leaving maintenance or a failed state, while the model ramps a
  server that is up at t=0 as if it had just come up; so such a server is
  rendered `disabled` and enabled on the stats socket PRE_ENABLE_MS before
  t=0.
  HAProxy keeps slowstart in whole seconds and ticks every second, so the
  ramp's steps are not the model's (five steps of slowstart/5 units, each
  with its warmup tick): the converter says so in the run's header;
* requests: each one on its own connection at its arrival time, held by
  the origin for its modelled duration (`?d=MS`);
* admin events at their times, on the stats socket: `disable server`,
  `enable server`, `set maxconn server`, `shutdown sessions server`.  Each
  command and HAProxy's answer is logged with its time (admin.log).

What cannot be imposed: the model's schedule (which thread runs what, and
when it is preempted) and client pokes.  A finding that is a pure
interleaving therefore shows only by chance on real threads; a logic gap
(F2: no preemption at all) should show every time.  The verdict per run:
reproduced if the real oracle judges a queue timeout STUCK on the model's
path, with the log line as evidence; the model's own stranded request is
named when it is the one."""
from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

from rich.console import Console

from harness.errors import QfuzzError
from harness.stress.blackbox.ab import wilson
from harness.stress.blackbox.procs import signals_as_interrupt
from harness.stress.blackbox.run import RunResult, run_once

from . import _HAProxyBinary
from .config import StressConfig, from_json
from .stack import Stack, haproxy_version
from .stats import stats_command

SCALE_MS = 20  # real milliseconds per model time unit
LEAD_S = 1.5  # the script starts this long after HAProxy answers (the load process must be up)
TAIL_S = 1.0  # after the last request could have ended
MODEL_BALANCE = {"roundrobin": "roundrobin", "hash": "uri", "first": "first", "leastconn": "leastconn",
                 "random": "random"}
# Why requests[].fails is refused (docs/findings_real.md): the model fails chosen connect attempts
# of one request; a real connect error comes from the server's address (a refusing port), so it
# would fail every request connecting to that server at that moment, whichever the schedule.
FAILS_REFUSAL = ("the model workload makes connects fail (requests[].fails): the model fails chosen attempts of "
                 "one request, while a real refusal is per server address and would also fail the other "
                 "requests connecting there at that moment, so it is not mapped")
MAPPABLE_KINDS = ("STUCK",)
# how long before t=0 a slowstart server up at t=0 leaves maintenance: a margin for the admin
# thread and the stats socket under load (at 10 ms, on a load of 10, a t=0 request once found the
# server still in maintenance: 503 SC); HAProxy's ramp counts whole seconds anyway
PRE_ENABLE_MS = 100


@dataclass(frozen=True)
class Scenario:
    """A model workload in real units (ms), ready to render and run."""

    config: StressConfig  # threads, servers, balance, timeout queue, seconds
    server_options: tuple[str, ...]  # per server, the text after its address
    backend_options: tuple[str, ...]
    requests: tuple[tuple[int, str, int], ...]  # (at ms, path, hold ms) per model request
    cookies: tuple[Optional[int], ...]  # per request: the server it persists to, or None
    events: tuple[tuple[int, str], ...]  # (at ms, stats socket command)
    expect_path: str  # the model's queue path of its STUCK
    expect_request: Optional[int]  # the model's stranded request
    ignored: tuple[str, ...] = ()  # what of the workload could not be carried over

    def script(self) -> list[list[Any]]:
        return [[at, path, hold, f"Cookie: SRV=s{c}\r\n" if c is not None else ""]
                for (at, path, hold), c in zip(self.requests, self.cookies)]


def _server_options(s: dict[str, Any], i: int, fullconn: int, cookies: bool, scale: int = SCALE_MS) -> str:
    opts = []
    if s.get("maxconn"):
        opts.append(f"maxconn {int(s['maxconn'])}")
    if fullconn and s.get("minconn") and int(s["minconn"]) < int(s.get("maxconn") or 0):
        opts.append(f"minconn {int(s['minconn'])}")
    if s.get("maxqueue"):
        opts.append(f"maxqueue {int(s['maxqueue'])}")
    if s.get("weight", 1) != 1:
        opts.append(f"weight {int(s['weight'])}")
    if s.get("backup"):
        opts.append("backup")
    if s.get("slowstart"):
        opts.append(f"slowstart {int(s['slowstart']) * scale}ms")
    if s.get("down") or s.get("slowstart"):  # a slowstart server up at t=0 is enabled then (from_model)
        opts.append("disabled")
    if cookies:
        opts.append(f"cookie s{i}")
    return "".join(f" {o}" for o in opts)


def _event_first(verdict: dict[str, Any]) -> bool:
    """True if the model's admin event (an ADM_* critical step) ran before
    the other critical step."""
    crit = [c for c in verdict.get("critical") or [] if isinstance(c, dict)]
    adm = [c["step"] for c in crit if str(c.get("label", "")).startswith("ADM_")]
    other = [c["step"] for c in crit if not str(c.get("label", "")).startswith("ADM_")]
    return bool(adm and other and min(adm) < min(other))


def from_model(workload: dict[str, Any], verdict: dict[str, Any], scale: int = SCALE_MS) -> Scenario:
    """The timed scenario of a model reproducer's workload and verdict.
    QfuzzError (one line) if its shape cannot be mapped."""
    kind = verdict.get("kind")
    if kind not in MAPPABLE_KINDS:
        raise QfuzzError(f"a {kind} finding cannot be mapped onto the real binary: only "
                         f"{', '.join(MAPPABLE_KINDS)} (a request timing out in a queue) is observable from outside")
    servers = workload.get("servers") or []
    backend = workload.get("backend") or {}
    if not servers:
        raise QfuzzError("the model workload has no servers")
    balance = MODEL_BALANCE.get(backend.get("balance", "roundrobin"))
    if balance is None:
        raise QfuzzError(f"balance {backend.get('balance')!r} of the model has no HAProxy counterpart here")
    fullconn = int(backend.get("fullconn") or 0)
    reqs = workload.get("requests") or []
    # model version 3's fields: refused rather than dropped, so a verdict never comes from another shape
    if any(int(r.get("fails") or 0) for r in reqs):
        raise QfuzzError(FAILS_REFUSAL)
    cookies = tuple(r.get("cookie") for r in reqs)
    use_cookies = any(c is not None for c in cookies)
    backend_options = []
    if fullconn:
        backend_options.append(f"fullconn {fullconn}")
    if backend.get("redispatch"):
        backend_options.append("option redispatch")
    if int(backend.get("retries", 3)) != 3:  # HAProxy's default is the model's: 3
        backend_options.append(f"retries {int(backend['retries'])}")
    if use_cookies:
        backend_options.append("cookie SRV")
    requests = tuple((int(r["at"]) * scale, f"/k{int(r.get('key', 0))}", int(r.get("duration", 0)) * scale) for r in reqs)
    events = []
    # HAProxy ramps only a server leaving maintenance: the model's server up at t=0 in slowstart
    # comes out of maintenance just before the first instant
    for i, s in enumerate(servers):
        if int(s.get("slowstart") or 0) and not s.get("down"):
            events.append((-PRE_ENABLE_MS, f"enable server be/s{i}"))
    for e in workload.get("events") or []:
        srv = int(e["server"])
        if not 0 <= srv < len(servers):
            raise QfuzzError(f"an admin event names server {srv}, which the workload does not have")
        name = f"be/s{srv}"
        action = e.get("action")
        if action == "disable":
            cmd = f"disable server {name}"
        elif action == "enable":
            cmd = f"enable server {name}"
        elif action == "set_maxconn":
            cmd = f"set maxconn server {name} {int(e['value'])}"
        elif action == "shutdown":
            cmd = f"shutdown sessions server {name}"
        else:
            raise QfuzzError(f"admin action {action!r} has no stats socket command here")
        at = int(e["at"]) * scale
        if any(int(r["at"]) == int(e["at"]) for r in reqs):
            # same model instant as an arrival: the model's order (its critical steps) says which came
            # first; real time cannot tie, so put the event half a unit on that side of the arrivals
            at += (scale // 2) * (-1 if _event_first(verdict) else 1)
        events.append((at, cmd))
    tq = max(100, int(backend.get("timeout_queue", 50)) * scale)
    last = max([at + hold for at, _, hold in requests] + [at for at, _ in events] + [0])
    seconds = round(LEAD_S + (last + tq) / 1000.0 + TAIL_S, 1)
    cfg = from_json({
        "threads": int(workload.get("threads", 1)), "servers": len(servers),
        "maxconn": max(int(s.get("maxconn") or 0) for s in servers), "balance": balance, "timeout_queue": tq,
        "seconds": seconds, "conns": 1, "keys": max([int(r.get("key", 0)) for r in reqs] + [0]) + 1,
        **({"draws": int(backend.get("draws", 2))} if balance == "random" else {}),
    }, "model workload")
    ignored = []
    if any(r.get("poke") is not None for r in reqs):
        ignored.append("client pokes")
    if backend.get("maxpollevents", 64) != 64:
        ignored.append("maxpollevents")
    if int(workload.get("jitter") or 0):
        ignored.append("timer jitter")
    if balance == "random":
        ignored.append("the random draws (HAProxy's own generator: the same draws at every start before "
                       "715107652, e.g. on 2.6.12)")
    if any(int(s.get("slowstart") or 0) for s in servers):
        ignored.append("the slowstart ramp's steps (HAProxy: whole seconds from the enable, a warmup tick "
                       "every second; the model: 5 steps, each with its tick)")
    if int(workload.get("threads_per_group") or 0):
        ignored.append("the thread groups (the real run uses one group: `thread-groups` is not set)")
    ignored.append("the thread schedule")
    return Scenario(
        config=cfg, server_options=tuple(_server_options(s, i, fullconn, use_cookies, scale) for i, s in enumerate(servers)),
        backend_options=tuple(backend_options), requests=requests, cookies=cookies, events=tuple(sorted(events)),
        expect_path=str(verdict.get("path", "")), expect_request=verdict.get("request"), ignored=tuple(ignored),
    )


def render_commands(sc: Scenario) -> str:
    """The scenario as a shell script an upstream developer can run by hand
    (curl and socat), next to the haproxy.cfg the run writes."""
    lines = ["#!/bin/sh", "# times are from the start of the script; run haproxy -db -f haproxy.cfg first", "t0=$(date +%s.%N)",
             "at() { while [ \"$(echo \"$(date +%s.%N) - $t0 < $1\" | bc)\" = 1 ]; do sleep 0.001; done; }"]
    items: list[tuple[int, str]] = []
    for i, ((at, path, hold), c) in enumerate(zip(sc.requests, sc.cookies)):
        cookie = f" -H 'Cookie: SRV=s{c}'" if c is not None else ""
        items.append((at, f"(at {at / 1000:.3f}; curl -s -o /dev/null -w 'r{i} %{{http_code}} %{{time_total}}\\n'{cookie} "
                          f"'http://127.0.0.1:8080{path}?id=s-{i}&d={hold}') &"))
    for at, cmd in sc.events:
        items.append((at, f"(at {at / 1000:.3f}; echo '{cmd}' | socat stdio /tmp/haproxy.sock) &"))
    lines += [text for _, text in sorted(items, key=lambda x: x[0])]
    lines.append("wait")
    return "\n".join(lines) + "\n"


class ScenarioStack(Stack):
    """The Stack with the scenario's servers and an admin thread that sends
    the scenario's commands at their times (start_at + at)."""

    def __init__(self, cfg: StressConfig, haproxy: str, scenario: Scenario):
        super().__init__(cfg, haproxy)
        self.scenario = scenario
        self.start_at = 0.0
        self.admin: list[tuple[float, str, str]] = []  # (epoch, command, HAProxy's answer)
        self._stop_admin = threading.Event()
        self._admin_thread: Optional[threading.Thread] = None
        self.log_text: list[str] = []

    def render(self, frontend_fd: int) -> str:
        from .config import render_haproxy

        return render_haproxy(self.cfg, frontend_fd, self.server_ports, self.stats_path, self.log_port,
                              server_options=self.scenario.server_options, backend_options=self.scenario.backend_options)

    def start(self) -> None:
        super().start()
        self.start_at = time.time() + LEAD_S
        self._admin_thread = threading.Thread(target=self._admin_loop, name="qfuzz-admin", daemon=True)
        self._admin_thread.start()

    def _admin_loop(self) -> None:
        for at, cmd in self.scenario.events:
            delay = self.start_at + at / 1000.0 - time.time()
            if delay > 0 and self._stop_admin.wait(delay):
                return
            try:
                answer = stats_command(self.stats_path, cmd, timeout=2.0).strip()
            except OSError as exc:
                answer = f"(stats socket: {exc})"
            self.admin.append((time.time(), cmd, answer))

    def load_extra(self) -> dict[str, Any]:
        return {"script": self.scenario.script(), "start_at": self.start_at}

    def judge(self, samples: Sequence[Any]) -> Any:
        try:  # a scenario logs a handful of lines: keep them all, as evidence
            self.log_text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            self.log_text = []
        return super().judge(samples)

    def finish(self) -> None:
        self._stop_admin.set()
        if self._admin_thread is not None:
            self._admin_thread.join(timeout=3)
        if self.dir is not None:
            (self.dir / "admin.log").write_text("".join(f"{t:.3f} {c} -> {a or 'ok'}\n" for t, c, a in self.admin))
        super().finish()


class _ScenarioTarget(_HAProxyBinary):
    def __init__(self, scenario: Scenario):
        self.scenario = scenario

    def start(self, cfg: Any, program: str) -> Any:
        return ScenarioStack(cfg, program, self.scenario)


@dataclass
class Outcome:
    result: RunResult
    admin: list[tuple[float, str, str]] = field(default_factory=list)
    start_at: float = 0.0
    log_text: list[str] = field(default_factory=list)

    def log_line(self, n: int) -> str:
        return self.log_text[n - 1] if 0 < n <= len(self.log_text) else f"(log line {n})"

    def reproduced(self, path: str) -> bool:
        return any(v.kind == "STUCK" and v.path == path for v in self.result.verdicts)


def run_scenario(sc: Scenario, exe: str, version: str = "?") -> Outcome:
    """One run of the scenario on a fresh HAProxy."""
    target = _ScenarioTarget(sc)
    holder: dict[str, Any] = {}
    orig_start = target.start

    def start(cfg: Any, program: str) -> Any:
        st = orig_start(cfg, program)
        holder["stack"] = st
        return st

    target.start = start  # type: ignore[method-assign]
    r = run_once(target, sc.config, exe, version, stop_on_stuck=False)
    st = holder["stack"]
    return Outcome(r, list(st.admin), st.start_at, st.log_text)


def _rel(t: float, t0: float) -> str:
    return f"t={1000 * (t - t0):+.0f} ms"


def explain(o: Outcome, sc: Scenario, console: Console, indent: str = "    ") -> None:
    """The evidence: every admin command, every queue timeout with its log
    line and verdict, relative to the script's start."""
    for t, cmd, ans in o.admin:
        console.print(f"{indent}{_rel(t, o.start_at)} admin: {cmd} -> {ans or 'ok'}", markup=False, highlight=False)
    for v in o.result.verdicts:
        e = v.entry
        console.print(f"{indent}{_rel(e.queued_at, o.start_at)}..{_rel(e.left_queue_at, o.start_at)} {v.kind}: {v.why}",
                      markup=False, highlight=False)
        console.print(f"{indent}  log: {o.log_line(e.line)}", markup=False, highlight=False)


def run_scenario_cli(rep: Any, console: Console, runs: int, seconds: Optional[int], exe: str, budget: float,
                     perturb: Optional[Any] = None) -> int:
    """`perturb`: a perturb.Plan applied to every run (its seed + the run's index)."""
    sc = from_model(rep.workload, rep.verdict)
    if seconds:
        sc = Scenario(**{**sc.__dict__, "config": from_json({**sc.config.to_json(), "seconds": float(seconds)}, "--seconds")})
    version = haproxy_version(exe)
    per = sc.config.seconds + 3.0
    fit = max(1, min(runs, int(budget // per)))
    console.print(f"[bold]{getattr(rep, 'path', '') or 'model reproducer'}[/] ({rep.target}/{rep.variant}, "
                  f"{rep.signature}) as a timed scenario on haproxy {version}: {sc.config.short()}, "
                  f"{len(sc.requests)} requests, {len(sc.events)} admin command(s), {SCALE_MS} ms per model unit")
    console.print(f"  not carried over: {', '.join(sc.ignored)}", highlight=False)
    console.print(f"  {fit} run(s) of {sc.config.seconds:g} s: about {fit * per:.0f} s"
                  + (f" ({runs - fit} more asked for do not fit the {budget:g} s budget)" if fit < runs else ""))
    shown = silent = 0
    with signals_as_interrupt():
        for k in range(1, fit + 1):
            if perturb is not None:
                from dataclasses import replace

                from .perturb import fired

                plan = replace(perturb, seed=perturb.seed + k - 1)
                sc = Scenario(**{**sc.__dict__, "config": from_json({**sc.config.to_json(), "perturb": plan.to_json()},
                                                                    "perturb")})
            o = run_scenario(sc, exe, version)
            ps = o.result.instrumentation.get("perturbation")
            if ps is not None:
                from .perturb_cli import print_hits

                print_hits(ps, console, "  ")
                if not fired(ps):
                    silent += 1
                    console.print(f"run {k}/{fit}: [yellow]no verdict[/] (the delay point never fired)")
                    continue
            ok = o.reproduced(sc.expect_path)
            shown += ok
            exact = sc.expect_request is not None and any(
                v.kind == "STUCK" and v.entry.request_id == f"s-{sc.expect_request}" for v in o.result.verdicts)
            r = o.result
            tag = "[bold red]reproduced[/]" if ok else "[green]not reproduced[/]"
            console.print(f"run {k}/{fit}: {tag} ({r.requests} requests logged, sQ {len(r.verdicts)}, STUCK {r.stuck}, "
                          f"legitimate {r.legit}, unknown {r.unknown}"
                          + (f"; the model's stranded request r{sc.expect_request} too" if exact else "") + ")")
            if ok or k == 1:
                explain(o, sc, console)
    judged = fit - silent
    if not judged:
        raise QfuzzError(f"the perturbation's delay points never fired in {fit} run(s): no verdict")
    lo, hi = wilson(shown, judged)
    console.print(f"[bold]{'reproduced' if shown else 'not reproduced'}[/] on haproxy {version}: {shown} of {judged} run(s) "
                  f"(95% {lo:.2f}-{hi:.2f})" + (f", {silent} run(s) without a delay-point hit (no verdict)" if silent else "")
                  + f"; load average {os.getloadavg()[0]:.1f}")
    return 1 if shown else 0
