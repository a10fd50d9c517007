"""The swim-lane trace as one self-contained HTML page, for bug reports.

The same timeline as swimlane.py (one column per thread, steps and virtual
time flowing down, critical events A and B, the failure window, counters
beside each step), plus the verdict, the signature and the replay command at
the top.  The page loads nothing: inline CSS, no script, no font or image,
and a Content-Security-Policy that forbids any fetch should a later edit
slip one in.  Every string from outside (C labels, verdict details, paths)
goes through _text(); the output is deterministic (no date), so two
renderings of one execution are byte-identical."""
from __future__ import annotations

import html
import os
import shlex
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from . import __version__
from .errors import QfuzzError
from .execution import Execution, TraceEvent
from .swimlane import HIDDEN_LABELS, describe_value, site_of

CSS = """
:root { --a: #a21caf; --win: #d1242f; --line: #d0d7de; --dim: #6e7781; --chg: #fff1b8; }
* { box-sizing: border-box; }
body { margin: 0; color: #1f2328; background: #fff;
  font: 12.5px/1.35 ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; }
header { padding: 12px 16px 8px; border-bottom: 1px solid var(--line); }
h1 { font-size: 15px; margin: 0 0 6px; font-weight: normal; }
h1 .kind { font-weight: bold; padding: 1px 6px; border-radius: 3px; color: #fff; background: var(--win); }
h1 .kind.OK { background: #1a7f37; }
.facts { margin: 2px 0; }
.facts b { display: inline-block; min-width: 8.5em; color: var(--dim); font-weight: normal; }
code.cmd { background: #f6f8fa; border: 1px solid var(--line); padding: 1px 6px; user-select: all; }
ul.crit { list-style: none; padding: 0; margin: 6px 0; }
ul.crit li { margin: 2px 0; }
.tag { display: inline-block; min-width: 1.6em; text-align: center; font-weight: bold; color: #fff;
  background: var(--a); border-radius: 3px; margin-right: 4px; }
.role { color: var(--dim); }
.wait { margin: 8px 0 2px; max-width: 720px; }
.gauge { position: relative; height: 14px; background: #eaeef2; border: 1px solid var(--line); }
.gauge span { position: absolute; top: 0; bottom: 0; }
.gauge .queued { background: #f0b72f; }
.gauge .stranded { background: var(--win); }
.gauge .tq { border-left: 2px solid #1f2328; height: 100%; margin-left: -2px; }
.scale { display: flex; justify-content: space-between; color: var(--dim); }
.legend { color: var(--dim); margin-top: 6px; }
.legend .sw { display: inline-block; width: 10px; height: 10px; vertical-align: middle; }
main { padding: 8px 16px 24px; }
#all { margin-left: 0; }
#all:not(:checked) ~ table tr.aux { display: none; }
table.lanes { border-collapse: collapse; margin-top: 6px; }
table.lanes th { position: sticky; top: 0; z-index: 1; background: #f6f8fa; border-bottom: 2px solid var(--line);
  text-align: left; padding: 3px 6px; white-space: nowrap; }
table.lanes td { padding: 1px 6px; vertical-align: top; }
th.num, td.num { text-align: right; color: var(--dim); }
td.newt { color: #1f2328; font-weight: bold; }
th.lane, td.lane { border-left: 1px solid var(--line); min-width: 16em; white-space: nowrap; }
td.lane.span { white-space: normal; }
/* the counters are one cell pinned to the right edge: they stay in view when wide lanes scroll */
.ctrs { position: sticky; right: 0; background: #fff; border-left: 1px solid var(--line); white-space: nowrap;
  text-align: right; }
th.ctrs { z-index: 2; background: #f6f8fa; vertical-align: bottom; }
.ctrs span { display: inline-block; text-align: right; padding: 0 3px; color: var(--dim); }
th.ctrs span { writing-mode: vertical-rl; transform: rotate(180deg); text-align: left; font-weight: normal; }
.ctrs span.chg { color: #1f2328; font-weight: bold; background: var(--chg); }
td.g { width: 5px; padding: 0; }
tr.win td.g { background: var(--win); }
tr.win td.lane { background: #fff5f5; }
tr:hover td { background: #f3f6fa; }
.req { font-weight: bold; }
.cont { padding-left: 1.5em; display: inline-block; }
tr.note .ev { font-style: italic; }
tr.block .ev { color: #9a6700; }
tr.aux .ev { color: var(--dim); }
tr.crit td.lane.here { outline: 2px solid var(--a); outline-offset: -2px; background: #fbefff; }
tr.crit .ev { color: #b3261e; font-weight: bold; }
.mark { color: var(--a); font-weight: bold; white-space: nowrap; }
tr.clock td.span { color: #0a6d8a; border-top: 1px dashed #8cc4d6; border-bottom: 1px dashed #8cc4d6; }
tr.fail td.span { color: #fff; background: var(--win); font-weight: bold; }
"""


def _text(s: object) -> str:
    """Escape for HTML text and attributes.  Control characters and lone
    surrogates (an undecodable path) become visible escapes, so the page is
    always valid UTF-8 and shows what is really there."""
    s = str(s).encode("utf-8", "backslashreplace").decode("utf-8")
    s = "".join(
        c if unicodedata.category(c)[0] != "C" else c.encode("unicode_escape").decode("ascii") for c in s
    )
    return html.escape(s, quote=True)


@dataclass(frozen=True)
class _Marks:
    """Where the critical events and the failure window fall in the trace."""

    crit: dict[int, str]  # trace index -> "A" / "B"
    window: Optional[tuple[int, int]]  # trace indexes [from, to] of the failure window
    window_name: str = ""  # the target's name for it


def _marks(ex: Execution) -> _Marks:
    v = ex.verdict
    trace = ex.trace
    crit: dict[int, str] = {}
    for name, c in zip("AB", v.critical):
        if c is None or c.step < 0:
            continue  # a SAFETY invariant is no single event
        for i, e in enumerate(trace):
            if e.step == c.step and e.label == c.label and i not in crit:
                crit[i] = name
                break
    window = None
    name = ex.target.window(v)
    if name is not None and crit:
        # from the later critical event's own row (not every row sharing its step) to the failure
        start = max(crit)
        end = next((i for i, e in enumerate(trace) if e.kind == "fail"), len(trace) - 1)
        window = (start, max(start, end))
    return _Marks(crit, window, name or "")


def replay_command(source: Optional[str], variant: Optional[str] = None) -> str:
    cmd = "qfuzz repro " + (shlex.quote(source) if source else "FILE")
    return cmd + (f" --variant {shlex.quote(variant)}" if variant else "")


def _header(ex: Execution, source: Optional[str], stored_variant: Optional[str], marks: _Marks) -> list[str]:
    v = ex.verdict
    out = ["<header>"]
    if v.ok:
        out.append(f'<h1><span class="kind OK">OK</span> on {_text(ex.variant)}: no failure ({ex.steps} steps)</h1>')
    else:
        out.append(f'<h1 id="verdict"><span class="kind">{_text(v.kind)}</span> on {_text(ex.variant)}: '
                   f"{_text(v.detail)}</h1>")
        out.append(f'<div class="facts"><b>signature</b><code id="signature">{_text(v.signature)}</code></div>')
    if stored_variant and stored_variant != ex.variant:
        out.append(f'<div class="facts"><b>stored as</b>a failure of variant {_text(stored_variant)}</div>')
    variant_flag = ex.variant if stored_variant and stored_variant != ex.variant else None
    out.append(f'<div class="facts"><b>replay</b><code class="cmd" id="replay">'
               f"{_text(replay_command(source, variant_flag))}</code></div>")
    if source:
        out.append(f'<div class="facts"><b>reproducer</b>{_text(source)}</div>')
    w = ex.workload.data
    size = ex.target.size(w)
    shape = ", ".join(f"{k} {n}" for k, n in size.items())
    out.append(f'<div class="facts"><b>run</b>{_text(ex.target.name)}: {_text(shape)}; {ex.steps} steps, '
               f"{len(ex.decisions)} decisions, {ex.preemptions} preemptions, ends at t={ex.end_time}</div>")
    if not v.ok:
        out.append(_critical_list(ex, marks))
        out.append(_wait(ex))
    out.append(_legend(marks))
    out.append("</header>")
    return out


def _critical_list(ex: Execution, marks: _Marks) -> str:
    v = ex.verdict
    roles = ex.target.roles(v)
    rows = {name: i for i, name in marks.crit.items()}
    items = []
    for name, c, role in zip("AB", v.critical, roles):
        if c is None:
            continue
        where = f"step {c.step}, thread {c.thread}" if c.step >= 0 else "checked at every step"
        what = _text(c.description or c.label)
        site = site_of(ex, c)
        if site:
            what += _site(site)
        if name in rows:
            what = f'<a href="#{name}">{what}</a>'
        items.append(f'<li id="crit-{name}"><span class="tag">{name}</span>{_text(where)}: {what} '
                     f'<span class="role">[{_text(c.label)}]{_text(f" ({role})" if role else "")}</span></li>')
    return '<ul class="crit">' + "".join(items) + "</ul>" if items else ""


def _wait(ex: Execution) -> str:
    """The failing wait, in the target's words, drawn against its limit."""
    w = ex.target.wait(ex)
    if w is None:
        return ""
    out = [f'<div class="wait"><div id="wait">{_text(w.line)}</div>']
    if isinstance(w.limit, int) and w.limit > 0 and w.start is not None and w.end is not None:
        start, end = w.start, w.end
        waited = end - start
        scale = max(w.limit, waited, 1)
        stranded_from = min(max(w.stranded_from if w.stranded_from is not None else start, start), end)

        def pct(x: int) -> str:
            return f"{100 * x / scale:.2f}%"

        out.append(
            f'<div class="gauge" title="{_text(w.line)}">'
            f'<span class="queued" style="left:0;width:{pct(stranded_from - start)}"></span>'
            f'<span class="stranded" style="left:{pct(stranded_from - start)};width:{pct(end - stranded_from)}">'
            f'</span><span class="tq" style="left:{pct(w.limit)}"></span></div>'
            f'<div class="scale"><span>t={start} {_text(w.start_text)}</span>'
            f"<span>t={end} {_text(w.end_text)}</span></div>"
            f'<div class="legend"><span class="sw" style="background:#f0b72f"></span> {_text(w.legend[0])} '
            f'&nbsp; <span class="sw" style="background:var(--win)"></span> {_text(w.legend[1])}</div>'
        )
    out.append("</div>")
    return "".join(out)


def _site(site: str) -> str:
    """A call site, `function (file:line)` (styled inline: pages without sites stay byte-identical)."""
    return f' <span class="site" style="color:#0a6d8a">{_text(site)}</span>'


def _legend(marks: _Marks) -> str:
    parts = []
    if marks.crit:
        parts.append('<span class="tag">A</span><span class="tag">B</span> the two critical events')
    if marks.window:
        parts.append(f'<span class="sw" style="background:var(--win)"></span> {_text(marks.window_name)} '
                     "(from the later critical event to the failure)")
    parts.append('<span class="sw" style="background:var(--chg)"></span> counter changed at this step')
    return '<div class="legend">' + " &nbsp; ".join(parts) + "</div>"


def _row(ex: Execution, i: int, e: TraceEvent, marks: _Marks, last_fn: dict[Optional[int], str],
         prev: Optional[tuple[int, ...]], prev_time: Optional[int]) -> str:
    v = ex.verdict
    n = ex.nthreads
    cls = ["win"] if marks.window is not None and marks.window[0] <= i <= marks.window[1] else []
    newt = " newt" if e.time != prev_time else ""
    lead = f'<td class="g"></td><td class="num">{e.step}</td><td class="num{newt}">{e.time}</td>'
    attrs = f'data-step="{e.step}" data-time="{e.time}"'
    if e.kind in ("clock", "fail"):  # across every lane: it concerns them all
        text = f"··· clock -> t={e.time}" if e.kind == "clock" else f"{v.kind}: {v.detail}"
        ident = ' id="failure"' if e.kind == "fail" else ""
        counters = _counters(e.counters, prev) if e.kind == "fail" else '<td class="ctrs"></td>'
        return (f'<tr class="{" ".join(cls + [e.kind])}"{ident} {attrs}>{lead}'
                f'<td class="lane span" colspan="{n}"><span class="ev">{_text(text)}</span></td>{counters}</tr>')
    col = e.thread if e.thread is not None and 0 <= e.thread < n else 0
    if e.kind == "block":
        body = _text(f"waits for lock {e.value}")
    else:
        fn, sep, rest = e.description.partition(": ")
        if sep and last_fn.get(e.thread) == fn:  # same function as this lane's row above: indent, as swimlane does
            body = f'<span class="cont">{_text(rest + describe_value(e, ex.target))}</span>'
        else:
            body = _text(e.description + describe_value(e, ex.target))
        if e.site:
            body += _site(e.site)
        last_fn[e.thread] = fn if sep else ""
    req = f'<span class="req">r{e.request}</span> ' if e.request is not None and e.kind != "block" else ""
    cls.append(e.kind)
    if e.label in HIDDEN_LABELS:
        cls.append("aux")
    mark = marks.crit.get(i)
    ident = tag = here = ""
    if mark:
        cls.append("crit")
        ident = f' id="{mark}"'
        tag = f' <span class="mark" data-mark="{mark}">&lt;-- {mark}</span>'
        here = " here"
    lanes = ['<td class="lane"></td>'] * n
    lanes[col] = f'<td class="lane{here}" title="{_text(e.label)}">{req}<span class="ev">{body}</span>{tag}</td>'
    return (f'<tr class="{" ".join(cls)}"{ident} {attrs} data-thread="{col}">{lead}{"".join(lanes)}'
            f"{_counters(e.counters, prev)}</tr>")


def _counters(values: tuple[int, ...], prev: Optional[tuple[int, ...]]) -> str:
    cells = []
    for k, c in enumerate(values):
        if prev is not None and k < len(prev) and prev[k] != c:
            cells.append(f'<span class="chg" title="was {prev[k]}">{c}</span>')
        else:
            cells.append(f"<span>{c}</span>")
    return '<td class="ctrs">' + "".join(cells) + "</td>"


def _counter_widths(ex: Execution) -> str:
    """CSS giving each counter column the width of its widest value (the names stand upright)."""
    names = ex.counter_names
    widths = [2] * len(names)
    for e in ex.trace:
        for k, c in enumerate(e.counters[: len(widths)]):
            widths[k] = max(widths[k], len(str(c)))
    return "".join(f".ctrs span:nth-child({k + 1}) {{ width: {w + 1}ch; }}\n" for k, w in enumerate(widths))


def _table(ex: Execution, marks: _Marks) -> list[str]:
    head = ['<th class="g"></th><th class="num">step</th><th class="num">t</th>']
    head += [f'<th class="lane">thread {t}</th>' for t in range(ex.nthreads)]
    head.append('<th class="ctrs">' + "".join(f"<span>{_text(name)}</span>" for name in ex.counter_names) + "</th>")
    out = ['<input type="checkbox" id="all"><label for="all"> show every step (timer and run events too)</label>',
           '<table class="lanes"><thead><tr>' + "".join(head) + "</tr></thead><tbody>"]
    last_fn: dict[Optional[int], str] = {}
    prev: Optional[tuple[int, ...]] = None
    prev_time: Optional[int] = None
    for i, e in enumerate(ex.trace):
        out.append(_row(ex, i, e, marks, last_fn, prev, prev_time))
        if e.kind != "clock":
            prev = e.counters
        prev_time = e.time
    out.append("</tbody></table>")
    return out


def render_html(ex: Execution, *, title: Optional[str] = None, source: Optional[str] = None,
                stored_variant: Optional[str] = None) -> str:
    """The page for `ex`.  `source` is the reproducer's path as the user gave
    it (shown and used in the replay command); `stored_variant` is the
    variant the file was stored for, when it was replayed on another one."""
    v = ex.verdict
    marks = _marks(ex)
    if title is None:
        title = f"{v.signature if not v.ok else 'OK'} on {ex.variant}"
        if source:
            title += f" - {os.path.basename(source)}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        # no fetch of any kind, even if a later edit adds a link: the page must work offline and leak nothing
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'<meta name="generator" content="qfuzz {_text(__version__)}">',
        f"<title>{_text(title)}</title>",
        f"<style>{CSS}{_counter_widths(ex)}</style></head><body>",
        *_header(ex, source, stored_variant, marks),
        "<main>",
        *_table(ex, marks),
        "</main></body></html>",
    ]
    return "\n".join(parts) + "\n"


def page_paths(reproducers: list[Path], out: str) -> list[Path]:
    """Where `--html OUT` puts each page: OUT itself for one reproducer
    (inside it, if OUT is a directory), else OUT/<reproducer stem>.html."""
    o = Path(out)
    if len(reproducers) == 1 and not o.is_dir() and not out.endswith(os.sep):
        return [o]
    if o.exists() and not o.is_dir():
        raise QfuzzError(f"{o}: not a directory (--html with several reproducers writes one page each into a directory)")
    pages = [o / f"{p.stem}.html" for p in reproducers]
    seen: dict[Path, Path] = {}
    for rep, page in zip(reproducers, pages):
        if seen.setdefault(page, rep) != rep:
            raise QfuzzError(f"{seen[page]} and {rep}: both would be written to {page}; render them separately")
    return pages


def write_page(path: Path, text: str) -> None:
    """Write `path` atomically (temp file in the same directory, then
    os.replace): a reader never sees half a page.  Replaces an existing page."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".html", dir=path.parent)
    except OSError as exc:
        raise QfuzzError(f"{path}: cannot write ({exc.strerror})") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # as open() would; mkstemp's 0600 hides the page from a colleague
        os.replace(tmp, path)
    except OSError as exc:
        _unlink(tmp)
        raise QfuzzError(f"{path}: cannot write ({exc.strerror})") from None
    except BaseException:
        _unlink(tmp)
        raise


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
