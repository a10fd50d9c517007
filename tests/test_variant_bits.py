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

import json
import random
import re

import pytest

from harness.corpus import Corpus
from harness.native import core
from harness.pinning import default_cpu
from harness.runner import run
from harness.schedulers import Replay, make
from support import HQ, ROOT

MODEL_H = ROOT / "targets" / "haproxy_queue" / "model.h"
BITS = {m[1]: 1 << int(m[2]) for m in re.finditer(r"#define (HQ_(?:BUG_\w+|COARSE))\s+\(1u << (\d+)\)",
                                                  MODEL_H.read_text())}


def trace_of(bits: int, workload, scheduler) -> tuple[str, bytes]:
    w = HQ.workload(workload)
    r = core.run(HQ.index, bits, w.packed, scheduler.kind, budget=HQ.budget(w.data), cpu=default_cpu(), trace=1,
                 features=1, **scheduler.native_args(HQ.estimate_steps(w.data)))
    return str(r["kind"]), bytes(r["trace"])


def differs(bit: int, base: int, workload, scheduler_factory) -> bool:
    return trace_of(base | bit, workload, scheduler_factory()) != trace_of(base & ~bit, workload, scheduler_factory())


def test_model_h_declares_the_bits_the_catalog_names():
    from harness.targets.haproxy_queue import catalog  # noqa: F401  (the descriptor's own copy of the bits)

    assert len(BITS) >= 16
    py = {f"HQ_{k}": v for k, v in vars(catalog).items() if k.startswith("BUG_") or k == "COARSE"}
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
    rnd = random.Random(1)
    for i in range(300):
        data = HQ.generate(rnd, "all")
        for strategy in ("pct", "random"):
            if differs(bit, 0, data, lambda: make(strategy, i)):
                return
    pytest.fail(f"{name} ({bit:#x}) changed no trace: no workload or schedule tried behaves differently with it")


def test_the_pendconn_pool_recycles_in_a_long_balance_again_spin():
    # Three threads spin in balance_again at once (pre-ca275d99c: the skip-LB
    # shortcut queues while px.served is 0, must_try_again takes it back out):
    # each can run, so no spin is idle and only the step budget ends it.  That
    # is over 4,000 pendconn_add() calls, twice the 2,048-entry pool: without
    # recycling the spinners got "internal error" 500s and the LIVELOCK was lost.
    rep = next(r for r in Corpus(ROOT / "corpus", "haproxy_queue").reproducers()
               if r.variant == "revert-ca275d99c")
    w = json.loads(json.dumps(rep.workload))
    late = w["requests"][-1]
    w["requests"] += [dict(late, thread=0), dict(late, thread=1)]
    w["requests"] += [{"at": 9_000_000, "thread": 0, "duration": 1, "key": 0}] * (64 - len(w["requests"]))
    ex = run(HQ, "revert-ca275d99c", w, make("pct", 3))
    adds = sum(1 for e in ex.trace if e.label == "PADD_LENGTH")
    assert ex.verdict.signature == "LIVELOCK:-:BALANCE_AGAIN:-", ex.verdict.detail
    assert adds > 2048 and not any(e.label == "RESP_INTERNAL" for e in ex.trace)
