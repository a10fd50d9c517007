"""The generic harness speaks no target's language: a worker pool's trace
must read like a worker pool.  Every word a view shows about what critical
events A and B *are* comes from the target's descriptor (Target.roles,
window, wait, value_text), never from a string in harness/ outside
harness/targets."""
from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# HAProxy queue words a generic view was once caught printing
ROLE_WORDS = re.compile(r"queuer|releaser|timeout queue|dequeu|pendconn|stranded window", re.I)


def _strings(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text())
    docs = {id(n.body[0].value) for n in ast.walk(tree)
            if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and n.body
            and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
    return [(n.lineno, n.value) for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docs]


def test_no_generic_module_holds_a_targets_role_words() -> None:
    generic = [f for f in (ROOT / "harness").rglob("*.py") if "targets" not in f.relative_to(ROOT).parts]
    assert len(generic) > 30  # the walk found the package
    hits = [f"{f.relative_to(ROOT)}:{line}: {text[:80]!r}"
            for f in sorted(generic) for line, text in _strings(f) if ROLE_WORDS.search(text)]
    assert hits == []


def test_the_stress_console_view_takes_its_roles_from_the_target() -> None:
    """The console summary of a stress failure says what A and B are in the
    words of whichever target it ran, and says nothing when the target has none."""
    from harness.execution import CriticalEvent, Verdict
    from harness.stress.model_engine import StressFailure
    from harness.stress.model_report import summary
    from harness.target import Target
    from harness.targets import get

    queue = get("haproxy_queue")
    workload = queue.workload(next(iter(queue.seed_workloads().values())))
    crit = CriticalEvent(step=1, thread=0, label="x", description="checks")
    f = StressFailure(verdict=Verdict(kind="STUCK", critical=(crit, crit)), round=0, seconds=0.0,
                      round_seconds=0.0, workload=workload)

    class Pool:
        def roles(self, verdict: Verdict) -> tuple[str, str]:
            return ("the worker's idle check", "the producer's skipped wake")

    def text(target: object) -> str:
        return " ".join(line.plain for line in summary(f, target))  # type: ignore[arg-type]

    assert "(the queuer's full check)" in text(queue)
    pool = text(Pool())
    assert "(the worker's idle check)" in pool and "(the producer's skipped wake)" in pool and "queuer" not in pool
    bare = text(Target.__new__(Target))  # the base descriptor names no roles
    assert "checks   B" in bare and "queuer" not in bare
