"""A user's install: qfuzz built as a wheel, installed in a fresh venv, run
from a folder outside the source tree on a C program it has never seen.
Nothing of the checkout may be needed (the runtime, its header and the wrap
list ship in the wheel).  Builds the wheel once (about a minute)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

from support import ROOT

PROGRAMS = ROOT / "tests" / "data" / "programs"
SKIP = shutil.ignore_patterns(".git", ".venv", "build", "*.egg-info", "__pycache__", "*.so", "*.o", "corpus",
                              "reports", ".qfuzz", ".hypothesis", "tests", "bench")


def run(cmd: list[str], cwd: Path, timeout: float = 600, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, timeout=timeout, **kw)


def test_a_wheel_in_a_fresh_venv_fuzzes_and_replays_a_program_outside_the_source_tree(tmp_path):
    # build from a copy: the checkout's own build/ and installed extension stay as they are
    tree = tmp_path / "tree"
    shutil.copytree(ROOT, tree, symlinks=True, ignore=SKIP)
    wheels = tmp_path / "wheels"
    b = run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", wheels, tree],
            tmp_path)
    assert b.returncode == 0, b.stdout + b.stderr
    wheel = next(wheels.glob("qfuzz-*.whl"))

    venv = tmp_path / "venv"
    assert run([sys.executable, "-m", "venv", venv], tmp_path).returncode == 0
    py = venv / "bin" / "python"
    # the dependencies (atheris, hypothesis, rich) come from this environment, behind the venv's own packages
    site = Path(run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp_path).stdout.strip())
    deps = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (site / "qfuzz-test-deps.pth").write_text("\n".join(sorted(deps)) + "\n")
    # --ignore-installed: through the .pth, pip also sees the outer qfuzz (a `pip install .` in CI) as installed
    i = run([py, "-m", "pip", "install", "--no-deps", "--no-index", "--ignore-installed", "-q", wheel], tmp_path)
    assert i.returncode == 0, i.stdout + i.stderr

    work = tmp_path / "user"
    (work / "src").mkdir(parents=True)
    shutil.copy(PROGRAMS / "handoff.c", work / "src" / "handoff.c")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env |= {"COLUMNS": "200", "QFUZZ_CACHE": str(tmp_path / "cache")}
    where = run([py, "-P", "-c", "import harness; print(harness.__file__)"], work, env=env)
    assert where.stdout.startswith(str(venv)), where.stdout + where.stderr  # the wheel's qfuzz, not the checkout
    qfuzz = venv / "bin" / "qfuzz"
    include = Path(run([qfuzz, "config", "--include"], work, env=env).stdout.strip())
    assert str(include).startswith(str(venv)) and (include / "qfuzz.h").is_file()  # the header ships in the wheel
    out = run([qfuzz, "fuzz", "src/handoff.c", "--variant", "buggy=-DBUGGY=1", "--runs", "3000"], work, env=env)
    assert out.returncode == 1 and "NEW STUCK:lost-wakeup" in out.stdout, out.stdout + out.stderr
    assert "handoff.c:" in out.stdout
    files = sorted((work / "corpus" / "handoff").glob("*.json"))
    assert len(files) == 1
    rep = run([qfuzz, "repro", files[0], "--runs", "3", "--no-trace"], work, env=env)
    assert rep.returncode == 1 and "3/3 replays identical" in rep.stdout, rep.stdout + rep.stderr
    assert sorted(p.name for p in (work / "src").iterdir()) == ["handoff.c"]  # nothing written beside the source
