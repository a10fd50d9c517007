"""qfuzz stress haproxy_binary: the real HAProxy under loopback stress.

One run (default) starts HAProxy (Debian's build, --haproxy-version V for a
version built from Debian's tarballs, or --haproxy PATH) in front
of origin server(s) on 127.0.0.1, drives `--conns` HTTP clients for `--time`
seconds, samples `show stat` every 10 ms, and classifies every queue timeout
(`sQ` in the log) as STUCK (a server it could use sat idle for the whole
wait) or legitimate (overload).  `--explore` searches configurations for
`--time` seconds instead and saves each STUCK as a stress reproducer.

Exit status: 1 if a STUCK was seen, 0 if not, 2 on bad usage, or when a
perturbed run's delay points never fired (for `--explore`: in every run;
a shape that never queued is only "no verdict" for its run)."""
from __future__ import annotations

import argparse
import datetime
import os
import sys
import time
from pathlib import Path
from typing import Any, NoReturn, Optional, Sequence

from rich.console import Console
from rich.table import Table

from harness.errors import QfuzzError, ReproducerError
from harness.stress.blackbox.explore import Exploration, Row, explore
from harness.stress.blackbox.procs import signals_as_interrupt
from harness.stress.blackbox.repro import FORMAT, NOTE, load, make, program_version, write
from harness.stress.blackbox.run import Progress, RunResult, run_once

from . import BLACKBOX, PATHS, perturb_cli
from .build import DEBIAN, binary, check_version
from .config import BALANCES, LIMITS, ORIGINS, StressConfig, from_json
from .perturb import plan_from_json
from .stack import find_haproxy, haproxy_version

DEFAULT_CORPUS = Path("corpus") / "haproxy_binary"


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit 2
        self.exit(2, f"qfuzz stress: error: {message}\n")


def _int_in(name: str) -> Any:
    lo, hi = LIMITS[name]

    def conv(s: str) -> int:
        try:
            v = int(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{s!r} is not an integer") from None
        if not lo <= v <= hi:
            raise argparse.ArgumentTypeError(f"{v} is outside {lo}..{hi}")
        return v

    return conv


def _seconds(s: str) -> float:
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{s!r} is not a number") from None
    if not 1 <= v <= 3600:
        raise argparse.ArgumentTypeError(f"{s!r} must be within 1..3600 seconds")
    return v


def _version(s: str) -> str:
    try:
        return check_version(s)
    except QfuzzError as exc:
        raise argparse.ArgumentTypeError(str(exc).split(": ", 1)[-1]) from None


def resolve_haproxy(path: Optional[str], version: Optional[str], console: Optional[Console] = None,
                    perturbed: bool = False) -> str:
    """The executable for --haproxy PATH / --haproxy-version V (never both);
    `perturbed`: V's instrumented build (perturb_build.py)."""
    if path and version:
        raise QfuzzError("--haproxy and --haproxy-version: give one of them")
    if perturbed:
        if path or not version or version == DEBIAN:
            raise QfuzzError("--perturb needs --haproxy-version V (an instrumented build of V is made once)")
        from .perturb_build import perturbed_binary

        return perturbed_binary(version, on_status=(lambda m: console.print(f"[dim]{m}[/]")) if console else None)
    if version and version != DEBIAN:
        return binary(version, on_status=(lambda m: console.print(f"[dim]{m}[/]")) if console else None)
    return find_haproxy(path) if path else binary(DEBIAN) if version == DEBIAN else find_haproxy(None)


def build_parser() -> Parser:
    d = StressConfig()
    p = Parser(prog="qfuzz stress haproxy_binary", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("target", choices=["haproxy_binary"], help=argparse.SUPPRESS)
    p.add_argument("--haproxy", metavar="PATH", help="the HAProxy binary (default: haproxy on PATH or /usr/sbin)")
    p.add_argument("--haproxy-version", metavar="V", type=_version, default=None,
                   help=f"HAProxy built from Debian's tarball of version V (e.g. 2.6.12, 3.0.11; fetched and built once, "
                        f"cached); {DEBIAN!r}: the installed package (the default)")
    p.add_argument("--time", type=_seconds, metavar="S", help="seconds of load (with --explore: the whole budget; "
                   "default 30, or 300 with --explore)")
    p.add_argument("--threads", type=_int_in("threads"), default=d.threads, metavar="T", help="HAProxy nbthread")
    p.add_argument("--servers", type=_int_in("servers"), default=d.servers, metavar="N")
    p.add_argument("--maxconn", type=_int_in("maxconn"), default=d.maxconn, metavar="M", help="per server (0: none)")
    p.add_argument("--balance", choices=BALANCES, default=d.balance)
    p.add_argument("--conns", type=_int_in("conns"), default=d.conns, metavar="C", help="concurrent clients")
    p.add_argument("--keepalive", action=argparse.BooleanOptionalAction, default=d.keepalive,
                   help="clients reuse their connection (default: a new connection per request)")
    p.add_argument("--timeout-queue", type=_int_in("timeout_queue"), default=d.timeout_queue, metavar="MS")
    p.add_argument("--seed", type=_int_in("seed"), default=d.seed, metavar="N")
    p.add_argument("--keys", type=_int_in("keys"), default=d.keys, metavar="K", help="distinct URI paths")
    p.add_argument("--slow-pct", type=_int_in("slow_pct"), default=d.slow_pct, metavar="P",
                   help="percent of requests the origin holds --slow-ms")
    p.add_argument("--slow-ms", type=_int_in("slow_ms"), default=d.slow_ms, metavar="MS")
    p.add_argument("--think-ms", type=_int_in("think_ms"), default=d.think_ms, metavar="MS",
                   help="each client pauses 0..MS between requests")
    p.add_argument("--origin", choices=ORIGINS, default=d.origin, help="the servers behind HAProxy")
    p.add_argument("--max-requests", type=_int_in("max_requests"), default=d.max_requests, metavar="N")
    p.add_argument("--no-stop", action="store_true", help="run the full time even after a STUCK")
    p.add_argument("--keep", metavar="DIR", help="keep the config, log and stat samples of the run in DIR (single runs)")
    g = p.add_argument_group("exploration")
    g.add_argument("--explore", action="store_true", help="search configurations instead of one run")
    g.add_argument("--run-time", type=_seconds, default=20.0, metavar="S", help="seconds per explored run (default 20)")
    g.add_argument("--path", choices=[*PATHS, "both"], default="both", help="which queue path to hunt")
    g.add_argument("--full", action="store_true", help="use the whole --time even after every path was found")
    g.add_argument("--control-every", type=int, default=4, metavar="K", help="an nbthread 1 control every K runs (0: none)")
    g.add_argument("--corpus", metavar="DIR", default=str(DEFAULT_CORPUS), help="where found cases go")
    g.add_argument("--no-save", action="store_true", help="do not write reproducers")
    perturb_cli.add_arguments(p)
    return p


def config_from_args(a: argparse.Namespace, seconds: float, perturb: Optional[dict[str, Any]] = None) -> StressConfig:
    return from_json({
        "threads": a.threads, "servers": a.servers, "maxconn": a.maxconn, "balance": a.balance, "conns": a.conns,
        "keepalive": a.keepalive, "timeout_queue": a.timeout_queue, "seconds": seconds, "seed": a.seed,
        "keys": a.keys, "slow_pct": a.slow_pct, "slow_ms": a.slow_ms, "think_ms": a.think_ms, "origin": a.origin,
        "max_requests": a.max_requests, **({"perturb": perturb} if perturb else {}),
    }, "options")


def main(argv: Sequence[str], console: Console) -> int:
    args = build_parser().parse_args(list(argv))
    paths = PATHS if not args.explore or args.path == "both" else (args.path,)
    plan, reasons = perturb_cli.plan_from_args(args, paths if args.explore else (config_from_args(args, 1).path,))
    haproxy = resolve_haproxy(args.haproxy, args.haproxy_version, console, perturbed=plan is not None)
    version = haproxy_version(haproxy)
    if plan is not None:
        perturb_cli.print_plan(plan, reasons, console)
    with signals_as_interrupt():
        if args.explore:
            return _explore(args, console, haproxy, version, plan.to_json() if plan else None)
        cfg = config_from_args(args, args.time or 30.0, plan.to_json() if plan else None)
        console.print(f"[bold]haproxy {version}[/]  {cfg.short()}  {cfg.seconds:g} s, seed {cfg.seed}")
        result = run_once(BLACKBOX, cfg, haproxy, version, stop_on_stuck=not args.no_stop,
                          keep=Path(args.keep) if args.keep else None, on_progress=_live(console))
        print_result(result, console)
        if perturb_cli.never_fired(result) and not result.stuck:
            sys.stderr.write("qfuzz: error: the perturbation's delay points never fired in this run "
                             "(nothing queued?): no verdict\n")
            return 2
        if result.stuck and not args.no_save:
            saved = write(Path(args.corpus), make(BLACKBOX, result, {"engine": "stress", "seed": cfg.seed}))
            if saved:
                console.print(f"saved {saved}  (re-run: qfuzz repro {saved} --runs 5)")
        return 1 if result.stuck else 0


# -- reporting ---------------------------------------------------------------------


def _live(console: Console) -> Any:
    def show(p: Progress) -> None:
        if int(p.elapsed) % 5 == 0 and p.elapsed >= 1:
            console.print(f"  [dim]{p.elapsed:4.0f} s: {p.lines} requests logged, {p.queue_timeouts} queue timeouts, "
                          f"longest idle-server stall {p.stall * 1000:.0f} ms[/]")
    return show


def _clock(t: float) -> str:
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%H:%M:%S.%f")[:-3]


def print_result(r: RunResult, console: Console, indent: str = "") -> None:
    rate = r.requests / r.seconds if r.seconds else 0.0
    console.print(f"{indent}{r.requests} requests in {r.seconds:.1f} s ({rate:.0f}/s); status {r.status}"
                  + (f"; client errors {r.client_errors}" if r.client_errors else ""))
    console.print(f"{indent}log: {r.requests} lines for {r.responses} responses ({r.logs_missing} missing), "
                  f"DroppedLogs {r.checks.get('dropped_logs', -1)}, UDP drops {r.checks.get('udp_drops', -1)}; {r.samples} stat samples, max gap {r.max_sample_gap * 1000:.0f} ms")
    if r.max_sample_gap > 1.0:
        console.print(f"{indent}[yellow]HAProxy did not answer its stats socket for up to {r.max_sample_gap:.1f} s "
                      "(starved of CPU?): a queue timeout inside such a gap is judged unknown, never STUCK[/]")
    if "perturbation" in r.instrumentation:
        perturb_cli.print_hits(r.instrumentation["perturbation"], console, indent)
    if r.program_exit is not None:
        console.print(f"{indent}[bold red]HAProxy exited with status {r.program_exit} during the run[/]")
    style = "bold red" if r.stuck else "bold green"
    console.print(f"{indent}queue timeouts (sQ) {len(r.verdicts)}: [{style}]STUCK {r.stuck}[/], legitimate {r.legit}, "
                  f"unknown {r.unknown}; [{style}]{r.stuck_per_million:.1f} STUCK per million requests[/], "
                  f"{len(r.episodes)} episode(s)"
                  + (f"; first STUCK visible after {r.first_stuck_seconds:.1f} s" if r.first_stuck_seconds is not None else ""))
    for k, ep in enumerate(r.episodes, 1):
        v = ep.verdicts[0]
        console.print(f"{indent}  episode {k}: {_clock(ep.start)}-{_clock(ep.end)} UTC, {len(ep.verdicts)} STUCK, "
                      f"{', '.join(ep.paths)}; first: {v.entry.request!r} (log line {v.entry.line}, Tw {v.entry.Tw} ms, "
                      f"{v.entry.term}, server {v.entry.server or '<NOSRV>'})")
        console.print(f"{indent}    evidence: {v.why}; backend qcur max {v.backend_qcur_max}, "
                      + ", ".join(f"{s.server} qcur max {s.qcur_max}" for s in v.servers))
    legit = [v for v in r.verdicts if v.kind != "STUCK"][:3]
    for v in legit:
        console.print(f"{indent}  [dim]{v.kind}: {v.entry.request!r} Tw {v.entry.Tw} ms: {v.why}[/]")


def _explore(args: argparse.Namespace, console: Console, haproxy: str, version: str,
             perturb: Optional[dict[str, Any]] = None) -> int:
    paths = PATHS if args.path == "both" else (args.path,)
    seconds = args.time or 300.0
    base = {k: v for k, v in config_from_args(args, 10, perturb).to_json().items()
            if k in ("timeout_queue", "origin", "max_requests", "perturb")}
    corpus = None if args.no_save else Path(args.corpus)
    console.print(f"[bold]haproxy {version}[/]: exploring {', '.join(paths)} for {seconds:g} s "
                  f"({args.run_time:g} s per run), seed {args.seed}; nbthread 1 control every {args.control_every} runs")

    def on_run(row: Row) -> None:
        r = row.result
        tag = "[cyan]control[/] " if row.control else ""
        style = "bold red" if r.stuck else "green"
        console.print(f"run {row.index:3d} @{row.wall_start:5.0f}s {tag}{row.config.short()}: {r.requests} req, "
                      f"sQ {len(r.verdicts)}, [{style}]STUCK {r.stuck}[/] ({', '.join(r.paths) or '-'}), legit {r.legit}, "
                      f"unknown {r.unknown}" + (f" -> {row.saved}" if row.saved else ""))
        if "perturbation" in r.instrumentation:
            perturb_cli.print_hits(r.instrumentation["perturbation"], console, "    ", verdict=False)
            if perturb_cli.never_fired(r):
                console.print(f"    [yellow]no verdict: the shape never queued[/] (the delay points never fired), "
                              f"so its {r.requests} requests are not counted as judged")

    def on_error(i: int, cfg: StressConfig, msg: str) -> None:
        console.print(f"run {i:3d} {cfg.short()}: [yellow]skipped: {msg}[/]")

    ex = explore(
        BLACKBOX, seed=args.seed, seconds=seconds, run_seconds=args.run_time, program=haproxy, version=version, paths=paths,
        base=base, corpus=corpus, control_every=args.control_every, until_found=not args.full, on_run=on_run,
        on_error=on_error,
    )
    print_exploration(ex, paths, console)
    code, error = exploration_status(ex.rows)
    if error:
        sys.stderr.write(f"qfuzz: error: {error}\n")
    return code


def judged_rows(rows: Sequence[Row]) -> list[Row]:
    """The runs that give a verdict: all of them, except a perturbed run
    whose delay points never fired (its shape never queued)."""
    return [r for r in rows if not perturb_cli.never_fired(r.result)]


def exploration_status(rows: Sequence[Row]) -> tuple[int, Optional[str]]:
    """The exploration's exit status and, for 2, its one-line reason: 1 if
    a run showed STUCK, 0 if the judged runs were clean (a perturbed shape
    that never queued is only reported as no verdict), 2 if no run was
    judged at all (the delay points fired in none)."""
    if any(r.result.stuck for r in rows):
        return 1, None
    if rows and not judged_rows(rows):
        return 2, (f"the perturbation's delay points never fired in any of the {len(rows)} run(s): "
                   "no verdict (nothing queued?)")
    return 0, None


def print_exploration(ex: Exploration, paths: Sequence[str], console: Console) -> None:
    t = Table(title="configurations", box=None, header_style="dim")
    for col in ("#", "configuration", "control", "requests", "sQ", "STUCK", "legit", "unknown", "per million", "path"):
        t.add_column(col)
    for row in ex.rows:
        r = row.result
        t.add_row(str(row.index), row.config.short(), "yes" if row.control else "", str(r.requests), str(len(r.verdicts)),
                  str(r.stuck), str(r.legit), str(r.unknown), f"{r.stuck_per_million:.0f}", ", ".join(r.paths) or "-")
    console.print(t)
    for p in paths:
        if p in ex.first_stuck:
            console.print(f"{p}: first STUCK after {ex.first_stuck[p]:.0f} s of exploration")
        else:
            console.print(f"{p}: [yellow]no STUCK found[/] in {len(ex.rows)} runs")
    judged = judged_rows(ex.rows)
    silent = [r for r in ex.rows if r not in judged]
    if silent:
        console.print(f"[yellow]no verdict[/] in {len(silent)} run(s) ({', '.join(str(r.index) for r in silent)}): "
                      f"the shape never queued (the delay points never fired); their "
                      f"{sum(r.result.requests for r in silent)} requests are not counted below")
    threaded = [r for r in judged if not r.control]
    console.print(f"judged: {len(judged)} run(s); {sum(r.result.requests for r in threaded)} threaded requests, "
                  f"{sum(r.result.stuck for r in threaded)} STUCK")
    c = [r for r in judged if r.control]
    reqs = sum(r.result.requests for r in c)
    sq = sum(len(r.result.verdicts) for r in c)
    style = "bold red" if ex.control_stuck else "bold green"
    console.print(f"nbthread 1 control: {len(c)} runs, {reqs} requests, {sq} queue timeouts, "
                  f"[{style}]{ex.control_stuck} STUCK[/]" + (" (expected 0: see the runs above)" if ex.control_stuck else ""))
    saved = [r.saved for r in ex.rows if r.saved]
    for s in saved:
        console.print(f"saved {s}")


# -- the `qfuzz repro` side ------------------------------------------------------------

REPLAY_BUDGET = 60.0  # seconds of load a stress replay uses unless --budget says otherwise
RUN_OVERHEAD = 3.0  # start, drain and judge, per run (measured: 2-4 s on a quiet machine)


def is_stress_reproducer(data: dict[str, Any]) -> bool:
    """True for a stress reproducer (format "qfuzz-stress-reproducer")."""
    from harness.stress.blackbox.repro import is_stress_reproducer as _is

    return _is(data)


def plan_replay(runs: int, seconds: float, budget: float) -> tuple[int, float]:
    """How many of `runs` re-runs of `seconds` fit in `budget` seconds of
    wall time (at least one), and the wall time they will take."""
    per = seconds + RUN_OVERHEAD
    fit = max(1, min(runs, int(budget // per)))
    return fit, fit * per


def _rerun(cfg: StressConfig, console: Console, runs: int, exe: str) -> int:
    from harness.stress.blackbox.ab import per_million_ci, wilson

    version = haproxy_version(exe)
    shown = requests = stuck = eps = 0
    t0 = time.monotonic()
    with signals_as_interrupt():
        for k in range(1, runs + 1):
            r = run_once(BLACKBOX, cfg, exe, version)
            if "perturbation" in r.instrumentation and not r.stuck:  # a STUCK re-run prints them with its result
                perturb_cli.print_hits(r.instrumentation["perturbation"], console, "  ")
            requests += r.requests
            stuck += r.stuck
            eps += len(r.episodes)
            console.print(f"re-run {k}/{runs}: {r.requests} requests, sQ {len(r.verdicts)}, "
                          f"{'[bold red]' if r.stuck else '[green]'}STUCK {r.stuck}[/] ({', '.join(r.paths) or '-'}), "
                          f"legitimate {r.legit}, unknown {r.unknown}")
            if r.stuck:
                shown += 1
                print_result(r, console, indent="  ")
    lo, hi = wilson(shown, runs)
    plo, phi = per_million_ci(eps, requests)
    console.print(f"[bold]{shown} of {runs} re-run(s) showed STUCK[/] on haproxy {version} in {time.monotonic() - t0:.0f} s: "
                  f"rate {shown / runs:.2f} per run (95% {lo:.2f}-{hi:.2f}); {stuck} STUCK, {eps} episode(s) in "
                  f"{requests} requests: {1e6 * eps / requests if requests else 0:.0f} episodes per million "
                  f"(95% {plo:.0f}-{phi:.0f}); load average {os.getloadavg()[0]:.1f}")
    console.print("  [dim](real threads are not deterministic: each re-run is a new draw, and 0 of N does not mean fixed)[/]")
    return 1 if shown else 0


def repro_file(path: str | Path, console: Console, runs: int, seconds: Optional[float] = None,
               budget: Optional[float] = None, haproxy_version_: Optional[str] = None, haproxy: Optional[str] = None,
               **_: Any) -> int:
    """Re-run a stress reproducer up to `runs` times, within `budget`
    seconds (default REPLAY_BUDGET: the plan is printed first).  1 if any
    re-run showed STUCK, 0 if none did, 2 if the file or the HAProxy
    wanted is unusable (one line on stderr)."""
    try:
        cfg, d, _target = load(path)
        if seconds is not None:
            cfg = from_json({**cfg.to_json(), "seconds": float(seconds)}, "--seconds")
        plan = plan_from_json(cfg.perturb, f"{path}: config.perturb") if cfg.perturb else None
        exe = resolve_haproxy(haproxy, haproxy_version_ or (plan.version if plan else None), console,
                              perturbed=plan is not None)
    except QfuzzError as exc:
        sys.stderr.write(f"qfuzz: error: {exc}\n")
        return 2
    obs = d.get("observed", {})
    console.print(f"[bold]{path}[/]  haproxy_binary ({FORMAT} v{d['version']}): {cfg.short()}, {cfg.seconds:g} s per run")
    console.print(f"  found: {obs.get('stuck', '?')} STUCK in {obs.get('requests', '?')} requests "
                  f"({', '.join(obs.get('paths') or []) or '?'}) on haproxy {program_version(d)}")
    console.print(f"  [dim]{NOTE}[/]")
    if plan is not None:
        console.print(f"  the same perturbation plan is applied: {plan.short()}")
    fit, wall = plan_replay(runs, cfg.seconds, budget if budget is not None else REPLAY_BUDGET)
    more = f" (budget {budget if budget is not None else REPLAY_BUDGET:g} s: {runs - fit} of the {runs} asked for do not fit; " \
           "raise --budget, or lower --seconds)" if fit < runs else ""
    console.print(f"  {fit} re-run(s) of {cfg.seconds:g} s: about {wall:.0f} s{more}")
    try:
        return _rerun(cfg, console, fit, exe)
    except QfuzzError as exc:
        sys.stderr.write(f"qfuzz: error: {exc}\n")
        return 2


def against(model_reproducer: Any, console: Console, runs: int, seconds: float, haproxy_version_: Optional[str] = None,
            haproxy: Optional[str] = None, budget: Optional[float] = None, perturb: Optional[str] = None,
            **_: Any) -> int:
    """`qfuzz repro FILE --against haproxy_binary`: the model reproducer as a
    timed real scenario (scenario.py), run up to `runs` times within the
    budget, with a verdict per run and the real log lines as evidence.
    1 if the finding reproduced, 0 if not, 2 (one line) if it cannot run."""
    from .scenario import from_model, run_scenario_cli

    try:
        from_model(model_reproducer.workload, model_reproducer.verdict)  # an unmappable file is bad input: say so first
        plan = perturb_cli.scenario_plan(model_reproducer, perturb, haproxy_version_, console)
        exe = resolve_haproxy(haproxy, haproxy_version_, console, perturbed=plan is not None)
        return run_scenario_cli(model_reproducer, console, runs, seconds, exe,
                                budget if budget is not None else REPLAY_BUDGET, plan)
    except QfuzzError as exc:
        sys.stderr.write(f"qfuzz: error: {exc}\n")
        return 2
