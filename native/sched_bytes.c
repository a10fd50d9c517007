/* Bytes: decisions read from a byte string, one byte per choice point (the
 * coverage-guided fuzzer's input).  When the bytes run out: a seeded random
 * walk, or no preemption at all (fallback_random = 0), so that a short input
 * means a simple schedule. */
#include "qf_sched.h"

static void begin(qf_sched *s)
{
	s->pos = 0;
}

static int pick(qf_sched *s, const int *cand, int n, int cur_can_continue)
{
	(void)cand;
	(void)cur_can_continue;
	if (s->pos < s->ndata)
		return s->data[s->pos++] % n;
	return s->fallback_random ? qf_rand_below(s, n) : 0;
}

const qf_sched_ops qf_sched_bytes = {"bytes", begin, 0, pick, 0, 0};
