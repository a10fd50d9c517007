"""`qfuzz fuzz --engine atheris`: run the libFuzzer entry point in a child
process (libFuzzer exits the process it runs in, and -jobs/-fork restart
argv[0] through the shell), then say what it left behind.

The child is a small executable script written into the work directory,
with this Python as its shebang, so it works from any install (no need
for the repository's fuzz/ folder)."""
from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

from .atheris_engine import Config

WRAPPER = """#!{python}
# Written by `qfuzz fuzz --engine atheris`; libFuzzer's -jobs/-fork run it again.
from harness.engines.atheris_engine import main

main(target={target!r})
"""


@dataclass
class Launched:
    returncode: int
    command: list[str]
    workdir: Path
    seconds: float
    reproducers: list[Path] = field(default_factory=list)  # JSON reproducers written meanwhile
    artifacts: list[Path] = field(default_factory=list)  # crash-*, timeout-*, oom-* files
    failures: list[str] = field(default_factory=list)  # signatures the fuzz target saw fail
    errors: list[str] = field(default_factory=list)  # qfuzz errors in the fuzz target (never crashes)

    def status(self) -> int:
        """qfuzz's exit status (0 nothing found, 1 a failure, 2 an error) from
        libFuzzer's (0; 77 crash, 70 timeout, 71 out of memory; 1 a -jobs
        worker failed, or bad flags; 72 interrupted) and what the run left."""
        if self.errors:
            return 2
        if self.returncode == 0:
            return 1 if self.failures else 0  # --keep-going: failures stored, none a crash
        if self.returncode in (77, 70, 71) or self.returncode == 1:
            return 1 if (self.artifacts or self.failures) else 2  # no crash file: not a finding
        return 2


def default_workdir(target: str, variant: str) -> Path:
    return Path(".qfuzz") / "atheris" / f"{target}-{variant}"


def write_wrapper(workdir: Path, target: str) -> Path:
    path = workdir / f"fuzz_{target}"
    text = WRAPPER.format(python=sys.executable, target=target)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def launch(
    config: Config,
    workdir: Path,
    *,
    seconds: Optional[float] = None,
    runs: Optional[int] = None,
    seed: Optional[int] = None,
    jobs: int = 1,
    extra: Sequence[str] = (),
) -> Launched:
    """Run libFuzzer until `seconds`/`runs` (or its first crash); its output
    goes to ours (with -jobs, to WORKDIR/fuzz-N.log)."""
    workdir = workdir.resolve()
    inputs = workdir / "inputs"
    inputs.mkdir(parents=True, exist_ok=True)
    entry = write_wrapper(workdir, config.target)
    # the child runs in workdir: every path it gets must be absolute
    if config.corpus:
        config.corpus = str(Path(config.corpus).resolve())
    if config.workload:
        config.workload = str(Path(config.workload).resolve())
    cmd = [str(entry), *config.to_argv(), f"-artifact_prefix={workdir}/"]
    if seconds:
        cmd.append(f"-max_total_time={max(1, round(seconds))}")
    if runs:
        cmd.append(f"-runs={runs}")
    if seed is not None:
        cmd.append(f"-seed={seed}")
    if jobs > 1:
        cmd += [f"-jobs={jobs}", f"-workers={jobs}"]
    cmd += [*extra, str(inputs)]
    before = set(_artifacts(workdir))
    started = time.time()
    t0 = time.monotonic()
    events = workdir / f".events-{os.getpid()}"
    events.write_text("")
    try:
        proc = subprocess.run(cmd, cwd=workdir, env={**os.environ, "PYTHONUNBUFFERED": "1", "QFUZZ_EVENTS": str(events)})
        lines = events.read_text(errors="replace").splitlines()
    finally:
        events.unlink(missing_ok=True)
    out = Launched(proc.returncode, cmd, workdir, time.monotonic() - t0)
    out.failures = sorted({ln.split(" ", 1)[1] for ln in lines if ln.startswith("failure ")})
    out.errors = [ln.split(" ", 1)[1] for ln in lines if ln.startswith("error ")]
    out.artifacts = sorted(set(_artifacts(workdir)) - before)
    if config.corpus:
        d = Path(config.corpus) / config.target
        out.reproducers = sorted(p for p in d.glob("*.json") if p.stat().st_mtime >= started - 1)
    return out


def _artifacts(workdir: Path) -> list[Path]:
    return [p for p in workdir.iterdir() if p.name.split("-", 1)[0] in ("crash", "timeout", "oom", "leak", "slow")]
