"""The nightly job: runs every item on worker processes, survives crashing and
hanging targets, writes three reports, and says whether the night was clean."""
from __future__ import annotations

import json
import signal
import subprocess
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from harness.crash import load as load_crash
from harness.crash import run_in_child
from harness.engines.nightly import Found, Item, ItemResult
from harness.report import summarize
from support import qfuzz


def test_a_short_night_is_clean_survives_crashes_and_reports(tmp_path):
    out = qfuzz("nightly", "--time", "20", "--jobs", "2", "--report", str(tmp_path / "r"), "--corpus",
                str(tmp_path / "c"), "--targets", "pingpong,haproxy_queue",
                "--variants", "default,crashes-at-13,hangs-at-17,pre-fix,coarse", "--engines", "pct",
                "--hang-timeout", "3", timeout=180)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "elapsed" in next(ln for ln in out.stdout.splitlines() if ln.startswith("progress:"))  # a pipe: plain lines
    md, js, xml = (tmp_path / "r" / n for n in ("nightly.md", "nightly.json", "nightly.xml"))
    assert md.exists() and js.exists() and xml.exists()
    report = json.loads(js.read_text())
    assert report["verdict"] == "clean"
    assert {c["status"] for c in report["canaries"]} == {"found"}  # pre-fix: both seed paths
    cases = ET.parse(xml).getroot().findall("testcase")
    names = {(c.get("classname"), c.get("name")) for c in cases}
    assert ("haproxy_queue.pre-fix", "pct") in names and ("pingpong.crashes-at-13", "pct") in names
    # the crashing and hanging variants were restarted around, and their inputs kept
    crashes = {Path(c["file"]).name.split("-")[0] for c in report["crashes"]}
    assert crashes == {"crash", "timeout"}
    crash = load_crash(next(c["file"] for c in report["crashes"] if "crash-" in c["file"]))
    assert crash.workload == {"rounds": 13}
    assert crash.schedule["strategy"] == "pct" and crash.schedule["k"] > 0  # the k its PCT ran with, noted before it
    outcome, detail = run_in_child(crash)
    assert outcome == "crash" and "SIGSEGV" in detail
    stored = list((tmp_path / "c" / "haproxy_queue").glob("pre-fix--stuck-*.json"))
    assert stored  # findings were merged into the corpus


def test_a_missed_canary_or_a_new_unexplained_failure_fails_the_night():
    item = Item("haproxy_queue", "pre-fix", "pct", 0, 1.0)
    only_backend = ItemResult(item, 100, 1.0, [Found("STUCK:backend-queue:LB_FULL:PNS_EMPTY", "STUCK", "backend-queue",
                                                     "5541d4995", "kept", "x.json", 5, 0.1, ["5541d4995/backend"])])
    s = summarize("now", 1.0, 1, [only_backend], [], False)
    assert s.exit_status == 1
    assert [c["status"] for c in s.canaries] == ["missed", "found"]
    # a look-alike the seed fix does not remove (finding F1) is no canary
    look_alike = ItemResult(item, 100, 1.0, [Found("STUCK:backend-queue:LB_FULL:PNS_EMPTY", "STUCK", "backend-queue",
                                                   "5541d4995", "kept", "x.json", 5, 0.1, [])])
    assert [c["status"] for c in summarize("now", 1.0, 1, [look_alike], [], False).canaries] == ["missed", "missed"]
    clean = Item("haproxy_queue", "coarse", "pct", 0, 1.0)
    bad = ItemResult(clean, 100, 1.0, [Found("STUCK:server-queue:ASQ_SERVED:PNS_EMPTY", "STUCK", "server-queue", "",
                                             "new", "y.json", 5, 0.1)])
    s = summarize("now", 1.0, 1, [bad], [], False)
    assert s.exit_status == 1 and s.new_unexplained
    # on a variant that expects no failure, one the corpus already holds fails the night too
    known = ItemResult(clean, 100, 1.0, [Found("STUCK:server-queue:ASQ_SERVED:PNS_EMPTY", "STUCK", "server-queue", "",
                                               "kept", "y.json", 5, 0.1)])
    s = summarize("now", 1.0, 1, [known], [], False)
    assert s.exit_status == 1 and s.new_unexplained[0]["status"] == "kept"
    # on a buggy variant, an unexplained failure already in the corpus is old news
    old = ItemResult(item, 100, 1.0, [Found("STUCK:backend-queue:LB_FULL:PNS_EMPTY", "STUCK", "backend-queue",
                                            "5541d4995", "kept", "x.json", 5, 0.1, ["5541d4995/backend"]),
                                      Found("STUCK:server-queue:ASQ_SERVED:PNS_EMPTY", "STUCK", "server-queue",
                                            "5541d4995", "kept", "x.json", 5, 0.1, ["5541d4995/server"]),
                                      Found("SAFETY:-:SOMETHING:-", "SAFETY", "-", "", "kept", "z.json", 5, 0.1)])
    s = summarize("now", 1.0, 1, [old], [], False)
    assert s.exit_status == 0 and s.known_unexplained and not s.new_unexplained
    assert summarize("now", 1.0, 1, [ItemResult(clean, error="boom")], [], False).exit_status == 2
    # a night stopped before all its items ran is never green
    s = summarize("now", 1.0, 1, [old], [clean], True)
    assert s.exit_status == 2 and s.verdict == "CANCELLED"


def test_sigterm_stops_cleanly_with_a_report(tmp_path):
    import os
    import sys

    script = Path(sys.executable).parent / "qfuzz"
    proc = subprocess.Popen([str(script), "nightly", "--time", "300", "--jobs", "2", "--report", str(tmp_path / "r"),
                             "--corpus", str(tmp_path / "c"), "--variants", "pre-fix,coarse,fixed"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "COLUMNS": "200"})
    time.sleep(8)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    # a cancelled night is an infrastructure failure: exit 2 and one line saying so, never "clean"
    assert proc.returncode == 2, out + err
    assert "Traceback" not in err and "SIGTERM" in err.strip().splitlines()[-1]
    report = json.loads((tmp_path / "r" / "nightly.json").read_text())
    assert report["stopped_early"] is True and report["verdict"].startswith("CANCELLED")
    assert report["items"] and report["skipped"]
    # JUnit: every item that never started is a skipped test case, not a passed one
    cases = ET.parse(tmp_path / "r" / "nightly.xml").getroot().findall("testcase")
    skipped = {(c.get("classname"), c.get("name")) for c in cases if c.find("skipped") is not None}
    for i in report["skipped"]:
        assert (f"{i['target']}.{i['variant']}", i["engine"]) in skipped
    # an item the stop cut short did not pass either: skipped, unless it found something that fails the night
    for r in report["items"]:
        key = (f"{r['item']['target']}.{r['item']['variant']}", r["item"]["engine"])
        if r["stopped"] and not r["error"]:
            assert key in skipped or any(c.find("failure") is not None for c in cases
                                         if (c.get("classname"), c.get("name")) == key)
    assert any(r["stopped"] for r in report["items"])
    # no crash reproducer for a worker the stop terminated
    assert not report["crashes"]


def test_sigterm_right_after_start_still_writes_a_report(tmp_path):
    import os
    import sys

    script = Path(sys.executable).parent / "qfuzz"
    proc = subprocess.Popen([str(script), "nightly", "--time", "300", "--jobs", "2", "--report", str(tmp_path / "r"),
                             "--corpus", str(tmp_path / "c"), "--variants", "pre-fix,coarse"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while "work items" not in proc.stdout.readline() and time.monotonic() < deadline:  # the header, then at once
        pass
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2, out + err
    report = json.loads((tmp_path / "r" / "nightly.json").read_text())
    assert report["exit_status"] == 2 and report["skipped"]
