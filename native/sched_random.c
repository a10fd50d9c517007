/* Random walk: at every choice point, any candidate with equal probability. */
#include "qf_sched.h"

static void begin(qf_sched *s)
{
	(void)s;
}

static int pick(qf_sched *s, const int *cand, int n, int cur_can_continue)
{
	(void)cand;
	(void)cur_can_continue;
	return qf_rand_below(s, n);
}

const qf_sched_ops qf_sched_random = {"random", begin, 0, pick, 0, 0};
