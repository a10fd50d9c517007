"""The HTML swim-lane as a reader sees it: rendered by headless Chromium.

The page is loaded twice: once as written for a screenshot, and once as a
copy with a probe script appended (and the page's Content-Security-Policy
removed, so that the probe also sees any fetch the page itself would make).
The probe reports what the browser laid out: the visible text, where each
column header and each marked row sits, which rows carry the stranded-window
gutter, and every resource the page loaded."""
from __future__ import annotations

import dataclasses
import html
import json
import os
import re
import shutil
import struct
import subprocess
import tempfile
import zlib
from pathlib import Path
from html.parser import HTMLParser
from typing import Any

import pytest

from harness.errors import QfuzzError
from harness.htmltrace import render_html
from harness.reproducer import load
from support import ROOT, qfuzz

CORPUS = ROOT / "corpus" / "haproxy_queue"
SEED = "pre-fix--stuck-server-queue-asq_served-psq_trylock-*.json"
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
WINDOW = (1280, 900)
TRANSPARENT = ("rgba(0, 0, 0, 0)", "transparent")

PROBE = """<script>
(function () {
  const rect = el => { const r = el.getBoundingClientRect(); return [r.left, r.right]; };
  const rows = () => [...document.querySelectorAll("table.lanes tbody tr")]
    .filter(tr => tr.getClientRects().length > 0)
    .map(tr => {
      const mark = tr.querySelector(".mark"), ctrs = tr.querySelector("td.ctrs");
      return {
        step: tr.cells[1].innerText, cls: tr.className,
        text: [...tr.querySelectorAll("td.lane")].map(td => td.innerText).join(" | "),
        mark: mark ? { text: mark.innerText, x: rect(mark) } : null,
        outline: mark ? getComputedStyle(mark.closest("td")).outlineStyle : null,
        gutter: getComputedStyle(tr.querySelector("td.g")).backgroundColor,
        counters: ctrs ? rect(ctrs) : null,
      };
    });
  const out = {
    title: document.title, text: document.body.innerText, viewport: window.innerWidth,
    headers: [...document.querySelectorAll("table.lanes thead th")].map(th => ({ text: th.innerText, x: rect(th) })),
    resources: performance.getEntriesByType("resource").map(e => e.name),
    rows: rows(),
  };
  document.getElementById("all").click();  /* the "show every step" switch */
  out.rows_with_all = rows().length;
  const pre = document.createElement("pre");
  pre.id = "qfuzz-probe";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
</script>"""


def _fail_or_skip(why: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI must run the browser test: {why}")
    pytest.skip(why)


@pytest.fixture(scope="module")
def chromium() -> str:
    from harness.debs import ensure

    try:
        ensure(["chromium"])  # serializes installs across xdist workers itself
    except QfuzzError as exc:
        _fail_or_skip(f"chromium not installed: {exc}")
    path = shutil.which("chromium") or ("/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None)
    if path is None:
        _fail_or_skip("the chromium package is installed but /usr/bin/chromium is not")
    return str(path)


def browse(binary: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    profile = tempfile.mkdtemp(prefix="chromium-", dir=tmp_path)
    return subprocess.run(
        [binary, *FLAGS, f"--user-data-dir={profile}", f"--window-size={WINDOW[0]},{WINDOW[1]}", *args],
        capture_output=True, text=True, timeout=300,
    )


def seed_file() -> Path:
    found = sorted(CORPUS.glob(SEED))
    assert found, f"no {SEED} in {CORPUS}"
    return found[0]


def longest_file() -> Path:
    """The corpus's biggest STUCK reproducer (most requests): the longest page."""
    def size(p: Path) -> int:
        d = json.loads(p.read_text())
        return len(d["workload"]["requests"]) if d["verdict"]["kind"] == "STUCK" else -1

    return max(sorted(CORPUS.glob("*.json")), key=size)


def probe(binary: str, tmp_path: Path, page: str) -> dict[str, Any]:
    csp = r'<meta http-equiv="Content-Security-Policy"[^>]*>'
    assert len(re.findall(csp, page)) == 1
    copy = re.sub(csp, "", page).replace("</body>", PROBE + "</body>")
    f = tmp_path / "probe.html"
    f.write_text(copy, encoding="utf-8")
    proc = browse(binary, tmp_path, "--dump-dom", f.as_uri())
    m = re.search(r'<pre id="qfuzz-probe">(.*?)</pre>', proc.stdout, re.S)
    assert m, f"chromium exited {proc.returncode} without the probe's report:\n{proc.stderr[-3000:]}"
    return json.loads(html.unescape(m.group(1)))


class _References(HTMLParser):
    """Everything in a page that would make a browser fetch: URL-valued
    attributes, fetching elements, CSS url() and @import."""

    URL_ATTRS = {"src", "href", "srcset", "action", "formaction", "poster", "data", "background", "ping", "xlink:href"}
    FETCHING = {"script", "link", "iframe", "frame", "object", "embed", "img", "image", "video", "audio", "source",
                "track", "base", "svg"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.FETCHING:
            self.found.append(f"<{tag}>")
        for name, value in attrs:
            if name in self.URL_ATTRS and not (name == "href" and (value or "").startswith("#")):
                self.found.append(f"{tag} {name}={value}")
            if name == "style" and re.search(r"(?i)url\(|@import|image-set\(", value or ""):
                self.found.append(f"{tag} style={value}")
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style and re.search(r"(?i)url\(|@import|image-set\(|@font-face", data):
            self.found.append("a CSS fetch in <style>")


def external_references(page: str) -> list[str]:
    parser = _References()
    parser.feed(page)
    parser.close()
    return parser.found


@pytest.mark.parametrize("pick", [seed_file, longest_file], ids=["seed-server-queue", "longest-stuck"])
def test_the_page_shows_the_failure_as_a_reader_sees_it(chromium, tmp_path, pick):
    path = pick()
    rep = load(path)
    ex = rep.replay()
    v = ex.verdict
    assert v.kind == "STUCK"
    source = str(path.relative_to(ROOT))
    page = render_html(ex, source=source)
    assert external_references(page) == []
    seen = probe(chromium, tmp_path, page)
    text = seen["text"]
    lines = [line.strip() for line in text.splitlines() if line.strip()]

    # the verdict first, then the signature and the command that replays it
    assert lines[0] == f"STUCK on {rep.variant}: {v.detail}"
    assert v.signature in text and f"qfuzz repro {source}" in text
    # one column header per thread, in order
    lanes = [h for h in seen["headers"] if re.fullmatch(r"thread \d+", h["text"].strip())]
    assert [h["text"].strip() for h in lanes] == [f"thread {t}" for t in range(ex.nthreads)]

    # A and B each marked once, on the row of their step, inside their thread's column, outlined
    rows = seen["rows"]
    for name, crit in zip("AB", v.critical):
        marked = [r for r in rows if r["mark"] and r["mark"]["text"].strip() == f"<-- {name}"]
        assert len(marked) == 1, name
        row = marked[0]
        assert row["step"].strip() == str(crit.step)
        lane = lanes[crit.thread]["x"]
        assert lane[0] <= row["mark"]["x"][0] and row["mark"]["x"][1] <= lane[1] + 1, (name, row, lane)
        assert crit.description.split(": ")[-1] in row["text"]
        assert row["outline"] == "solid"

    # the stranded window: every row from B's down to the failure, and no row above B
    gutter = [r["gutter"] not in TRANSPARENT for r in rows]
    b_row = next(i for i, r in enumerate(rows) if r["mark"] and r["mark"]["text"].strip() == "<-- B")
    assert gutter == [i >= b_row for i in range(len(rows))]
    assert rows[-1]["text"].startswith(f"STUCK: {v.detail}")

    # the wait against `timeout queue`
    tq = rep.workload["backend"]["timeout_queue"]
    assert f"timed out at t={v.failed_at}" in text and f"of timeout queue {tq}" in text

    # counters pinned in view however wide the lanes, every counter name shown
    assert all(r["counters"] is None or r["counters"][1] <= seen["viewport"] + 1 for r in rows)
    for counter in ex.counter_names:
        assert counter in text
    # timer/run rows hidden until asked for; nothing fetched
    assert "runs its next task" not in text and seen["rows_with_all"] > len(rows)
    assert seen["resources"] == []


def test_the_screenshot_is_a_real_page(chromium, tmp_path):
    path = seed_file()
    f = tmp_path / "page.html"
    out = qfuzz("repro", str(path), "--no-trace", "--html", str(f))
    assert out.returncode == 1, out.stdout + out.stderr
    png = tmp_path / "shot.png"
    proc = browse(chromium, tmp_path, "--hide-scrollbars", f"--screenshot={png}", f.as_uri())
    assert png.exists(), proc.stderr[-3000:]
    width, height, pixels = decode_png(png.read_bytes())
    assert (width, height) == WINDOW
    colours = set(pixels)
    ink = sum(1 for p in pixels if p != (255, 255, 255)) / len(pixels)
    red = sum(1 for r, g, b in pixels if r > 180 and g < 80 and b < 80)  # the STUCK badge, the window gutter
    assert len(colours) > 50 and 0.03 < ink < 0.9 and red > 200, (len(colours), ink, red)


def decode_png(data: bytes) -> tuple[int, int, list[tuple[int, int, int]]]:
    """Width, height and RGB pixels of an 8-bit, non-interlaced RGB(A) PNG (what Chromium writes)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, head = 8, b"", None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        pos += 12 + n
        if kind == b"IHDR":
            head = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
    assert head is not None
    width, height, depth, colour, _, _, interlace = head
    assert depth == 8 and colour in (2, 6) and interlace == 0, head
    bpp = 3 if colour == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    prev = bytearray(stride)
    pixels: list[tuple[int, int, int]] = []
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + a) & 255
            elif kind == 2:
                line[i] = (line[i] + b) & 255
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        pixels += [tuple(line[i:i + 3]) for i in range(0, stride, bpp)]  # type: ignore[misc]
        prev = line
    return width, height, pixels


# -- without a browser: escaping, determinism, the command line ----------------------------


def test_everything_from_outside_is_escaped(tmp_path):
    ex = load(seed_file()).replay()
    evil = '<script>alert(1)</script><img src=x onerror=alert(2)>"\'&'
    ex.__dict__["trace"] = [dataclasses.replace(e, description=f"fn: {evil}", label=evil) for e in ex.trace]
    ex.verdict = dataclasses.replace(ex.verdict, detail=evil)
    source = "/tmp/<b>x</b> \x1b[31m\udcff.json"  # markup, a terminal escape, an undecodable byte
    page = render_html(ex, source=source, title=evil)
    assert "<script" not in page and "<img" not in page and "<b>x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "\\x1b[31m" in page and "\\udcff" in page
    page.encode("utf-8")  # a lone surrogate would make this, and writing the page, fail
    assert external_references(page) == []


def test_the_page_is_deterministic():
    rep = load(seed_file())
    assert render_html(rep.replay(), source="a.json") == render_html(rep.replay(), source="a.json")


def test_repro_html_writes_one_file_or_a_directory_of_pages(tmp_path):
    files = sorted(CORPUS.glob("pre-fix--*.json"))[:3]
    one = tmp_path / "deep" / "one.html"
    out = qfuzz("repro", str(files[0]), "--no-trace", "--html", str(one))
    assert out.returncode == 1 and f"html: {one}" in out.stdout, out.stdout + out.stderr
    assert one.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    pages = tmp_path / "pages"
    out = qfuzz("repro", *map(str, files), "--no-trace", "--html", str(pages))
    assert out.returncode == 1, out.stdout + out.stderr
    assert sorted(p.name for p in pages.iterdir()) == sorted(f.stem + ".html" for f in files)  # no temp file left
    for f in files:
        assert f"html: {pages / (f.stem + '.html')}" in out.stdout
    # several reproducers and OUT an existing file: one line, exit 2, nothing replayed
    bad = qfuzz("repro", *map(str, files), "--no-trace", "--html", str(one))
    assert bad.returncode == 2 and "not a directory" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    assert bad.stdout == ""
