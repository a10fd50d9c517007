"""ClusterFuzzLite: .clusterfuzzlite/build.sh builds fuzzers that run.

The build runs as in the base-builder-python image: a fresh Python
environment, `pip3 install .` of a copy of the checkout, and
compile_python_fuzzer, which is PyInstaller --onefile into $OUT plus a
wrapper script (here a stand-in with the same command line; the image's own
also preloads the sanitizer runtime).  PyInstaller comes from PyPI, for this
test only; without PyPI the test is skipped.  Then each built fuzzer runs a
few hundred inputs."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from support import ROOT

RUNS = 300

# compile_python_fuzzer FUZZER.py [PYINSTALLER ARGS...]: what OSS-Fuzz's does, minus sanitizers
COMPILE_PYTHON_FUZZER = r"""#!/bin/bash -eu
script=$1
shift
name=$(basename -s .py "$script")
mkdir -p "$SRC/pyfuzzworkdir/$name"
pyinstaller --distpath "$OUT" --workpath="$SRC/pyfuzzworkdir/$name" --onefile --name "$name.pkg" "$@" "$script"
printf '#!/bin/sh\nexec "$(dirname "$0")/%s.pkg" "$@"\n' "$name" > "$OUT/$name"
chmod +x "$OUT/$name"
"""


def _copy_checkout(dest: Path) -> None:
    """The checkout's tracked files as they are now (the image copies the source tree)."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for rel in filter(None, files.decode().split("\0")):
        src, dst = ROOT / rel, dest / rel
        if not src.exists() and not src.is_symlink():
            continue  # deleted in the work tree
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_symlink():
            os.symlink(os.readlink(src), dst)
        else:
            shutil.copy2(src, dst)


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("cflite")
    venv, src, out, shims = tmp / "venv", tmp / "src", tmp / "out", tmp / "shims"
    _run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    # qfuzz's dependencies from this environment (the image installs them from PyPI); qfuzz itself
    # and PyInstaller are installed into the fresh one
    site = next(venv.glob("lib/python*/site-packages"))
    here = next(p for p in map(Path, sys.path) if p.name == "site-packages" and (p / "hypothesis").is_dir())
    (site / "qfuzz_test_deps.pth").write_text(f"{here}\n")
    pip = _run([str(venv / "bin" / "pip"), "install", "--disable-pip-version-check", "pyinstaller>=6"], timeout=300)
    if pip.returncode != 0:
        if any(s in pip.stdout + pip.stderr for s in ("NewConnectionError", "Could not find a version",
                                                       "Temporary failure in name resolution", "No matching distribution")):
            pytest.skip("PyPI is unreachable: cannot install PyInstaller")
        pytest.fail("pip install pyinstaller failed:\n" + pip.stderr[-3000:])
    _copy_checkout(src / "qfuzz")
    shims.mkdir()
    (shims / "compile_python_fuzzer").write_text(COMPILE_PYTHON_FUZZER)
    (shims / "compile_python_fuzzer").chmod(0o755)
    out.mkdir()
    env = {**os.environ, "PATH": f"{venv / 'bin'}:{shims}:{os.environ['PATH']}", "SRC": str(src), "OUT": str(out),
           "VIRTUAL_ENV": str(venv), "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    env.pop("PYTHONPATH", None)
    build = _run(["bash", str(src / "qfuzz" / ".clusterfuzzlite" / "build.sh")], cwd=src / "qfuzz", env=env, timeout=900)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    return out


def _fuzz(built: Path, name: str, tmp_path: Path, runs: int = RUNS, **env: str) -> subprocess.CompletedProcess:
    # a clean environment: nothing from this checkout or its virtualenv can be imported by accident
    clean = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), **env}
    return _run([str(built / name), f"-runs={runs}", "-seed=1", "-max_total_time=120"], cwd=tmp_path, env=clean,
                timeout=300)


def test_the_built_fuzzer_runs_its_inputs_on_a_clean_variant(built, tmp_path):
    proc = _fuzz(built, "fuzz_haproxy_queue", tmp_path, QFUZZ_VARIANT="coarse")
    assert "ModuleNotFoundError" not in proc.stderr
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"Done {RUNS} runs" in proc.stderr


def test_the_built_fuzzer_finds_the_seed_bug_and_writes_its_reproducer(built, tmp_path):
    # raw bytes reach the seed bug in a few thousand inputs (docs/engines.md), not in a few hundred
    proc = _fuzz(built, "fuzz_haproxy_queue", tmp_path, runs=100_000, QFUZZ_VARIANT="pre-fix")
    assert "ModuleNotFoundError" not in proc.stderr
    assert proc.returncode != 0 and list(tmp_path.glob("crash-*")), proc.stderr[-3000:]
    assert list((tmp_path / "corpus" / "haproxy_queue").glob("pre-fix--*.json"))


def test_the_built_loader_fuzzer_runs(built, tmp_path):
    proc = _fuzz(built, "fuzz_reproducer_loader", tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"Done {RUNS} runs" in proc.stderr
