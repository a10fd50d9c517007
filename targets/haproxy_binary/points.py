"""Where to perturb the real HAProxy, from the model's critical events.

The model (targets/haproxy_queue) labels every step; a STUCK reproducer
names its critical events A (the stranded request's last decision) and B
(the step that should have woken it).  `LABELS` maps those labels to the
HAProxy function where a delay (or a hit count) stands for them, in both
2.6.12 and 3.0.11 (tests/test_perturb_points.py checks the symbol tables).

`--perturb auto` reads the pre-fix reproducers of the seed paths in
corpus/haproxy_queue/, takes their A and B labels and picks: a delay point
for each A label (the window PCT would open: the queuer is preempted
between its "full" check and its enqueue) and a count point for the most
B labels' functions (evidence that the releasing side ran)."""
from __future__ import annotations

import collections
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from .perturb import Point

_WIDEN = ("the queuer's full check (assign_server_and_queue, or the LB's every-server-full) comes just before "
          "pendconn_add: a delay at pendconn_add's entry widens the window between the check and the enqueue, "
          "where a releaser can free the slot and find the queue still empty")


@dataclass(frozen=True)
class Mapping:
    function: str
    at: str
    why: str


LABELS: dict[str, Mapping] = {
    # A: the queuer's decision that it must queue
    "ASQ_SERVED": Mapping("pendconn_add", "entry", _WIDEN),  # assign_server_and_queue reads srv.served
    "ASQ_QLEN": Mapping("pendconn_add", "entry", _WIDEN),  # ... and srv.queue.length
    "LB_FULL": Mapping("pendconn_add", "entry", _WIDEN),  # the LB found every server full: backend queue
    "AS_SKIPLB_FULL": Mapping("pendconn_add", "entry", _WIDEN),  # assign_server's skip-LB shortcut said FULL
    "RND_FULL": Mapping("pendconn_add", "entry", _WIDEN),  # balance random: every drawn server full
    # B: the releaser's side (counted: evidence that it ran during the run)
    "FREE_NODEQ": Mapping("stream_free", "entry", "the stream's slot is released late, in stream_free"),
    "PSQ_TRYLOCK": Mapping("process_srv_queue", "entry", "the releaser's dequeue starts with the server queue trylock"),
    "PNS_EMPTY": Mapping("pendconn_process_next_strm", "entry",
                         "the releaser looks for the next queued stream and finds none"),
    "MD_PXQLEN": Mapping("process_srv_queue", "entry", "the releaser decides whether to dequeue (backend queue length)"),
    "MD_CURSESS": Mapping("process_srv_queue", "entry", "the releaser decides whether to dequeue (server sessions)"),
    "BECONN_INC": Mapping("stream_set_backend", "entry", "a new stream is counted on the backend"),
    "RD_SKIP_PX": Mapping("pendconn_redistribute", "entry", "a server's queue is redistributed"),
    "WU_PENDING": Mapping("server_warmup", "entry", "the slowstart warmup task raises the limit and dequeues"),
}
SEED_PATHS = ("server-queue", "backend-queue")
# Used when the model corpus is not there (an installed wheel has none): the
# labels the pre-fix seed-path reproducers carry (corpus/haproxy_queue/, 2026-12-01)
FALLBACK = {"server-queue": (("ASQ_SERVED", "ASQ_QLEN"), ("PSQ_TRYLOCK", "FREE_NODEQ")),
            "backend-queue": (("LB_FULL", "AS_SKIPLB_FULL"), ("PSQ_TRYLOCK", "FREE_NODEQ"))}


@dataclass
class Choice:
    points: list[Point]
    reasons: list[str]  # one line per point, for the output
    sources: list[str]  # what the labels were read from


def model_corpus() -> Optional[Path]:
    """The model's corpus: ./corpus/haproxy_queue (every command's default
    corpus is under the working folder), else the source checkout's."""
    import harness

    for root in (Path.cwd(), Path(harness.__file__).resolve().parent.parent):
        d = root / "corpus" / "haproxy_queue"
        if d.is_dir():
            return d
    return None  # an installed wheel run elsewhere: points.FALLBACK


def critical_labels(corpus: Optional[Path], path: str, variant: str = "pre-fix"
                    ) -> tuple[collections.Counter[str], collections.Counter[str], dict[str, str], int]:
    """(A label counts, B label counts, label -> description, files read)
    over the `variant` STUCK reproducers of `path`."""
    a: collections.Counter[str] = collections.Counter()
    b: collections.Counter[str] = collections.Counter()
    desc: dict[str, str] = {}
    n = 0
    for f in sorted(corpus.glob(f"{variant}--stuck-{path}-*.json")) if corpus else ():
        try:
            v = json.loads(f.read_text())["verdict"]
            crit = v["critical"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if v.get("path") != path or len(crit) < 2:
            continue
        n += 1
        for counts, c in zip((a, b), crit[:2]):
            if c:  # a STUCK with no releaser's decision (nobody released) has no B
                counts[c["label"]] += 1
                desc.setdefault(c["label"], c.get("description", ""))
    return a, b, desc, n


def auto(paths: Sequence[str] = SEED_PATHS, corpus: Optional[Path] = None) -> Choice:
    """The points for `--perturb auto`, with the reason for each."""
    corpus = corpus if corpus is not None else model_corpus()
    evidence: dict[tuple[str, str, str], list[str]] = {}
    whys: dict[tuple[str, str, str], str] = {}
    sources = []
    for path in paths:
        a, b, _desc, n = critical_labels(corpus, path)
        if n:
            sources.append(f"{n} pre-fix {path} STUCK reproducers")
        else:
            a = collections.Counter(FALLBACK[path][0])
            b = collections.Counter(FALLBACK[path][1])
            n = sum(a.values())
            sources.append(f"the pre-fix {path} labels of points.FALLBACK (no model corpus found)")
        for event, counts, role in (("A", a, "delay"), ("B", b, "count")):
            for label, count in counts.most_common():
                m = LABELS.get(label)
                if m is None:
                    continue
                key = (m.function, m.at, role)
                evidence.setdefault(key, []).append(f"{event} {label} {count}/{n} {path}")
                whys.setdefault(key, m.why)
    points, reasons = [], []
    for key, ev in evidence.items():
        function, at, role = key
        why = whys[key] + ("" if role == "delay" else " (counted, not delayed: evidence that this side ran)")
        points.append(Point(function, at, role, why))
        reasons.append(f"{function}:{at} {role}: critical event {', '.join(ev)}: {why}")
    return Choice(points, reasons, sources)


def for_verdict(verdict: dict, name: str = "the reproducer") -> Choice:  # type: ignore[type-arg]
    """The points aimed by one model reproducer's own critical events (A
    delayed, B counted), e.g. a finding run with `--against` perturbed."""
    crit = [c for c in verdict.get("critical") or [] if isinstance(c, dict)]
    evidence: dict[tuple[str, str, str], list[str]] = {}
    whys: dict[tuple[str, str, str], str] = {}
    for event, c, role in zip("AB", crit[:2], ("delay", "count")):
        m = LABELS.get(str(c.get("label")))
        if m is None:
            continue
        key = (m.function, m.at, role)
        evidence.setdefault(key, []).append(f"{event} {c.get('label')} ({c.get('description', '')})")
        whys.setdefault(key, m.why)
    points = [Point(f, at, role, whys[(f, at, role)]) for f, at, role in evidence]
    reasons = [f"{f}:{at} {role}: critical event {', '.join(ev)} of {name}: {whys[(f, at, role)]}"
               for (f, at, role), ev in evidence.items()]
    return Choice(points, reasons, [name])
