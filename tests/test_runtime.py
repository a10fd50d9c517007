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
from support import ROOT

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
    assert outputs.pop().startswith(b"0x5e")  # and in every process: the arena's fixed place


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


WORKER_POOL = (ROOT / "bench" / "programs" / "worker_pool.c").read_text()  # the benchmark's pool; -DFIXED=0: its bug


def test_futex_worker_pool_lost_wakeup_found_and_fixed_clean(cache: Path) -> None:
    buggy = program(cache, "pool", WORKER_POOL, ("FIXED=0",))
    ids = labels(buggy)
    stuck = [r for r in (run(buggy, "1", seed=s) for s in range(300)) if r["verdict"] != "OK"]
    assert stuck and {r["verdict"] for r in stuck} == {"STUCK"}
    assert {ids[r["label_a"]] for r in stuck} == {"FUTEX_WAIT"}
    fixed = program(cache, "pool", WORKER_POOL, ("FIXED=1",))
    for sched in (RANDOM, PCT, POS):
        for seed in range(100):
            r = run(fixed, "3", sched=sched, seed=seed)
            assert r["verdict"] == "OK", (sched, seed, r["detail"])


TIMEOUTS = r"""
    #include <errno.h>
    #include <linux/futex.h>
    #include <pthread.h>
    #include <semaphore.h>
    #include <stdio.h>
    #include <sys/syscall.h>
    #include <time.h>
    #include <unistd.h>

    static long long now_us(clockid_t c)
    {
        struct timespec ts;
        clock_gettime(c, &ts);
        return ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
    }

    static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
    static sem_t sem;
    static int word;

    static void *holder(void *arg)
    {
        pthread_mutex_lock(&m);
        usleep(10000);             /* holds the mutex for 10 ms */
        pthread_mutex_unlock(&m);
        return arg;
    }

    int main(void)
    {
        long long t0 = now_us(CLOCK_MONOTONIC);
        struct timespec rel = {0, 5000000};   /* 5 ms */
        long r = syscall(SYS_futex, &word, FUTEX_WAIT_PRIVATE, 0, &rel, NULL, 0);
        long long t1 = now_us(CLOCK_MONOTONIC);
        printf("futex %ld %d %lld\n", r, r ? errno : 0, t1 - t0);

        struct timespec abs;
        clock_gettime(CLOCK_REALTIME, &abs);
        abs.tv_nsec += 2000000;                /* 2 ms */
        pthread_mutex_lock(&m);
        int rc = pthread_cond_timedwait(&cv, &m, &abs);
        pthread_mutex_unlock(&m);
        long long t2 = now_us(CLOCK_MONOTONIC);
        printf("cond %d %lld\n", rc == ETIMEDOUT, t2 - t1);

        sem_init(&sem, 0, 0);
        clock_gettime(CLOCK_REALTIME, &abs);
        abs.tv_sec += 1;
        rc = sem_timedwait(&sem, &abs);
        long long t3 = now_us(CLOCK_MONOTONIC);
        printf("sem %d %d %lld\n", rc, errno == ETIMEDOUT, t3 - t2);

        pthread_t t;
        pthread_create(&t, NULL, holder, NULL);
        while (pthread_mutex_trylock(&m) == 0) {   /* until the holder has it */
            pthread_mutex_unlock(&m);
            sched_yield();
        }
        long long t4 = now_us(CLOCK_MONOTONIC);
        clock_gettime(CLOCK_REALTIME, &abs);
        abs.tv_nsec += 1000000;                    /* 1 ms, while it holds it 10 ms */
        if (abs.tv_nsec >= 1000000000) { abs.tv_sec++; abs.tv_nsec -= 1000000000; }
        rc = pthread_mutex_timedlock(&m, &abs);
        printf("timedlock %d\n", rc == ETIMEDOUT);
        pthread_mutex_lock(&m);
        long long t5 = now_us(CLOCK_MONOTONIC);
        pthread_mutex_unlock(&m);
        pthread_join(t, NULL);
        printf("lock after %d\n", t5 - t4 <= 10000 && t5 - t4 >= 9000);

        struct timespec rt;
        clock_gettime(CLOCK_REALTIME, &rt);
        time_t secs = time(NULL);
        struct timespec nap = {1, 500000000};
        nanosleep(&nap, NULL);
        sleep(2);
        usleep(250);
        long long t6 = now_us(CLOCK_MONOTONIC);
        printf("epoch %ld %ld slept %lld\n", (long)rt.tv_sec, (long)secs, t6 - t5);
        return 0;
    }
"""


def test_timeouts_and_sleeps_are_exact_in_virtual_time(cache: Path) -> None:
    p = program(cache, "timeouts", TIMEOUTS)
    outs = set()
    for seed in range(20):
        r = run(p, seed=seed, sched=RANDOM)
        assert r["verdict"] == "OK", r["detail"]
        outs.add(r["output"].decode())
    assert len(outs) == 1, outs
    lines = outs.pop().splitlines()
    assert lines[0] == "futex -1 110 5000"  # ETIMEDOUT after exactly 5 ms
    assert lines[1] == "cond 1 2000"
    assert lines[2] == "sem -1 1 1000000"
    assert lines[3] == "timedlock 1"
    assert lines[4] == "lock after 1"
    # 2026-01-01T00:00:00Z + the 1.017 s of virtual time so far; 1.5 s + 2 s + 250 us of sleeps
    assert lines[5] == "epoch 1767225601 1767225601 slept 3500250"


PRIMITIVES = r"""
    #include <assert.h>
    #include <pthread.h>
    #include <semaphore.h>
    #include <stdatomic.h>
    #include <stdio.h>

    static pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
    static pthread_spinlock_t spin;
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    static pthread_barrier_t barrier;
    static sem_t items, slots;
    static int inits, readers, writers, spin_count, produced, consumed;
    static atomic_int in_read;
    static pthread_t main_self;

    static void init_once(void) { inits++; }

    static void *worker(void *arg)
    {
        pthread_once(&once, init_once);
        assert(!pthread_equal(pthread_self(), main_self));
        for (int i = 0; i < 2; i++) {
            pthread_rwlock_rdlock(&rw);
            atomic_fetch_add(&in_read, 1);
            assert(writers == 0);
            readers++;
            atomic_fetch_sub(&in_read, 1);
            pthread_rwlock_unlock(&rw);
            pthread_rwlock_wrlock(&rw);
            writers++;
            assert(atomic_load(&in_read) == 0);
            writers--;
            pthread_rwlock_unlock(&rw);
            pthread_spin_lock(&spin);
            int c = spin_count;
            sched_yield();
            spin_count = c + 1;
            pthread_spin_unlock(&spin);
        }
        pthread_barrier_wait(&barrier);
        if ((long)arg == 1) {              /* a consumer of 4 items */
            for (int i = 0; i < 4; i++) {
                sem_wait(&items);
                consumed++;
                sem_post(&slots);
            }
        }
        if ((long)arg == 2)
            pthread_exit((void *)42);
        return arg;
    }

    static void *detached(void *arg) { return arg; }

    int main(void)
    {
        main_self = pthread_self();
        pthread_spin_init(&spin, 0);
        pthread_barrier_init(&barrier, NULL, 3);
        sem_init(&items, 0, 0);
        sem_init(&slots, 0, 2);
        pthread_t t[2], d;
        for (long i = 0; i < 2; i++)
            pthread_create(&t[i], NULL, worker, (void *)(i + 1));
        pthread_create(&d, NULL, detached, NULL);
        pthread_detach(d);
        pthread_once(&once, init_once);
        pthread_barrier_wait(&barrier);
        for (int i = 0; i < 4; i++) {
            sem_wait(&slots);
            produced++;
            sem_post(&items);
        }
        void *r1, *r2;
        pthread_join(t[0], &r1);
        pthread_join(t[1], &r2);
        int v;
        sem_getvalue(&slots, &v);
        printf("inits %d readers %d spin %d produced %d consumed %d slots %d ret %ld %ld\n", inits, readers,
               spin_count, produced, consumed, v, (long)r1, (long)r2);
        return 0;
    }
"""


def test_rwlock_spinlock_once_barrier_semaphores_detach_exit(cache: Path) -> None:
    p = program(cache, "primitives", PRIMITIVES)
    for sched in (RANDOM, PCT, POS):
        for seed in range(40):
            r = run(p, sched=sched, seed=seed)
            assert r["verdict"] == "OK", (sched, seed, r["detail"])
            assert r["output"] == b"inits 1 readers 4 spin 4 produced 4 consumed 4 slots 2 ret 1 42\n"


SPINS = r"""
    #include <pthread.h>
    #include <sched.h>
    #include <stdatomic.h>
    #include <stdio.h>
    #include <string.h>
    #include <time.h>

    static atomic_int flag;

    static void *setter(void *arg)
    {
        struct timespec d = {0, 300000};   /* works 0.3 ms, then sets the flag */
        nanosleep(&d, NULL);
        atomic_store(&flag, 1);
        return arg;
    }

    static long long mono(void)
    {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
    }

    int main(int argc, char **argv)
    {
        const char *how = argv[1];
        if (!strcmp(how, "poll-clock")) {       /* a deadline loop, alone */
            long long end = mono() + 1000000;
            long spins = 0;
            while (mono() < end)
                spins++;
            printf("%lld\n", mono() - end);
            return 0;
        }
        if (!strcmp(how, "alone"))             /* nobody will ever set it */
            while (!atomic_load(&flag))
                ;
        pthread_t t;
        pthread_create(&t, NULL, setter, NULL);
        if (!strcmp(how, "load"))
            while (!atomic_load(&flag))
                ;
        if (!strcmp(how, "yield"))
            while (!atomic_load_explicit(&flag, memory_order_relaxed))
                sched_yield();
        pthread_join(t, NULL);
        return 0;
    }
"""


def test_spin_loops_are_fair_and_end_when_the_sleeper_wakes(cache: Path) -> None:
    p = program(cache, "spins", SPINS)
    for how in ("load", "yield"):
        for sched in (RANDOM, PCT, POS):
            for seed in range(30):
                r = run(p, how, sched=sched, seed=seed)
                assert r["verdict"] == "OK", (how, sched, seed, r["detail"])
                assert r["end_time"] == 300  # the clock jumped to the sleeper's timer, no further


def test_a_clock_polling_loop_ends_like_on_a_real_cpu(cache: Path) -> None:
    p = program(cache, "spins", SPINS)
    r = run(p, "poll-clock")
    assert r["verdict"] == "OK", r["detail"]
    overshoot = int(r["output"])
    # doubling quanta: the loop and the read after it overshoot by at most twice the loop's length
    assert 0 <= overshoot <= 2 * 1000000
    assert r["steps"] < 200          # about log2(1 s / 1 us) rounds, not a million


def test_a_lone_spinner_with_no_timer_and_no_clock_is_a_livelock(cache: Path) -> None:
    p = program(cache, "spins", SPINS)
    r = run(p, "alone")
    assert r["verdict"] == "LIVELOCK"
    assert labels(p)[r["label_a"]] == "SPIN_LOAD"


BLOCKING = r"""
    #include <stdio.h>
    #include <unistd.h>
    int main(int argc, char **argv)
    {
        int fds[2];
        char c = 'x';
        pipe(fds);
        if (argc > 1)
            write(fds[1], &c, 1);   /* data ready: read does not block */
        read(fds[0], &c, 1);        /* blocks forever on an empty pipe */
        printf("read %c\n", c);
        return 0;
    }
"""


def test_a_call_that_would_block_in_the_kernel_is_a_blocking_verdict(cache: Path) -> None:
    import os

    p = program(cache, "blocking", BLOCKING)
    fds_before = len(os.listdir("/proc/self/fd"))
    r = run(p)
    assert r["verdict"] == "BLOCKING"
    assert r["detail"].startswith("read(fd ") and "would block" in r["detail"]
    assert labels(p)[r["label_a"]] == "BLOCKING_CALL"
    for _ in range(50):
        r = run(p, "ready")
        assert (r["verdict"], r["output"]) == ("OK", b"read x\n")
    run(p)
    assert len(os.listdir("/proc/self/fd")) <= fds_before + 2  # the reset closed every pipe but the last


FORKED = r"""
    #include <stdio.h>
    #include <stdlib.h>
    #include <pthread.h>
    static int runs;
    static void *t(void *a) { return a; }
    int main(void)
    {
        setenv("QFUZZ_TEST_VAR", "1", 1);   /* outlives an execution in-process */
        pthread_t th;
        pthread_create(&th, NULL, t, NULL);
        pthread_join(th, NULL);
        printf("runs %d\n", ++runs);
        return 0;
    }
"""


def test_a_program_that_cannot_be_reset_in_place_runs_forked(cache: Path) -> None:
    import os

    p = program(cache, "forked", FORKED)
    assert p["reset"] == "fork" and "setenv" in p["reset_why"]
    for seed in range(5):
        r = run(p, seed=seed)
        assert (r["verdict"], r["output"], r["reset"]) == ("OK", b"runs 1\n", "fork")
    assert "QFUZZ_TEST_VAR" not in os.environ


def test_fork_flag_gives_the_same_executions_as_segment_reset(cache: Path) -> None:
    p = program(cache, "handoff", COND_HANDOFF)
    for seed in range(5):
        a = run(p, seed=seed)
        b = run(p, seed=seed, fork=1)
        assert b["reset"] == "fork" and a["reset"] == "segments"
        assert (a["trace"], a["sites"], a["decisions"], a["output"]) == (b["trace"], b["sites"], b["decisions"], b["output"])


RACY = r"""
    #include <pthread.h>
    #include <stdio.h>
    static int counter;
    static void *inc(void *a)
    {
        for (int i = 0; i < 3; i++)
            counter++;
        return a;
    }
    int main(void)
    {
        pthread_t t[2];
        for (int i = 0; i < 2; i++)
            pthread_create(&t[i], NULL, inc, NULL);
        for (int i = 0; i < 2; i++)
            pthread_join(t[i], NULL);
        return counter == 6 ? 0 : 1;
    }
"""


def test_race_mode_makes_plain_accesses_schedule_points(cache: Path) -> None:
    plain = program(cache, "racy", RACY)
    assert {run(plain, sched=RANDOM, seed=s)["verdict"] for s in range(100)} == {"OK"}
    racy = program(cache, "racy", RACY, race=True)
    verdicts = [run(racy, sched=RANDOM, seed=s)["verdict"] for s in range(100)]
    assert "FAIL" in verdicts and "OK" in verdicts


def test_every_wrapped_name_has_a_wrapper_in_the_runtime() -> None:
    import ctypes

    lib = ctypes.CDLL(core.__file__)
    missing = [n for n in core.rt_build_info()["wrap"] if not hasattr(lib, f"__wrap_{n}")]
    assert missing == []


DEADLINE = r"""
    #include <pthread.h>
    #include <qfuzz.h>
    #include <semaphore.h>
    #include <unistd.h>

    static sem_t jobs;
    static int queued, served;
    static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;

    static void *server(void *arg)
    {
        for (;;) {
            sem_wait(&jobs);
            pthread_mutex_lock(&m);
            queued--;
            served++;
            qf_request_end(served);
            pthread_mutex_unlock(&m);
        }
        return arg;
    }

    int main(void)
    {
        pthread_t t;
        sem_init(&jobs, 0, 0);
        pthread_create(&t, NULL, server, NULL);
        for (int i = 1; i <= 2; i++) {
            qf_request_begin(i, 1000);    /* must be served within 1 ms */
            pthread_mutex_lock(&m);
            queued++;
            pthread_mutex_unlock(&m);
    #if FIXED
            sem_post(&jobs);
    #else
            if (i == 1)
                sem_post(&jobs);          /* the second request is never posted */
    #endif
        }
        usleep(5000);                      /* main idles 5 ms, then leaves */
        return 0;
    }
"""


def test_an_annotated_request_past_its_deadline_is_stuck_on_the_deadline_path(cache: Path) -> None:
    buggy = program(cache, "deadline", DEADLINE, ("FIXED=0",))
    r = run(buggy)
    assert r["verdict"] == "STUCK" and r["path"] == core.rt_build_info()["path_deadline"]
    assert r["request"] == 2 and r["t_at"] == 1000
    assert labels(buggy)[r["label_a"]] == "SEM_WAIT"
    fixed = program(cache, "deadline", DEADLINE, ("FIXED=1",))
    for seed in range(50):
        assert run(fixed, seed=seed)["verdict"] == "OK"


def test_qfuzz_h_builds_with_plain_gcc(cache: Path, tmp_path: Path) -> None:
    import subprocess

    from harness.program.build import include_dir

    src = tmp_path / "plain.c"
    src.write_text(textwrap.dedent(DEADLINE).replace("#if FIXED", "#if 1"))
    exe = tmp_path / "plain"
    subprocess.run(["gcc", "-I", str(include_dir()), "-pthread", str(src), "-o", str(exe)], check=True)
    assert subprocess.run([str(exe)], timeout=10).returncode == 0


KEYS_AND_RELOCK = r"""
    #include <pthread.h>
    #include <stdio.h>
    #include <string.h>
    static pthread_key_t key;
    static int destroyed;
    static void dtor(void *v) { destroyed += (int)(long)v; }
    static void *t(void *a) { pthread_setspecific(key, (void *)5L); return a; }
    int main(int argc, char **argv)
    {
        if (argc > 1 && !strcmp(argv[1], "relock")) {
            pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
            pthread_mutex_lock(&m);
            pthread_mutex_lock(&m);
        }
        if (pthread_key_create(&key, dtor))
            return 2;
        void *before = pthread_getspecific(key);
        pthread_setspecific(key, (void *)1L);
        pthread_t th;
        pthread_create(&th, NULL, t, NULL);
        pthread_join(th, NULL);
        printf("%p %d %ld\n", before, destroyed, (long)pthread_getspecific(key));
        return 0;
    }
"""


def test_pthread_keys_are_fresh_each_execution_and_relocking_is_a_deadlock(cache: Path) -> None:
    p = program(cache, "keys", KEYS_AND_RELOCK)
    for seed in range(1200):  # more executions than glibc has keys (1024)
        r = run(p, seed=seed, trace=0)
        assert (r["verdict"], r["output"], r["sites"]) == ("OK", b"(nil) 5 1\n", b""), seed
    r = run(p, "relock")
    assert r["verdict"] == "DEADLOCK" and "already holds" in r["detail"]


def test_call_sites_symbolize_to_the_programs_source_lines(cache: Path) -> None:
    import subprocess

    p = program(cache, "lost", LOST_WAKEUP, ("FIXED=0",))
    src = (cache / "src" / "lost.c").read_text().splitlines()
    r = run(p, sched=REPLAY, data=b"")  # no preemption: main runs first
    recs = records(r)
    sites = struct.unpack(f"<{len(recs)}Q", r["sites"])
    ids = labels(p)
    wanted = {"PTHREAD_CREATE": "pthread_create(", "COND_SIGNAL": "pthread_cond_signal(", "MUTEX_LOCK": "pthread_mutex_lock("}
    for rec, site in zip(recs, sites):
        label = ids[rec[2]] if 0 <= rec[2] < len(ids) else ""
        if label in wanted and rec[3] == 0:
            out = subprocess.run(["addr2line", "-f", "-e", str(p["so"]), hex(site)], capture_output=True, text=True).stdout
            func, where = out.splitlines()
            line = int(where.rsplit(":", 1)[1].split()[0])
            assert func == "main" and where.split(":")[0].endswith("lost.c")
            assert wanted.pop(label) in src[line - 1], (label, src[line - 1])
    assert wanted == {}
