/* qfuzz perturbation runtime.
 *
 * Linked into a program built with -finstrument-functions (a real HAProxy,
 * run free: real threads, real I/O, real time).  At a few chosen function
 * entries or exits it injects delays.  Whether hit number i of point p is
 * delayed, and for how long, is a pure function of (seed, p, i), so the
 * same plan gives the same decisions on replay whatever the threads do.
 * Every delay is recorded, and each point's hits are counted, in a
 * MAP_SHARED file the harness reads while the program runs (it survives a
 * SIGKILL of the program).
 *
 * Configuration (environment; nothing set = no perturbation, hooks cost
 * one load):
 *   QFUZZ_PERTURB_POINTS  "OFF:e,OFF:x,..."  hex offsets from the executable's
 *                         load base (nm's value: PIE or not), e=entry x=exit;
 *                         E and X: counted only, never delayed
 *   QFUZZ_PERTURB_SEED    decimal u64
 *   QFUZZ_PERTURB_MODE    "prob:PPM" (each hit with probability PPM/1e6) or
 *                         "pct:K:N" (K seeded change points in every round
 *                         of N hits of a point)
 *   QFUZZ_PERTURB_DELAY   "MIN:MAX" microseconds (0 = sched_yield)
 *   QFUZZ_PERTURB_FILE    the shared counter/record file (created, truncated)
 *   QFUZZ_PERTURB_RECORDS record slots (default 65536)
 *
 * Compiled without -finstrument-functions (its own functions must not call
 * the hooks); never linked into harness._native. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "perturb.h"

#define NOINST __attribute__((no_instrument_function))

struct qp_plan {
    unsigned npoints;
    uintptr_t addr[QP_MAX_POINTS];
    unsigned char exit_hook[QP_MAX_POINTS];
    unsigned char count_only[QP_MAX_POINTS];
    uint64_t seed;
    unsigned mode; /* QP_MODE_* */
    uint64_t ppm, k, n;
    uint64_t dmin_us, dmax_us;
};

static struct qp_plan plan;
static struct qp_header *shared;
static struct qp_record *records;
static _Atomic int state; /* 0 not yet, 1 initialising, 2 off, 3 on */
static unsigned has_entry, has_exit;

NOINST static uint64_t mix(uint64_t x)
{
    /* splitmix64's finaliser */
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

NOINST static uint64_t h3(uint64_t seed, uint64_t a, uint64_t b, uint64_t c)
{
    return mix(mix(mix(mix(seed) ^ a) ^ b) ^ c);
}

NOINST uint64_t qp_decide(uint64_t seed, unsigned mode, uint64_t ppm, uint64_t k, uint64_t n,
                          uint64_t dmin_us, uint64_t dmax_us, unsigned point, uint64_t hit)
{
    int delay = 0;
    if (mode == QP_MODE_PROB) {
        delay = h3(seed, point, hit, 1) % 1000000u < ppm;
    } else if (mode == QP_MODE_PCT && n > 0) {
        uint64_t round = hit / n, pos = hit % n;
        for (uint64_t j = 0; j < k && !delay; j++)
            delay = h3(seed, point, round, 0x100 + j) % n == pos;
    }
    if (!delay)
        return 0;
    uint64_t span = dmax_us >= dmin_us ? dmax_us - dmin_us + 1 : 1;
    return 1 + (dmin_us + h3(seed, point, hit, 2) % span) * 1000u; /* ns + 1: 1 means "yield" */
}

NOINST static int main_object(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    *(uintptr_t *)data = (uintptr_t)info->dlpi_addr; /* the first object is the executable */
    return 1;
}

NOINST static int parse_points(const char *s, uintptr_t base)
{
    while (s && *s && plan.npoints < QP_MAX_POINTS) {
        char *end;
        errno = 0;
        unsigned long long off = strtoull(s, &end, 16);
        if (errno || end == s || *end != ':' || !end[1] || !strchr("exEX", end[1]))
            return -1;
        int is_exit = end[1] == 'x' || end[1] == 'X';
        plan.addr[plan.npoints] = base + (uintptr_t)off;
        plan.exit_hook[plan.npoints] = (unsigned char)is_exit;
        plan.count_only[plan.npoints] = end[1] == 'E' || end[1] == 'X';
        if (is_exit)
            has_exit = 1;
        else
            has_entry = 1;
        plan.npoints++;
        s = end + 2;
        if (*s == ',')
            s++;
        else if (*s)
            return -1;
    }
    return plan.npoints > 0 ? 0 : -1;
}

NOINST static uint64_t env_u64(const char *name, uint64_t dflt)
{
    const char *v = getenv(name);
    return v && *v ? strtoull(v, NULL, 10) : dflt;
}

NOINST static int setup(void)
{
    const char *points = getenv("QFUZZ_PERTURB_POINTS");
    const char *path = getenv("QFUZZ_PERTURB_FILE");
    const char *mode = getenv("QFUZZ_PERTURB_MODE");
    const char *delay = getenv("QFUZZ_PERTURB_DELAY");
    if (!points || !*points || !path || !*path || !mode)
        return 0;
    uintptr_t base = 0;
    dl_iterate_phdr(main_object, &base);
    if (parse_points(points, base) < 0)
        return 0;
    plan.seed = env_u64("QFUZZ_PERTURB_SEED", 0);
    unsigned long long a = 0, b = 0;
    if (sscanf(mode, "prob:%llu", &a) == 1) {
        plan.mode = QP_MODE_PROB;
        plan.ppm = a;
    } else if (sscanf(mode, "pct:%llu:%llu", &a, &b) == 2 && b > 0) {
        plan.mode = QP_MODE_PCT;
        plan.k = a;
        plan.n = b;
    } else {
        return 0;
    }
    if (!delay || sscanf(delay, "%llu:%llu", &a, &b) != 2)
        a = b = 200;
    plan.dmin_us = a;
    plan.dmax_us = b < a ? a : b;
    uint64_t cap = env_u64("QFUZZ_PERTURB_RECORDS", 65536);
    size_t size = sizeof(struct qp_header) + cap * sizeof(struct qp_record);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return 0;
    if (ftruncate(fd, (off_t)size) != 0) {
        close(fd);
        return 0;
    }
    void *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (m == MAP_FAILED)
        return 0;
    shared = m;
    records = (struct qp_record *)(shared + 1);
    shared->version = QP_VERSION;
    shared->npoints = plan.npoints;
    shared->seed = plan.seed;
    shared->cap = cap;
    shared->pid = (uint64_t)getpid();
    shared->base = base;
    atomic_store(&shared->magic, QP_MAGIC); /* last: a reader sees a whole header or none */
    return 1;
}

NOINST static int ready(void)
{
    int s = atomic_load_explicit(&state, memory_order_acquire);
    if (s >= 2)
        return s == 3;
    int expect = 0;
    if (!atomic_compare_exchange_strong(&state, &expect, 1))
        return 0; /* another thread is initialising: skip this hit */
    atomic_store_explicit(&state, setup() ? 3 : 2, memory_order_release);
    return atomic_load(&state) == 3;
}

NOINST static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

NOINST static void hit(unsigned p)
{
    uint64_t i = atomic_fetch_add_explicit(&shared->hits[p], 1, memory_order_relaxed);
    if (plan.count_only[p])
        return;
    uint64_t d = qp_decide(plan.seed, plan.mode, plan.ppm, plan.k, plan.n, plan.dmin_us, plan.dmax_us, p, i);
    if (!d)
        return;
    uint64_t ns = d - 1, t = now_ns();
    if (ns == 0) {
        sched_yield();
    } else {
        struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
        while (clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, &ts) == EINTR)
            ;
    }
    atomic_fetch_add_explicit(&shared->delays[p], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&shared->delay_ns[p], ns, memory_order_relaxed);
    uint64_t r = atomic_fetch_add_explicit(&shared->nrec, 1, memory_order_relaxed);
    if (r < shared->cap) {
        struct qp_record *rec = &records[r];
        rec->point = p;
        rec->tid = (uint32_t)syscall(SYS_gettid);
        rec->hit = i;
        rec->dur_ns = ns;
        rec->t_ns = t;
        atomic_store_explicit(&rec->done, 1, memory_order_release);
    }
}

NOINST static void scan(void *fn, unsigned char exit_hook)
{
    uintptr_t a = (uintptr_t)fn;
    for (unsigned p = 0; p < plan.npoints; p++)
        if (plan.addr[p] == a && plan.exit_hook[p] == exit_hook)
            hit(p);
}

NOINST void __cyg_profile_func_enter(void *fn, void *site)
{
    (void)site;
    if (ready() && has_entry)
        scan(fn, 0);
}

NOINST void __cyg_profile_func_exit(void *fn, void *site)
{
    (void)site;
    if (ready() && has_exit)
        scan(fn, 1);
}

__attribute__((constructor)) NOINST static void qp_init(void)
{
    (void)ready();
}
