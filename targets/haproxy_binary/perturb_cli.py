"""The command-line side of perturbation: `--perturb auto|POINTS` and its
options into a plan (perturb.Plan), the plan printed up front, and the
hooks' hit counts printed after each run."""
from __future__ import annotations

import argparse
from typing import Any, Mapping, Optional

from rich.console import Console

from harness.errors import QfuzzError

from .build import DEBIAN
from .perturb import MODES, Plan, fired, parse_points
from .points import auto


def add_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("perturbation (an instrumented build of --haproxy-version V)")
    g.add_argument("--perturb", metavar="auto|POINTS",
                   help="inject seeded, recorded delays: 'auto' (chosen from the model's critical events) or "
                        "FUNCTION[:entry|:exit][,...]")
    g.add_argument("--perturb-seed", type=int, default=None, metavar="N", help="the plan's seed (default: --seed)")
    g.add_argument("--perturb-mode", choices=MODES, default="prob",
                   help="prob: each hit delayed with probability --perturb-p; pct: --perturb-pct K:N change points "
                        "in every N hits")
    g.add_argument("--perturb-p", type=float, default=0.5, metavar="P", help="probability per hit (default 0.5)")
    g.add_argument("--perturb-pct", default="3:100", metavar="K:N", help="change points per round of hits")
    g.add_argument("--perturb-delay", default="200", metavar="US[:US]",
                   help="delay in microseconds, fixed or a seeded range (default 200; 0: a yield)")


def _pair(s: str, flag: str) -> tuple[int, int]:
    try:
        parts = [int(x) for x in s.split(":")]
    except ValueError:
        raise QfuzzError(f"{flag} {s!r}: expected an integer or A:B") from None
    if len(parts) == 1:
        parts *= 2
    if len(parts) != 2 or parts[0] < 0 or parts[1] < parts[0]:
        raise QfuzzError(f"{flag} {s!r}: expected A or A:B with 0 <= A <= B")
    return parts[0], parts[1]


def plan_from_args(a: argparse.Namespace, paths: tuple[str, ...]) -> tuple[Optional[Plan], list[str]]:
    """(the plan, why each point was chosen) or (None, []) without --perturb."""
    if not a.perturb:
        return None, []
    if not a.haproxy_version or a.haproxy_version == DEBIAN:
        raise QfuzzError("--perturb needs --haproxy-version V (an instrumented build of V is made once): "
                         "Debian's package is not instrumented")
    if a.perturb == "auto":
        choice = auto(paths)
        points, reasons = choice.points, [f"from {', '.join(choice.sources)}", *choice.reasons]
    else:
        points = parse_points(a.perturb)
        reasons = ["points given on the command line"]
    if not 0.0 <= a.perturb_p <= 1.0:
        raise QfuzzError(f"--perturb-p {a.perturb_p}: expected a probability in 0..1")
    k, n = _pair(a.perturb_pct, "--perturb-pct")
    lo, hi = _pair(a.perturb_delay, "--perturb-delay")
    from .perturb import plan_from_json

    plan = plan_from_json({
        "version": a.haproxy_version, "seed": a.seed if a.perturb_seed is None else a.perturb_seed,
        "mode": a.perturb_mode, "ppm": round(a.perturb_p * 1e6), "k": max(1, k), "n": max(1, n),
        "delay_us": [lo, hi], "points": [p.to_json() for p in points],
    }, "--perturb")
    return plan, reasons


def print_plan(plan: Plan, reasons: list[str], console: Console) -> None:
    console.print(f"[bold]{plan.short()}[/]")
    for r in reasons:
        console.print(f"  [dim]{r}[/]")


def print_hits(summary: Mapping[str, Any], console: Console, indent: str = "", verdict: bool = True) -> None:
    """The hooks' hit counts; `verdict`: also say that a run whose delay
    points never fired says nothing (an exploration says it its own way)."""
    if not summary.get("initialised"):
        console.print(f"{indent}[bold red]perturbation: the runtime never initialised (no shared file)[/]")
        return
    parts = []
    for name, e in summary["points"].items():
        d = f", {e['delays']} delayed ({e['delay_ms']:.1f} ms)" if e["role"] == "delay" else ""
        parts.append(f"{name} {e['hits']} hits{d}")
    console.print(f"{indent}perturbation hooks: " + "; ".join(parts)
                  + f"; {summary['recorded']} delays recorded" + (f", {summary['not_recorded']} not recorded (slots full)"
                                                                   if summary["not_recorded"] else ""))
    if verdict and not fired(summary):
        console.print(f"{indent}[bold red]the delay points never fired: this run says nothing (not a clean verdict)[/]")


def never_fired(result: Any) -> bool:
    """A perturbed run whose delay points never fired (an error, not a verdict)."""
    s = getattr(result, "instrumentation", {}).get("perturbation")
    return s is not None and not fired(s)


# A model finding as a timed scenario has 1 to a few hits of its delay point,
# and its admin commands and releases are milliseconds from the arrival: the
# delay must span that gap (docs/findings_real.md), so every hit, 30 ms.
SCENARIO_PPM = 1_000_000
SCENARIO_DELAY_US = 30_000


def scenario_plan(rep: Any, perturb: Optional[str], version: Optional[str], console: Console) -> Optional[Plan]:
    """`qfuzz repro MODEL --against haproxy_binary --perturb auto|POINTS`:
    the plan aimed by the reproducer's own critical events (points.for_verdict),
    or at the points given, parsed as `qfuzz stress --perturb` parses them."""
    if not perturb:
        return None
    if not version or version == DEBIAN:
        raise QfuzzError("--perturb needs --haproxy-version V (an instrumented build of V is made once)")
    from .perturb import plan_from_json

    if perturb == "auto":
        from .points import for_verdict

        verdict = rep.verdict if isinstance(rep.verdict, dict) else {}
        choice = for_verdict(verdict, str(getattr(rep, "path", "") or "the reproducer"))
        if not any(p.role == "delay" for p in choice.points):
            labels = ", ".join(str(c.get("label")) for c in verdict.get("critical") or [] if isinstance(c, dict))
            raise QfuzzError(f"--perturb auto: no perturbation point maps this reproducer's critical events ({labels})")
        points, reasons = choice.points, choice.reasons
    else:
        points, reasons = parse_points(perturb), ["points given on the command line"]
    plan = plan_from_json({"version": version, "seed": 0, "mode": "prob", "ppm": SCENARIO_PPM,
                           "delay_us": [SCENARIO_DELAY_US, SCENARIO_DELAY_US],
                           "points": [p.to_json() for p in points]}, "--perturb")
    print_plan(plan, reasons, console)
    return plan
