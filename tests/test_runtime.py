"""The runtime of unmodified C programs (native/rt), driven through
harness._native directly: each program is written here, built out of tree
with harness.program.build, loaded with core.load_program and run with
core.run, and the test checks what a user would see in the result."""
from __future__ import annotations

import struct
import textwrap
from pathlib import Path
from typing import Any

import pytest

from harness.errors import QfuzzError
from harness.native import core
from harness.program.build import CompileError, build

RANDOM, PCT, POS, BYTES, REPLAY = 0, 1, 2, 3, 4
KIND = {0: "OK", 1: "STUCK", 2: "SAFETY", 3: "DEADLOCK", 4: "LIVELOCK", 5: "LOCK_ORDER", 6: "FAIL", 7: "BLOCKING"}
HEAD = struct.Struct("<IIhBBhhi")


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("qfuzz-cache")


_loaded: dict[tuple[str, tuple[str, ...], bool], dict[str, Any]] = {}


def program(cache: Path, name: str, source: str, macros: tuple[str, ...] = (), race: bool = False) -> dict[str, Any]:
    """Write `source` to <cache>/src/<name>.c, build and load it (once per process)."""
    key = (source, macros, race)
    if key not in _loaded:
        src = cache / "src" / f"{name}.c"
        src.parent.mkdir(exist_ok=True)
        src.write_text(textwrap.dedent(source))
        so = build([src], macros=macros, race=race, cache=cache)
        _loaded[key] = {**core.load_program(str(so), race=race), "so": so}
    return _loaded[key]


def workload(*args: str) -> bytes:
    b = b"".join(a.encode() + b"\0" for a in ("prog", *args))
    return struct.pack("<i", len(args) + 1) + b + b"\0" * (-len(b) % 4)


def run(p: dict[str, Any], *args: str, sched: int = PCT, seed: int = 0, **kw: Any) -> dict[str, Any]:
    r = core.run(p["index"], 0, workload(*args), sched, seed=seed, **kw)
    r["verdict"] = KIND[r["kind"]]
    return r


def records(r: dict[str, Any]) -> list[tuple[int, ...]]:
    return [HEAD.unpack_from(r["trace"], i) for i in range(0, len(r["trace"]), r["stride"])]


def labels(p: dict[str, Any]) -> list[str]:
    return [ident for ident, _ in p["labels"]]


COND_HANDOFF = r"""
    #include <pthread.h>
    #include <stdatomic.h>
    #include <stdio.h>

    static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    static pthread_cond_t c = PTHREAD_COND_INITIALIZER;
    static int ready, total;
    static atomic_int counter;

    static void *worker(void *arg)
    {
        for (int i = 0; i < 3; i++)
            atomic_fetch_add(&counter, 1);
        pthread_mutex_lock(&m);
        while (!ready)
            pthread_cond_wait(&c, &m);
        total += (int)(long)arg;
        pthread_mutex_unlock(&m);
        return NULL;
    }

    int main(int argc, char **argv)
    {
        pthread_t t[2];
        for (long i = 0; i < 2; i++)
            pthread_create(&t[i], NULL, worker, (void *)(i + 1));
        pthread_mutex_lock(&m);
        ready = 1;
        pthread_cond_broadcast(&c);
        pthread_mutex_unlock(&m);
        for (int i = 0; i < 2; i++)
            pthread_join(t[i], NULL);
        printf("total %d counter %d last arg %s\n", total, atomic_load(&counter), argv[argc - 1]);
        return total == 3 && atomic_load(&counter) == 6 ? 0 : 1;
    }
"""


def test_threads_mutex_condvar_atomics_run_to_ok(cache: Path) -> None:
    p = program(cache, "handoff", COND_HANDOFF)
    assert p["reset"] == "segments" and p["reset_why"] == ""
    seen_interleavings = set()
    for seed in range(30):
        r = run(p, "hello", seed=seed)
        assert r["verdict"] == "OK", r["detail"]
        assert r["output"] == b"total 3 counter 6 last arg hello\n"
        assert r["nthreads"] == 3
        seen_interleavings.add(bytes(r["decisions"]))
    assert len(seen_interleavings) > 5  # the scheduler really interleaves the threads


def test_every_trace_record_has_a_call_site_in_the_program(cache: Path) -> None:
    p = program(cache, "handoff", COND_HANDOFF)
    r = run(p, seed=3)
    recs = records(r)
    sites = struct.unpack(f"<{len(recs)}Q", r["sites"])
    ids = labels(p)
    size = p["so"].stat().st_size
    ops = [(ids[rec[2]], site) for rec, site in zip(recs, sites) if rec[4] == 0 and 0 <= rec[2] < len(ids)]
    by_label = {label for label, site in ops if 0 < site < size}
    assert {"PTHREAD_CREATE", "MUTEX_LOCK", "COND_BROADCAST", "ATOMIC_RMW", "PTHREAD_JOIN"} <= by_label


def test_replay_of_the_decisions_gives_the_same_trace(cache: Path) -> None:
    p = program(cache, "handoff", COND_HANDOFF)
    for seed in range(5):
        r = run(p, sched=RANDOM, seed=seed)
        again = run(p, sched=REPLAY, data=bytes(r["decisions"]))
        assert (again["trace"], again["sites"], again["decisions"]) == (r["trace"], r["sites"], r["decisions"])


LOST_WAKEUP = r"""
    #include <pthread.h>

    static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    static pthread_cond_t c = PTHREAD_COND_INITIALIZER;
    static int items;

    static void *consumer(void *arg)
    {
        pthread_mutex_lock(&m);
    #if FIXED
        while (items == 0)
    #else
        if (items == 0) /* checks once, then waits: a signal sent before the wait is lost */
    #endif
            pthread_cond_wait(&c, &m);
        items--;
        pthread_mutex_unlock(&m);
        return arg;
    }

    int main(void)
    {
        pthread_t t;
        pthread_create(&t, NULL, consumer, NULL);
    #if FIXED
        pthread_mutex_lock(&m);
        items++;
        pthread_cond_signal(&c);
        pthread_mutex_unlock(&m);
    #else
        pthread_cond_signal(&c); /* signals before publishing */
        pthread_mutex_lock(&m);
        items++;
        pthread_mutex_unlock(&m);
    #endif
        pthread_join(t, NULL);
        return 0;
    }
"""


def test_lost_wakeup_is_stuck_with_the_wait_and_the_wake_that_missed_it(cache: Path) -> None:
    p = program(cache, "lost", LOST_WAKEUP, ("FIXED=0",))
    ids = labels(p)
    found = None
    for seed in range(200):
        r = run(p, seed=seed)
        if r["verdict"] != "OK":
            found = r
            break
    assert found is not None, "the lost wake-up was never found"
    assert found["verdict"] == "STUCK" and found["path"] == core.rt_build_info()["path_lost_wakeup"]
    assert ids[found["label_a"]] == "COND_WAIT" and found["thread_a"] == 1
    assert ids[found["label_b"]] == "COND_SIGNAL" and found["thread_b"] == 0
    assert found["step_b"] < found["step_a"]
    assert "lost wake-up" in found["detail"]


def test_fixed_condition_variable_stays_clean(cache: Path) -> None:
    p = program(cache, "lost", LOST_WAKEUP, ("FIXED=1",))
    for sched in (RANDOM, PCT, POS):
        for seed in range(100):
            r = run(p, sched=sched, seed=seed)
            assert r["verdict"] == "OK", (sched, seed, r["detail"])


DEADLOCK = r"""
    #include <pthread.h>
    static pthread_mutex_t a = PTHREAD_MUTEX_INITIALIZER, b = PTHREAD_MUTEX_INITIALIZER;
    static void *other(void *arg)
    {
        pthread_mutex_lock(&b);
        pthread_mutex_lock(&a);
        pthread_mutex_unlock(&a);
        pthread_mutex_unlock(&b);
        return arg;
    }
    int main(void)
    {
        pthread_t t;
        pthread_create(&t, NULL, other, NULL);
        pthread_mutex_lock(&a);
        pthread_mutex_lock(&b);
        pthread_mutex_unlock(&b);
        pthread_mutex_unlock(&a);
        pthread_join(t, NULL);
        return 0;
    }
"""


def test_lock_order_inversion_is_a_deadlock(cache: Path) -> None:
    p = program(cache, "abba", DEADLOCK)
    verdicts = {run(p, sched=RANDOM, seed=s)["verdict"] for s in range(100)}
    assert verdicts == {"OK", "DEADLOCK"}


EXITS = r"""
    #include <assert.h>
    #include <stdio.h>
    #include <stdlib.h>
    #include <string.h>
    int main(int argc, char **argv)
    {
        const char *how = argc > 1 ? argv[1] : "";
        if (!strcmp(how, "status"))
            return 3;
        if (!strcmp(how, "exit")) {
            fprintf(stderr, "bailing out\n");
            exit(4);
        }
        if (!strcmp(how, "abort"))
            abort();
        assert(strcmp(how, "assert") != 0);
        return 0;
    }
"""


def test_exit_status_abort_and_assert_are_fail_with_the_message(cache: Path) -> None:
    p = program(cache, "exits", EXITS)
    assert run(p)["verdict"] == "OK"
    r = run(p, "status")
    assert (r["verdict"], r["detail"]) == ("FAIL", "the program exited with status 3")
    r = run(p, "exit")
    assert (r["verdict"], r["detail"], r["output"]) == ("FAIL", "the program exited with status 4", b"bailing out\n")
    assert run(p, "abort")["detail"] == "the program called abort()"
    r = run(p, "assert")
    assert r["verdict"] == "FAIL" and "assertion failed: strcmp(how, \"assert\") != 0" in r["detail"]
    assert "exits.c:" in r["detail"]


RESET = r"""
    #include <pthread.h>
    #include <stdlib.h>
    #include <stdio.h>
    static int counter = 5;          /* .data */
    static long zeroed[64];          /* .bss */
    static __thread int per_thread = 7;
    static char *kept;               /* a block the constructor made */

    __attribute__((constructor)) static void init(void)
    {
        kept = malloc(16);
        kept[0] = 'a';
    }

    static void *bump(void *arg)
    {
        per_thread++;
        return (void *)(long)per_thread;
    }

    int main(void)
    {
        char *fresh = malloc(100);
        int ok = counter == 5 && zeroed[3] == 0 && per_thread == 7 && kept[0] == 'a' && fresh[10] == 0;
        counter++;
        zeroed[3] = 9;
        per_thread++;
        kept[0] = 'b';
        fresh[10] = 1;   /* not freed: the reset frees it */
        pthread_t t;
        void *ret;
        pthread_create(&t, NULL, bump, NULL);
        pthread_join(t, &ret);
        printf("%p\n", (void *)fresh);
        return ok && (long)ret == 8 ? 0 : 1;
    }
"""


def test_globals_tls_and_heap_start_fresh_in_every_execution(cache: Path) -> None:
    p = program(cache, "reset", RESET)
    outputs = set()
    for seed in range(20):
        r = run(p, seed=seed)
        assert r["verdict"] == "OK", (seed, r["detail"])
        outputs.add(r["output"])
    assert len(outputs) == 1  # the same heap addresses every time


def test_compile_error_is_gccs_message(tmp_path: Path) -> None:
    src = tmp_path / "bad.c"
    src.write_text("int main(void) { return nope; }\n")
    with pytest.raises(CompileError) as err:
        build([src], cache=tmp_path / "cache")
    assert "bad.c:1" in str(err.value) and "nope" in str(err.value)
    assert isinstance(err.value, QfuzzError)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.c", "cache"]  # nothing written beside the source


def test_missing_source_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(QfuzzError, match=r"^.*nothere\.c: no such file$"):
        build([tmp_path / "nothere.c"], cache=tmp_path / "cache")


def test_build_is_cached_by_content(tmp_path: Path) -> None:
    src = tmp_path / "a.c"
    hdr = tmp_path / "a.h"
    hdr.write_text("#define V 1\n")
    src.write_text('#include "a.h"\nint main(void) { return V - 1; }\n')
    first = build([src], cache=tmp_path / "c")
    assert build([src], cache=tmp_path / "c") == first
    mtime = first.stat().st_mtime_ns
    assert build([src], cache=tmp_path / "c").stat().st_mtime_ns == mtime  # not rebuilt
    hdr.write_text("#define V 2\n")  # a header change rebuilds
    again = build([src], cache=tmp_path / "c")
    assert again.stat().st_mtime_ns != mtime or again != first
    assert build([src], macros=("X=1",), cache=tmp_path / "c") != again
