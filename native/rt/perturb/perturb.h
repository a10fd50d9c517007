/* The perturbation runtime's shared file: a header, then record slots.
 * Read by targets/haproxy_binary/perturb.py (struct formats there mirror
 * these, little-endian, no padding beyond what is spelled out). */
#ifndef QFUZZ_PERTURB_H
#define QFUZZ_PERTURB_H
#include <stdatomic.h>
#include <stdint.h>

#define QP_MAGIC 0x3152545250465151ULL /* "QQFPRTR1" */
#define QP_VERSION 1
#define QP_MAX_POINTS 16
#define QP_MODE_PROB 1
#define QP_MODE_PCT 2

struct qp_header {
    _Atomic uint64_t magic;   /* written last */
    uint32_t version;
    uint32_t npoints;
    uint64_t seed;
    uint64_t cap;             /* record slots after the header */
    uint64_t pid;
    uint64_t base;            /* the executable's load base the offsets were added to */
    _Atomic uint64_t nrec;    /* delays claimed a slot (> cap: the rest were not recorded) */
    _Atomic uint64_t hits[QP_MAX_POINTS];
    _Atomic uint64_t delays[QP_MAX_POINTS];
    _Atomic uint64_t delay_ns[QP_MAX_POINTS];
};

struct qp_record {
    uint32_t point;
    uint32_t tid;
    uint64_t hit;             /* the point's hit index */
    uint64_t dur_ns;          /* 0: a sched_yield */
    uint64_t t_ns;            /* CLOCK_REALTIME when the delay began */
    _Atomic uint32_t done;    /* 1 once the fields above are written */
    uint32_t pad;
};

/* Decision for hit `hit` of point `point`: 0 = no delay, else 1 + nanoseconds. */
uint64_t qp_decide(uint64_t seed, unsigned mode, uint64_t ppm, uint64_t k, uint64_t n,
                   uint64_t dmin_us, uint64_t dmax_us, unsigned point, uint64_t hit);

#endif
