"""Parse HAProxy's `option httplog` lines (raw format, as `log stdout format
raw` writes them; a syslog prefix before the client address is skipped).

The fields the oracle needs: the request date (%tr, ms resolution, UTC since
the harness runs HAProxy with TZ=UTC), TR and Tw (so the queue window is
[tr+TR, tr+TR+Tw]), the termination state (`sQ` = timed out in a queue), the
server (`<NOSRV>` = queued on the backend, a name = queued on that server),
srv_conn, and the queue positions."""
from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from typing import Iterable, Iterator, Optional

MONTHS = {m: i for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}

LINE = re.compile(
    r"(?P<client>\S+):(?P<cport>\d+) \[(?P<date>\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d\.\d{3})\] "
    r"(?P<fe>\S+) (?P<be>[^/\s]+)/(?P<srv>\S+) "
    r"(?P<TR>-?\d+)/(?P<Tw>-?\d+)/(?P<Tc>-?\d+)/(?P<Tr>-?\d+)/\+?(?P<Ta>-?\d+) "
    r"(?P<status>-?\d+) \+?(?P<bytes>\d+) (?P<reqc>\S+) (?P<resc>\S+) (?P<ts>\S{4}) "
    r"(?P<ac>\d+)/(?P<fc>\d+)/(?P<bc>\d+)/(?P<sc>\d+)/\+?(?P<rc>\d+) (?P<sq>\d+)/(?P<bq>\d+) "
    r"(?:\{[^}]*\} )*\"(?P<req>[^\"]*)\"?\s*$"
)
NOSRV = "<NOSRV>"


@dataclass(frozen=True)
class LogEntry:
    date: float  # %tr, epoch seconds
    backend: str
    server: Optional[str]  # None for <NOSRV>
    TR: int
    Tw: int
    Tc: int
    Tr: int
    Ta: int
    status: int
    term: str  # 4-char termination state, e.g. "sQ--"
    srv_conn: int
    backend_conn: int
    srv_queue: int
    backend_queue: int
    request: str
    line: int  # 1-based line number in the log

    @property
    def queue_timeout(self) -> bool:
        return self.term[:2] == "sQ"

    @property
    def queued_at(self) -> float:
        return self.date + max(self.TR, 0) / 1000.0

    @property
    def left_queue_at(self) -> float:
        return self.queued_at + max(self.Tw, 0) / 1000.0

    @property
    def path(self) -> str:
        return "backend-queue" if self.server is None else "server-queue"

    @property
    def request_id(self) -> Optional[str]:
        m = re.search(r"[?&]id=([\w.-]+)", self.request)
        return m.group(1) if m else None


def parse_date(s: str) -> float:
    """`26/Nov/2026:22:56:13.114` (UTC) to epoch seconds."""
    day, mon, rest = s.split("/", 2)
    year, hh, mm, ss = rest.split(":")
    sec, ms = ss.split(".")
    t = calendar.timegm((int(year), MONTHS[mon], int(day), int(hh), int(mm), int(sec), 0, 0, 0))
    return t + int(ms) / 1000.0


def parse_line(text: str, lineno: int = 0) -> Optional[LogEntry]:
    m = LINE.search(text)
    if m is None:
        return None
    g = m.group
    srv = g("srv")
    return LogEntry(
        date=parse_date(g("date")), backend=g("be"), server=None if srv == NOSRV else srv,
        TR=int(g("TR")), Tw=int(g("Tw")), Tc=int(g("Tc")), Tr=int(g("Tr")), Ta=int(g("Ta")),
        status=int(g("status")), term=g("ts"), srv_conn=int(g("sc")), backend_conn=int(g("bc")),
        srv_queue=int(g("sq")), backend_queue=int(g("bq")), request=g("req"), line=lineno,
    )


@dataclass
class ParsedLog:
    entries: list[LogEntry]
    other: int  # lines that are not httplog lines (startup notices and the like)


def parse_lines(lines: Iterable[str]) -> ParsedLog:
    entries: list[LogEntry] = []
    other = 0
    for i, text in enumerate(lines, 1):
        e = parse_line(text, i)
        if e is None:
            other += bool(text.strip())
        else:
            entries.append(e)
    return ParsedLog(entries, other)


def parse_file(path: str) -> ParsedLog:
    with open(path, encoding="utf-8", errors="replace") as f:
        return parse_lines(f)


def queue_timeouts(entries: Iterable[LogEntry]) -> Iterator[LogEntry]:
    return (e for e in entries if e.queue_timeout)
