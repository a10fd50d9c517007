"""Every variant bit declared in model.h has code: for each one, some workload
and schedule give a different trace with the bit set and unset.  A bit with
no line of model.c behind it (as HQ_BUG_REDIST_PX once was) fails here.

The bits are read from model.h itself, so a newly declared bit is covered
without touching this file.  For each bit the candidates are, in order: the
corpus reproducers of every variant that sets it (their workload and
schedule), then workloads of the generic mix under seeded schedules.  The
same scheduler seed runs on both builds, and the traces are compared byte for
byte; the search stops at the first difference."""
from __future__ import annotations

import random
import re

import pytest

from harness.corpus import Corpus
from harness.runner import run
from harness.schedulers import Replay, make
from harness.target import Variant
from support import HQ, ROOT

MODEL_H = ROOT / "targets" / "haproxy_queue" / "model.h"
BITS = {m[1]: 1 << int(m[2]) for m in re.finditer(r"#define (HQ_(?:BUG_\w+|PRE_\w+|ABLATE_\w+|COARSE))\s+\(1u << (\d+)\)",
                                                  MODEL_H.read_text())}


def trace_of(bits: int, workload, scheduler) -> tuple[str, bytes]:
    build = Variant(f"bits-{bits:#x}", bits, "an unnamed build", "bugs")
    ex = run(HQ, build, workload, scheduler)
    return ex.verdict.signature, ex.raw_trace


def differs(bit: int, base: int, workload, scheduler_factory) -> bool:
    return trace_of(base | bit, workload, scheduler_factory()) != trace_of(base & ~bit, workload, scheduler_factory())


def test_model_h_declares_the_bits_the_catalog_names():
    from harness.targets.haproxy_queue import catalog  # noqa: F401  (the descriptor's own copy of the bits)

    assert len(BITS) >= 16
    py = {f"HQ_{k}": v for k, v in vars(catalog).items() if k.startswith(("BUG_", "PRE_", "ABLATE_")) or k == "COARSE"}
    assert py == BITS, "catalog.py and model.h disagree on the variant bits"


@pytest.mark.parametrize("name", sorted(BITS), ids=sorted(BITS))
def test_each_bit_changes_some_trace(name):
    bit = BITS[name]
    corpus = Corpus(ROOT / "corpus", "haproxy_queue")
    # 1. stored reproducers of variants that set the bit: their own schedule
    for rep in corpus.reproducers():
        bits = HQ.variant(rep.variant).bits
        if bits & bit and differs(bit, bits, rep.workload, lambda: Replay(rep.decisions)):
            return
    # 2. the generic mix, seeded schedules, on the fixed tree with only this bit flipped
    # (the older hand-picked mixes first, then the generic one, whose share of workloads
    # with slowstart and connect errors is what the 2026-12 bits act on)
    for mix in ("all", "generic"):
        rnd = random.Random(1)
        for i in range(300):
            data = HQ.generate(rnd, mix)
            for strategy in ("pct", "random"):
                if differs(bit, 0, data, lambda: make(strategy, i)):
                    return
    pytest.fail(f"{name} ({bit:#x}) changed no trace: no workload or schedule tried behaves differently with it")


# The GH #2711 shape on the Oct 2024 tree (must_try_again, balance_again, the
# skip-LB shortcut without ca275d99c's px.served check): two actives, one
# taken out at t=0, the other at 15, a backup idle beside a queued request.
SPIN = {
    "threads": 3,
    "servers": [{"maxconn": 1}, {"maxconn": 1}, {"maxconn": 1, "backup": True}],
    "backend": {"balance": "first", "timeout_queue": 50},
    "requests": [{"at": 10, "thread": 2, "duration": 20}, {"at": 10, "thread": 2, "duration": 10, "key": 3},
                 {"at": 30, "thread": 2, "duration": 10, "key": 3}, {"at": 30, "thread": 0, "duration": 10, "key": 3},
                 {"at": 30, "thread": 1, "duration": 10, "key": 3}]
    + [{"at": 9_000_000, "thread": 0, "duration": 1}] * 59,
    "events": [{"at": 0, "thread": 1, "action": "disable", "server": 1},
               {"at": 15, "thread": 1, "action": "disable", "server": 0}],
}


def test_the_pendconn_pool_recycles_in_a_long_balance_again_spin():
    # Three threads spin in balance_again at once: each can run, so no spin is
    # idle and only the step budget (raised by the 59 far-off requests) ends it.
    # That is over 4,000 pendconn_add() calls, twice the 2,048-entry pool:
    # without recycling the spinners got "internal error" 500s and the
    # LIVELOCK was lost.
    ex = run(HQ, "dequeuing-fix", SPIN, make("pct", 3))
    adds = sum(1 for e in ex.trace if e.label == "PADD_LENGTH")
    assert ex.verdict.signature == "LIVELOCK:-:BALANCE_AGAIN:-", ex.verdict.detail
    assert adds > 2048 and not any(e.label == "RESP_INTERNAL" for e in ex.trace)
