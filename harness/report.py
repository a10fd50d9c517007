"""The nightly report: one verdict for the night, in Markdown (people), JSON
(tools) and JUnit XML (CI dashboards: one test case per variant and engine,
one per canary)."""
from __future__ import annotations

import json
import os
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .engines.nightly import Item, ItemResult


@dataclass
class Summary:
    started: str
    seconds: float
    jobs: int
    stopped_early: bool
    results: list[ItemResult]
    skipped: list[Item]
    canaries: list[dict[str, Any]] = field(default_factory=list)
    new_unexplained: list[dict[str, Any]] = field(default_factory=list)
    known_unexplained: list[dict[str, Any]] = field(default_factory=list)
    crashes: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def executions(self) -> int:
        return sum(r.executions for r in self.results)

    @property
    def failed(self) -> bool:
        missed = [c for c in self.canaries if c["status"] == "missed"]
        bad_crash = [c for c in self.crashes if c["expected_clean"]]
        return bool(self.new_unexplained or missed or bad_crash)

    @property
    def exit_status(self) -> int:
        # a night that did not run its items (cancelled, or a worker's error) is never green,
        # nor "bug found": an infrastructure failure, 2
        if self.errors or self.stopped_early or self.skipped:
            return 2
        return 1 if self.failed else 0

    @property
    def verdict(self) -> str:
        if self.stopped_early and not self.errors:
            return "CANCELLED" + (" (and FAILED)" if self.failed else "")
        return {0: "clean", 1: "FAILED", 2: "INFRASTRUCTURE ERROR"}[self.exit_status]


def summarize(started: str, seconds: float, jobs: int, results: list[ItemResult], skipped: list[Item],
              stopped_early: bool) -> Summary:
    from .targets import get

    s = Summary(started, seconds, jobs, stopped_early, results, skipped)
    done: dict[tuple[str, str], list[ItemResult]] = {}
    for r in results:
        done.setdefault((r.item.target, r.item.variant), []).append(r)
        if r.error:
            s.errors.append(f"{r.item.target}/{r.item.variant}/{r.item.engine}: {r.error}")
        for f in r.findings:
            row = {"target": r.item.target, "variant": r.item.variant, "engine": r.item.engine, **asdict(f)}
            if not f.explained:
                (s.new_unexplained if fails_the_night(r.item, f) else s.known_unexplained).append(row)
        for c in r.crashes:
            clean = get(r.item.target).variant(r.item.variant).expected_clean
            s.crashes.append({"target": r.item.target, "variant": r.item.variant, "engine": r.item.engine, "file": c,
                              "expected_clean": clean})
    skipped_keys = {(i.target, i.variant) for i in skipped}
    for (tname, vname), rs in sorted(done.items()):
        variant = get(tname).variant(vname)
        for pattern in variant.must_show:
            hits = [(r.item.engine, f) for r in rs for f in r.findings
                    if pattern.matches(f.kind, f.path, *_labels(f.signature)) and _removed_by(pattern, f)]
            status = "found" if hits else ("not run" if (tname, vname) in skipped_keys or any(r.stopped for r in rs)
                                           else "missed")
            s.canaries.append({
                "target": tname, "variant": vname, "pattern": str(pattern), "why": pattern.why, "status": status,
                "engine": hits[0][0] if hits else None,
                "seconds": min((f.first_seconds for _, f in hits), default=None),
            })
    return s


def fails_the_night(item: Item, f: Any) -> bool:
    """An unexplained failure fails the night when it is new, and on a variant
    that expects none always, even if the corpus already holds it (a stored
    STUCK on `coarse` is a bug in the control, not old news)."""
    from .targets import get

    return not f.explained and (f.status == "new" or get(item.target).variant(item.variant).expected_clean)


def _removed_by(pattern: Any, f: Any) -> bool:
    """A canary counts only if the fix its pattern names removes the failure
    (harness/attribution.py): a look-alike that survives the fix does not."""
    from .attribution import fix_of

    fix = fix_of(pattern)
    return not fix or any(name.split("/")[0] == fix for name in f.removed_by)


def _labels(signature: str) -> tuple[str, str]:
    parts = signature.split(":")
    return (parts[2] if len(parts) > 2 else "-", parts[3] if len(parts) > 3 else "-")


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fchmod(f.fileno(), 0o644)
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def to_json(s: Summary) -> dict[str, Any]:
    return {
        "started": s.started, "seconds": round(s.seconds, 1), "jobs": s.jobs, "verdict": s.verdict,
        "exit_status": s.exit_status, "stopped_early": s.stopped_early, "executions": s.executions,
        "items": [asdict(r) for r in s.results], "skipped": [asdict(i) for i in s.skipped],
        "canaries": s.canaries, "new_unexplained": s.new_unexplained, "known_unexplained": s.known_unexplained,
        "crashes": s.crashes, "errors": s.errors,
    }


def to_markdown(s: Summary) -> str:
    out = [f"# qfuzz nightly, {s.started}: {s.verdict}", ""]
    rate = s.executions / s.seconds if s.seconds else 0
    out.append(f"{s.executions:,} executions in {s.seconds:.0f} s on {s.jobs} workers ({rate:,.0f}/s)"
               + (", stopped early: the report covers what ran" if s.stopped_early else "") + ".")
    out.append("")
    if s.new_unexplained:
        out += ["## Unexplained failures (the night fails)", "",
                "| target | variant | engine | signature | reproducer | corpus |", "|---|---|---|---|---|---|"]
        out += [f"| {f['target']} | {f['variant']} | {f['engine']} | `{f['signature']}` | {f['file']} | {f['status']} |"
                for f in s.new_unexplained]
        out.append("")
    if s.crashes:
        out += ["## Crashes and hangs", "", "| target | variant | engine | reproducer |", "|---|---|---|---|"]
        out += [f"| {c['target']} | {c['variant']} | {c['engine']} | {c['file']} |" for c in s.crashes]
        out.append("")
    out += ["## Canaries (known bugs that must still be found)", "", "| variant | must show | status | engine | seconds |",
            "|---|---|---|---|---|"]
    for c in s.canaries:
        secs = f"{c['seconds']:.2f}" if c["seconds"] is not None else "-"
        out.append(f"| {c['variant']} | `{c['pattern']}` | {c['status']} | {c['engine'] or '-'} | {secs} |")
    out += ["", "## Work items", "", "| target | variant | engine | executions | exec/s | unique failures | crashes |",
            "|---|---|---|---|---|---|---|"]
    for r in s.results:
        rate = r.executions / r.seconds if r.seconds else 0
        out.append(f"| {r.item.target} | {r.item.variant} | {r.item.engine} | {r.executions:,} | {rate:,.0f} | "
                   f"{len(r.findings)} | {len(r.crashes)} |")
    if s.known_unexplained:
        out += ["", "## Unexplained but already in the corpus", ""]
        out += [f"- {f['variant']}: `{f['signature']}` ({f['file']})" for f in s.known_unexplained]
    if s.skipped:
        out += ["", f"Not run (stopped early): {len(s.skipped)} items: "
                + ", ".join(f"{i.target}/{i.variant}/{i.engine}" for i in s.skipped) + "."]
    if s.errors:
        out += ["", "## Infrastructure errors", ""] + [f"- {e}" for e in s.errors]
    return "\n".join(out) + "\n"


def to_junit(s: Summary) -> str:
    suite = ET.Element("testsuite", name="qfuzz-nightly", timestamp=s.started, time=f"{s.seconds:.1f}")
    tests = failures = skipped = 0
    for r in s.results:
        tests += 1
        case = ET.SubElement(suite, "testcase", classname=f"{r.item.target}.{r.item.variant}", name=r.item.engine,
                             time=f"{r.seconds:.1f}")
        bad = [f for f in r.findings if fails_the_night(r.item, f)]
        if r.error:
            ET.SubElement(case, "error", message=r.error)
            failures += 1
        elif bad:
            failures += 1
            fail = ET.SubElement(case, "failure", message=f"{len(bad)} new unexplained failure(s)")
            fail.text = "\n".join(f"{f.signature} {f.file}" for f in bad)
        elif r.stopped:  # started, then cut short by the stop: it did not run its share, so it did not pass
            skipped += 1
            ET.SubElement(case, "skipped", message=f"cut short: the night was stopped after {r.executions} "
                                                   f"executions ({r.seconds:.1f} s of its share)")
        props = ET.SubElement(case, "system-out")
        props.text = f"{r.executions} executions; " + "; ".join(
            f"{f.signature} ({f.explained or 'UNEXPLAINED'})" for f in r.findings)
    for i in s.skipped:  # never started: a skipped test, not a passed one
        tests += 1
        skipped += 1
        case = ET.SubElement(suite, "testcase", classname=f"{i.target}.{i.variant}", name=i.engine, time="0.0")
        ET.SubElement(case, "skipped", message="not run: the night was stopped before this item started")
    for c in s.canaries:
        tests += 1
        case = ET.SubElement(suite, "testcase", classname=f"{c['target']}.{c['variant']}", name=f"canary {c['pattern']}")
        if c["status"] == "missed":
            failures += 1
            ET.SubElement(case, "failure", message=f"known bug not found: {c['why']}")
        elif c["status"] == "not run":
            skipped += 1
            ET.SubElement(case, "skipped", message="stopped before this variant ran")
    suite.set("tests", str(tests))
    suite.set("failures", str(failures))
    suite.set("skipped", str(skipped))
    return ET.tostring(suite, encoding="unicode") + "\n"


def write(s: Summary, directory: Path) -> list[Path]:
    paths = [directory / "nightly.md", directory / "nightly.json", directory / "nightly.xml"]
    _atomic_write(paths[0], to_markdown(s))
    _atomic_write(paths[1], json.dumps(to_json(s), indent=1) + "\n")
    _atomic_write(paths[2], to_junit(s))
    return paths
