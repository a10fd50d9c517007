#!/usr/bin/env python3
"""The real HAProxy next to the model, per configuration.

For each shape: STUCK per million requests and seconds to the first STUCK
on the real binary (`qfuzz stress haproxy_binary` machinery, one run of
--seconds), and the model's seconds to its first STUCK for the same shape
(harness.engines.campaign.Campaign on haproxy_queue/pre-fix, PCT, the seed
workload's request pattern on that many threads and servers).

--ab: the A/B on real versions, all in one run: per version (--versions,
built from Debian's tarballs by targets/haproxy_binary/build.py; "debian" is
the installed package) and path, the same seeded shapes (the exploration's
seed shapes of that path, seed --seed) for --seconds each, and each shape's
nbthread 1 control: requests, STUCK, episodes, STUCK per million, episodes
per million with a 95% interval (harness/stress/blackbox/ab.py), requests
and seconds to the first STUCK.

--findings: every model finding with an admin or backup event (and F1) as a
timed real scenario (targets/haproxy_binary/scenario.py), --runs runs per
version: reproduced k of n, with the first real log line of a STUCK.  With
--perturb: on the instrumented builds, perturbed at the points the
finding's own critical events map to (targets/haproxy_binary/points.py:
for_verdict).

--perturb: plain stress against model-guided perturbation, all in one run:
per version (--versions) and path (PERTURB_SHAPES: 2 keep-alive clients, where
plain stress is not trivially fast; --seed-shape: the path's first seed shape),
--seeds seeds of plain stress on the plain build (--seconds per run, stop at
the first STUCK) and of each perturbation mode (--modes: prob, pct) on the
instrumented build (--perturb-seconds per run), the `--perturb auto` points
(targets/haproxy_binary/points.py).  Per run: requests and seconds to the
first STUCK, or "not found in N requests" (a bound), and the delay point's
hits.  Per version and path: the medians, their ratio (">=" when the plain
median is a bound), and a perturbed nbthread 1 control.

--locks: what reaches HAProxy's locks in the race-window functions, per
version.  Static: queue.c, backend.c and stream.c of the cached tree compiled
three ways (the release flags with -fsanitize=thread; with -DDEBUG_THREAD
-finstrument-functions; the release flags with -finstrument-functions, the
perturbation build) and, per function, counted: lock-prefixed instructions
(HAProxy's plock inline asm and the compiler's own atomics alike),
__tsan_atomic calls, calls to the out-of-line lock functions (__spin_lock,
__ha_rwlock_*), pthread calls and entry/exit hooks.  Dynamic: one short
perturbed run with a count point on every race-window function: hits per
1000 requests.

Prints figures only: no timed asserts.  The machine's other load changes the
real figures a lot; the load average is printed with every row.

    python bench/bench_haproxy_binary.py --seconds 60 --model-cap 30
    python bench/bench_haproxy_binary.py --ab --versions 2.6.12,3.0.11 --seconds 30
    python bench/bench_haproxy_binary.py --findings --versions debian,3.0.11 --runs 3
    python bench/bench_haproxy_binary.py --perturb --versions 2.6.12 --path backend-queue --seeds 5 --seconds 30
    python bench/bench_haproxy_binary.py --perturb --versions 2.6.12 --path server-queue --seeds 5 --seconds 20 \
        --perturb-seconds 10 --modes prob
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.debs import ensure  # noqa: E402
from harness.engines.campaign import Campaign  # noqa: E402
from harness.stress.blackbox.run import run_once  # noqa: E402
from harness.targets.haproxy_binary import BLACKBOX  # noqa: E402
from harness.targets.haproxy_binary.config import StressConfig  # noqa: E402
from harness.targets.haproxy_binary.stack import find_haproxy, haproxy_version  # noqa: E402
from harness.targets import get  # noqa: E402

SHAPES: dict[str, dict[str, Any]] = {
    "server-queue (uri, 3 threads, 4 ka clients)": {"balance": "uri", "threads": 3, "conns": 4, "keepalive": True, "think_ms": 1},
    "server-queue (uri, 3 threads, 50 clients)": {"balance": "uri", "threads": 3, "conns": 50},
    "backend-queue (roundrobin, 3 threads, 2 ka clients)": {"balance": "roundrobin", "threads": 3, "conns": 2, "keepalive": True},
    "backend-queue (roundrobin, 2 threads, 4 clients)": {"balance": "roundrobin", "threads": 2, "conns": 4, "think_ms": 1},
    "control (uri, nbthread 1, 4 ka clients)": {"balance": "uri", "threads": 1, "conns": 4, "keepalive": True, "think_ms": 1},
    "control (roundrobin, nbthread 1, 2 ka clients)": {"balance": "roundrobin", "threads": 1, "conns": 2, "keepalive": True},
}
# --perturb's shapes, per path: where plain stress is not trivially fast, so a ratio means something.
# The server queue's exploration seed (4 clients, think 1 ms) strands within ~140 plain requests through
# another window (b11495652's trylock), where a delay at pendconn_add cannot gain 100x; with 2
# keep-alive clients and no think time plain stress found none in 54,101 requests (docs/haproxy_binary.md).
PERTURB_SHAPES: dict[str, dict[str, Any]] = {
    "server-queue": {"balance": "uri", "threads": 3, "conns": 2, "keepalive": True},
    "backend-queue": {"balance": "roundrobin", "threads": 3, "conns": 2, "keepalive": True},
}
MODEL_BALANCE = {"uri": "hash", "source": "hash", "roundrobin": "roundrobin", "first": "first", "leastconn": "leastconn"}


def model_workload(cfg: StressConfig) -> dict[str, Any]:
    """The seed workload's pattern (arrivals meeting the previous end on a
    10-unit grid) on cfg's threads and servers."""
    times = [0, 10, 10, 20, 20, 30]
    return {
        "threads": cfg.threads,
        "servers": [{"maxconn": cfg.maxconn}] * cfg.servers,
        "backend": {"balance": MODEL_BALANCE[cfg.balance], "timeout_queue": 50},
        "requests": [{"at": at, "thread": i % cfg.threads, "duration": 10, "key": 0} for i, at in enumerate(times)],
    }


def model_first_stuck(cfg: StressConfig, cap: float, seed: int) -> tuple[Optional[float], int]:
    target = get("haproxy_queue")
    camp = Campaign(target, "pre-fix", "pct", seed=seed, workload=target.workload(model_workload(cfg)), minimize_seconds=0)
    res = camp.run(seconds=cap, stop=lambda f: f.kind == "STUCK")
    stuck = [f.first_seconds for f in res.findings.values() if f.kind == "STUCK"]
    return (min(stuck) if stuck else None), res.executions


def fmt(x: Optional[float]) -> str:
    return "-" if x is None else f"{x:.2f}"


FINDINGS = {  # model reproducers whose failure is not a pure interleaving, and F1 (corpus/haproxy_queue/)
    # globs: the corpus is re-minimized from time to time, which changes the middle of the names
    "F1 (fixed)": "fixed--stuck-backend-queue-*-md_pxqlen-*.json",
    "F2 (fixed, lb_full)": "fixed--stuck-backend-queue-lb_full-adm_disable-*.json",
    "F2 (fixed, skip-LB)": "fixed--stuck-backend-queue-as_skiplb_full-adm_disable-*.json",
    "F4 (fixed)": "fixed--stuck-backend-queue-*-adm_enable-*.json",
    "6a78e6169 (revert)": "revert-6a78e6169--stuck-*.json",
    "a8694654b (revert)": "revert-a8694654b--*.json",
    "ca275d99c (revert)": "revert-ca275d99c--*.json",
}


def load1() -> str:
    return f"{os.getloadavg()[0]:.1f}"


def executables(versions: str) -> list[tuple[str, str]]:
    from harness.targets.haproxy_binary.build import binary

    out = []
    for v in versions.split(","):
        exe = binary(v.strip(), on_status=lambda m: print(f"# {m}", flush=True))
        out.append((haproxy_version(exe), exe))
    return out


def ab_main(args: argparse.Namespace) -> int:
    from harness.stress.blackbox.ab import Cell, per_million_ci
    from harness.targets.haproxy_binary import SEEDS, control

    print(f"# {datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')}  A/B, {args.seconds:g} s per "
          f"shape, seed {args.seed}, {os.cpu_count()} CPUs, load average {load1()}")
    print(f"{'version':24} {'path':14} {'threads':>7} {'runs':>4} {'requests':>9} {'STUCK':>6} {'episodes':>8} "
          f"{'unknown':>7} {'STUCK/M':>8} {'episodes/M (95%)':>22} {'1st STUCK: req / s':>19} {'load':>5}")
    for version, exe in executables(args.versions):
        for path, shapes in SEEDS.items():
            if args.path and args.path != path:
                continue
            for is_control in (False, True):
                cell, firsts = Cell(), []
                for k, shape in enumerate(shapes):
                    sh = control(shape) if is_control else shape
                    cfg = StressConfig(**{**sh, "seconds": args.seconds, "seed": args.seed * 1000 + k})
                    r = run_once(BLACKBOX, cfg, exe, version, stop_on_stuck=False)
                    cell.add(r.requests, r.stuck, len(r.episodes), r.unknown, r.seconds)
                    if r.stuck:
                        t = r.first_stuck_seconds or 0.0
                        firsts.append(f"{sum(e.date <= r.started + t for e in r.entries)} / {t:.1f}")
                lo, hi = per_million_ci(cell.episodes, cell.requests)
                print(f"{version:24} {path:14} {'1' if is_control else 'seed':>7} {cell.runs:4d} {cell.requests:9d} "
                      f"{cell.stuck:6d} {cell.episodes:8d} {cell.unknown:7d} {cell.stuck_per_million:8.0f} "
                      f"{cell.episodes_per_million:8.0f} ({lo:5.0f}-{hi:5.0f}) {(firsts[0] if firsts else '-'):>19} "
                      f"{load1():>5}", flush=True)
    return 0


def findings_main(args: argparse.Namespace) -> int:
    from harness.errors import QfuzzError
    from harness.reproducer import load as load_model
    from harness.targets.haproxy_binary import scenario

    corpus = Path(__file__).resolve().parent.parent / "corpus" / "haproxy_queue"
    print(f"# {datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')}  findings as timed "
          f"scenarios, {args.runs} run(s) each, {os.cpu_count()} CPUs, load average {load1()}")
    exes = executables(args.versions)
    if args.perturb:
        from harness.targets.haproxy_binary.perturb_build import perturbed_binary

        exes = [(haproxy_version(e), e) for e in (perturbed_binary(v) for v in args.versions.split(","))]
    for name, pattern in FINDINGS.items():
        if args.only and args.only not in name:
            continue
        files = sorted(corpus.glob(pattern))
        if not files:
            print(f"{name:22} (no reproducer {pattern})")
            continue
        rep = load_model(files[0])
        try:
            sc = scenario.from_model(rep.workload, rep.verdict)
        except QfuzzError as exc:
            print(f"{name:22} {rep.signature}: not mappable: {exc}")
            continue
        if args.perturb:
            from harness.targets.haproxy_binary.config import from_json
            from harness.targets.haproxy_binary.perturb import Plan
            from harness.targets.haproxy_binary.points import for_verdict

            choice = for_verdict(rep.verdict, files[0].name)
            if not any(p.role == "delay" for p in choice.points):
                print(f"{name:22} {rep.signature}: no delay point maps its critical events")
                continue
            for line in choice.reasons:
                print(f"# {name}: {line}")
        for version, exe in exes:
            shown, evidence, silent = 0, "", 0
            for k in range(args.runs):
                if args.perturb:
                    plan = Plan(version.split("-")[0], tuple(choice.points), seed=k, ppm=args.ppm,
                                delay_us=(args.delay_us, args.delay_us))
                    sc = scenario.Scenario(**{**sc.__dict__, "config": from_json(
                        {**sc.config.to_json(), "perturb": plan.to_json()}, "perturb")})
                o = scenario.run_scenario(sc, exe, version)
                ps = o.result.instrumentation.get("perturbation")
                if ps is not None:
                    from harness.targets.haproxy_binary.perturb import fired

                    hits = {n.split(":")[0]: e["hits"] for n, e in ps["points"].items()}
                    silent += not fired(ps)
                    verdict = "STUCK" if o.reproduced(sc.expect_path) else "clean" if fired(ps) else "no verdict"
                    print(f"#   run {k}: {verdict}, hook hits {hits}, delays "
                          f"{sum(e['delays'] for e in ps['points'].values())}")
                if o.reproduced(sc.expect_path):
                    shown += 1
                    v = next(v for v in o.result.verdicts if v.kind == "STUCK")
                    evidence = evidence or o.log_line(v.entry.line)
            none = f" ({silent} without a delay-point hit: no verdict)" if silent else ""
            print(f"{name:22} {version:24} reproduced {shown}/{args.runs}{none}  load {load1()}  {evidence}", flush=True)
    return 0


def _to_first(r: Any) -> tuple[int, Optional[float]]:
    """(requests to the first STUCK, or every request of the run if none; seconds or None)."""
    t = r.first_stuck_seconds
    if t is None:
        return r.requests, None
    return sum(e.date <= r.started + t for e in r.entries), t


def _median(values: list[tuple[int, bool]]) -> tuple[float, bool]:
    """Median of (requests, found) where a not-found value is a lower bound:
    (median, is a bound)."""
    xs = sorted(values)
    mid = xs[len(xs) // 2] if len(xs) % 2 else None
    if mid is not None:
        return float(mid[0]), not mid[1]
    a, b = xs[len(xs) // 2 - 1], xs[len(xs) // 2]
    return (a[0] + b[0]) / 2, not (a[1] and b[1])


def perturb_main(args: argparse.Namespace) -> int:
    from harness.targets.haproxy_binary import SEEDS, control
    from harness.targets.haproxy_binary.build import binary
    from harness.targets.haproxy_binary.perturb import Plan, fired
    from harness.targets.haproxy_binary.perturb_build import perturbed_binary
    from harness.targets.haproxy_binary.points import auto

    modes = [m for m in args.modes.split(",") if m]
    print(f"# {datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')}  plain vs perturbed, "
          f"{args.seeds} seeds, plain {args.seconds:g} s / perturbed {args.perturb_seconds:g} s per run, modes "
          f"{','.join(modes)}, {os.cpu_count()} CPUs, load average {load1()}")
    choice = auto(tuple(p for p in PERTURB_SHAPES if not args.path or p == args.path))
    for line in choice.reasons:
        print(f"# point {line}")
    print(f"{'version':16} {'path':14} {'how':7} {'seed':>4} {'requests':>9} {'1st STUCK: req':>15} {'s':>6} "
          f"{'STUCK':>5} {'unknown':>7} {'delay hits':>10} {'delays':>7} {'load':>5}")
    for v in args.versions.split(","):
        plain_exe = binary(v, on_status=lambda m: print(f"# {m}", flush=True))
        pert_exe = perturbed_binary(v, on_status=lambda m: print(f"# {m}", flush=True))
        version = haproxy_version(plain_exe)
        for path, base in PERTURB_SHAPES.items():
            if args.path and args.path != path:
                continue
            shape = {**(SEEDS[path][0] if args.seed_shape else base), **json.loads(args.shape)}
            print(f"# {path}: shape {shape}", flush=True)
            results: dict[str, list[tuple[int, bool]]] = {}
            for how in ("plain", *modes, "control"):
                for seed in range(args.seeds if how != "control" else 1):
                    sh = control(shape) if how == "control" else shape
                    plan = None
                    if how != "plain":
                        mode = modes[0] if how == "control" else how
                        plan = Plan(v, tuple(choice.points), seed=seed, mode=mode, ppm=args.ppm, k=args.k, n=args.n,
                                    delay_us=(args.delay_us, args.delay_us))
                    secs = args.seconds if how == "plain" else args.perturb_seconds
                    cfg = StressConfig(**{**sh, "seconds": secs, "seed": seed,
                                          **({"perturb": plan.to_json()} if plan else {})})
                    r = run_once(BLACKBOX, cfg, pert_exe if plan else plain_exe, version, stop_on_stuck=True)
                    req, t = _to_first(r)
                    results.setdefault(how, []).append((req, t is not None))
                    ps = r.instrumentation.get("perturbation")
                    hits = fired(ps) if ps else 0
                    delays = sum(e["delays"] for e in ps["points"].values()) if ps else 0
                    first = f"{req}" if t is not None else f"none in {req}"
                    print(f"{version:16} {path:14} {how:7} {seed:4d} {r.requests:9d} {first:>15} "
                          f"{'-' if t is None else f'{t:.1f}':>6} {r.stuck:5d} {r.unknown:7d} "
                          f"{hits if ps else '-':>10} {delays if ps else '-':>7} {load1():>5}", flush=True)
                    if ps is not None and not hits:
                        print(f"#   ERROR: the delay points never fired in this run: no verdict")
                    for ep in r.episodes:
                        e = ep.verdicts[0]
                        print(f"#   STUCK episode: {len(ep.verdicts)} request(s), first {e.entry.request!r} "
                              f"Tw {e.entry.Tw} ms {e.entry.term} server {e.entry.server or '<NOSRV>'}: {e.why}")
            pm, pb = _median(results["plain"])
            if pb:  # plain's median is a bound: also the pooled one (exact Poisson, 95%)
                from harness.stress.blackbox.ab import per_million_ci

                total = sum(n for n, _ in results["plain"])
                k = sum(f for _, f in results["plain"])
                hi = per_million_ci(k, total)[1]
                print(f"# {version} {path}: plain pooled: {k} first STUCK in {total} requests: at 95% its mean "
                      f"requests to a first STUCK is >= {1e6 / hi:.0f}", flush=True)
            for how in modes:
                m, b = _median(results[how])
                found = sum(f for _, f in results[how])
                ratio = f"{'>=' if pb else ''}{pm / m:.0f}x" if m and not b else "-"
                print(f"# {version} {path}: median requests to the first STUCK: plain {'>=' if pb else ''}{pm:.0f} "
                      f"({sum(f for _, f in results['plain'])}/{len(results['plain'])} found), {how} "
                      f"{'>=' if b else ''}{m:.0f} ({found}/{len(results[how])} found); ratio {ratio}", flush=True)
    return 0


WINDOW = ("assign_server_and_queue", "assign_server", "pendconn_add", "process_srv_queue", "pendconn_process_next_strm",
          "srv_dynamic_maxconn", "stream_free", "sess_change_server", "pendconn_grab_from_px", "pendconn_dequeue",
          "pendconn_unlink", "pendconn_redistribute")


def _objdump_counts(obj: Path) -> dict[str, dict[str, int]]:
    import re
    import subprocess

    out = subprocess.run(["objdump", "-dr", "--no-show-raw-insn", str(obj)], capture_output=True, text=True,
                         check=True).stdout
    per: dict[str, dict[str, int]] = {}
    cur: Optional[dict[str, int]] = None
    head = re.compile(r"^[0-9a-f]+ <([A-Za-z_][\w.]*)>:$")
    for line in out.splitlines():
        m = head.match(line)
        if m:
            cur = per.setdefault(m.group(1).split(".")[0], {"lock": 0, "tsan_atomic": 0, "lock_fn": 0, "pthread": 0,
                                                            "hooks": 0})
            continue
        if cur is None:
            continue
        if re.search(r"\block\b", line.split("#")[0]) and "R_X86" not in line:
            cur["lock"] += 1
        if "R_X86_64" in line:
            sym = line.split()[-1]
            if sym.startswith("__tsan_atomic"):
                cur["tsan_atomic"] += 1
            elif sym.startswith(("__spin_", "__ha_rwlock", "__ha_")):
                cur["lock_fn"] += 1
            elif sym.startswith("pthread_"):
                cur["pthread"] += 1
            elif sym.startswith("__cyg_profile_func"):
                cur["hooks"] += 1
    return per


def locks_main(args: argparse.Namespace) -> int:
    import shlex
    import subprocess
    import tempfile

    from harness import debsrc
    from harness.targets.haproxy_binary.build import MAKE_ARGS
    from harness.targets.haproxy_binary.perturb import Plan, Point
    from harness.targets.haproxy_binary.perturb_build import perturbed_binary
    from harness.targets import haproxy_binary

    print(f"# {datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')}  what reaches the locks, "
          f"load average {load1()}")
    builds = {"tsan": ["-fsanitize=thread"], "debug_thread+hooks": ["-DDEBUG_THREAD", "-finstrument-functions"],
              "hooks": ["-finstrument-functions"]}
    for v in args.versions.split(","):
        tree = debsrc.unpack(debsrc.fetch("haproxy", v))
        print(f"## {v}: per function, lock-prefixed instructions / __tsan_atomic calls / lock-function calls / "
              f"pthread calls / hook calls")
        print(f"{'function':28} " + " ".join(f"{b:>26}" for b in builds))
        table: dict[str, dict[str, dict[str, int]]] = {}
        with tempfile.TemporaryDirectory() as tmp:
            for src in ("src/queue.c", "src/backend.c", "src/stream.c"):
                dry = subprocess.run(["make", "-B", "-n", *MAKE_ARGS, "V=1", src.replace(".c", ".o")], cwd=tree,
                                     capture_output=True, text=True).stdout
                cmd = next(ln for ln in dry.splitlines() if " -c " in ln and src in ln)
                argv = shlex.split(cmd)
                for name, extra in builds.items():
                    obj = Path(tmp) / f"{name}-{Path(src).stem}.o"
                    a = list(argv)
                    a[a.index("-o") + 1] = str(obj)
                    subprocess.run([*a[:-1], *extra, a[-1]], cwd=tree, check=True, capture_output=True)
                    for fn, c in _objdump_counts(obj).items():
                        if fn in WINDOW:
                            table.setdefault(fn, {})[name] = c
        for fn in WINDOW:
            if fn not in table:
                continue
            cells = []
            for b in builds:
                c = table[fn].get(b)
                cells.append("-" if c is None else f"{c['lock']}/{c['tsan_atomic']}/{c['lock_fn']}/{c['pthread']}/"
                                                   f"{c['hooks']}")
            print(f"{fn:28} " + " ".join(f"{x:>26}" for x in cells), flush=True)
        # dynamic: hits per 1000 requests on the perturbation build
        exe = perturbed_binary(v, on_status=lambda m: print(f"# {m}", flush=True))
        pts = [Point("pendconn_add", "entry", "delay")] + [Point(f, "entry", "count") for f in WINDOW
                                                            if f != "pendconn_add"][:MAXCOUNT]
        for path, shape in (("server-queue", haproxy_binary.SEEDS["server-queue"][0]),
                            ("backend-queue", haproxy_binary.SEEDS["backend-queue"][0])):
            plan = Plan(v, tuple(pts), seed=0, ppm=0)  # counts only: nothing delayed
            cfg = StressConfig(**{**shape, "seconds": args.perturb_seconds, "perturb": plan.to_json()})
            r = run_once(BLACKBOX, cfg, exe, haproxy_version(exe), stop_on_stuck=False)
            ps = r.instrumentation["perturbation"]["points"]
            per = ", ".join(f"{k.split(':')[0]} {1000 * e['hits'] / max(1, r.requests):.0f}" for k, e in ps.items())
            print(f"# {v} {path} ({r.requests} requests, load {load1()}): hook hits per 1000 requests: {per}", flush=True)
    return 0


MAXCOUNT = 11


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60.0, help="real-binary load per shape")
    ap.add_argument("--model-cap", type=float, default=30.0, help="model campaign cap per shape")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", help="run shapes whose name contains this")
    ap.add_argument("--ab", action="store_true", help="the A/B table over --versions")
    ap.add_argument("--findings", action="store_true", help="model findings as timed scenarios over --versions")
    ap.add_argument("--versions", default="debian,2.6.12,3.0.11", help="comma-separated (default: %(default)s)")
    ap.add_argument("--path", help="--ab: only this path")
    ap.add_argument("--runs", type=int, default=3, help="--findings: runs per finding and version")
    ap.add_argument("--perturb", action="store_true", help="plain stress against perturbation over --versions")
    ap.add_argument("--seeds", type=int, default=5, help="--perturb: seeds per version, path and mode")
    ap.add_argument("--perturb-seconds", type=float, default=15.0, help="--perturb: seconds per perturbed run")
    ap.add_argument("--modes", default="prob,pct", help="--perturb: perturbation modes (default: %(default)s)")
    ap.add_argument("--ppm", type=int, default=500_000, help="--perturb prob: delay probability per hit, per million")
    ap.add_argument("--k", type=int, default=3, help="--perturb pct: change points per round")
    ap.add_argument("--n", type=int, default=100, help="--perturb pct: hits per round")
    ap.add_argument("--delay-us", type=int, default=200, help="--perturb: delay in microseconds")
    ap.add_argument("--shape", default="{}", help="--perturb: JSON fields over the path's shape, e.g. '{\"conns\": 4}'")
    ap.add_argument("--seed-shape", action="store_true",
                    help="--perturb: start from the exploration's seed shape instead of PERTURB_SHAPES")
    ap.add_argument("--locks", action="store_true", help="what reaches HAProxy's locks (static and one short run)")
    args = ap.parse_args()
    if args.locks:
        return locks_main(args)
    if args.findings:
        return findings_main(args)
    if args.perturb:
        return perturb_main(args)
    if args.ab:
        return ab_main(args)
    ensure(["haproxy"])
    exe = find_haproxy()
    version = haproxy_version(exe)
    print(f"# {datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')}  haproxy {version}  "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}  real {args.seconds:g} s per shape")
    print(f"{'shape':52} {'requests':>9} {'req/s':>6} {'sQ':>5} {'STUCK':>6} {'legit':>6} {'unknown':>7} "
          f"{'STUCK/M':>8} {'real 1st s':>10} {'model 1st s':>11} {'model execs':>11}")
    for name, shape in SHAPES.items():
        if args.only and args.only not in name:
            continue
        cfg = StressConfig(**{**shape, "seconds": args.seconds, "seed": args.seed})
        t = time.monotonic()
        r = run_once(BLACKBOX, cfg, exe, version, stop_on_stuck=False)
        if cfg.threads > 1:
            m_first, m_execs = model_first_stuck(cfg, args.model_cap, args.seed)
        else:
            m_first, m_execs = None, 0  # one thread: the model cannot race either
        rate = r.requests / r.seconds if r.seconds else 0.0
        print(f"{name:52} {r.requests:9d} {rate:6.0f} {len(r.verdicts):5d} {r.stuck:6d} {r.legit:6d} {r.unknown:7d} "
              f"{r.stuck_per_million:8.0f} {fmt(r.first_stuck_seconds):>10} {fmt(m_first):>11} {m_execs:11d}"
              f"   ({time.monotonic() - t:.0f} s, max sample gap {r.max_sample_gap * 1000:.0f} ms)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
