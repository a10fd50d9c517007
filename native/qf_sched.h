/* qf_sched.h - the interface every scheduling strategy implements.
 *
 * A strategy only chooses: the core hands it the candidates (threads able to
 * run) in rotation order and it returns an index into that list.  When the
 * running thread may continue it is cand[0], so index 0 always means "no
 * preemption"; otherwise cand[0] is the next thread after it in id order.
 * The index chosen is the recorded decision, which the replay strategy feeds
 * back verbatim.  One file per strategy: sched_<name>.c.
 */
#ifndef QF_SCHED_H
#define QF_SCHED_H

#include <stdint.h>
#include "qf.h"

enum qf_sched_kind { QF_SCHED_RANDOM = 0, QF_SCHED_PCT = 1, QF_SCHED_POS = 2, QF_SCHED_BYTES = 3, QF_SCHED_REPLAY = 4, QF_SCHED_COUNT };

typedef struct qf_sched {
	int kind;
	uint64_t rng;            /* xorshift state, seeded from `seed` */
	uint64_t seed;
	int nthreads;
	/* parameters */
	int depth;               /* PCT: number of priority change points + 1 */
	int k;                   /* PCT: expected number of steps */
	const uint8_t *data;     /* bytes: the input; replay: the decision list */
	int ndata;
	int pos;
	int fallback_random;     /* bytes: when data runs out, 1 = seeded random, 0 = no preemption */
	/* per-execution state */
	int64_t prio[QF_MAX_THREADS];
	int stale[QF_MAX_THREADS];
	int change[64];
	int nchange;
	/* what each thread is about to do (POS: races are same-object accesses) */
	const void *pend_obj[QF_MAX_THREADS];
	int pend_write[QF_MAX_THREADS];
} qf_sched;

typedef struct qf_sched_ops {
	const char *name;
	void (*begin)(qf_sched *s);
	/* called at every schedule point of the running thread before the pick */
	void (*on_step)(qf_sched *s, int tid, int step);
	int (*pick)(qf_sched *s, const int *cand, int n, int cur_can_continue);
	/* thread `tid` is about to perform the access it declared */
	void (*executed)(qf_sched *s, int tid);
	/* a program (native/rt) created thread `tid` during the execution; may be NULL */
	void (*thread_added)(qf_sched *s, int tid);
} qf_sched_ops;

extern const qf_sched_ops qf_sched_random, qf_sched_pct, qf_sched_pos, qf_sched_bytes, qf_sched_replay;

static inline uint64_t qf_rand(qf_sched *s)
{
	/* xorshift64*: tiny, fast, identical on every platform */
	uint64_t x = s->rng;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	s->rng = x;
	return x * 0x2545F4914F6CDD1DULL;
}

static inline uint64_t qf_seed_mix(uint64_t seed)
{
	/* splitmix64 finaliser, so that seeds 0, 1, 2... give unrelated streams */
	uint64_t z = seed + 0x9E3779B97F4A7C15ULL;
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	z ^= z >> 31;
	return z ? z : 0x1234567ULL;
}

static inline int qf_rand_below(qf_sched *s, int n)
{
	return (int)(qf_rand(s) % (uint64_t)n);
}

#endif
