/* POS, partial order sampling (Yuan et al., CAV 2018).  Every pending event
 * (the access a thread is about to make) carries a random priority and the
 * highest one runs.  When an event runs, the events of other threads that
 * race with it (same object, at least one write) draw fresh priorities, which
 * samples partial orders far more uniformly than a random walk. */
#include "qf_sched.h"

static void begin(qf_sched *s)
{
	for (int i = 0; i < s->nthreads; i++)
		s->stale[i] = 1;
}

static int pick(qf_sched *s, const int *cand, int n, int cur_can_continue)
{
	(void)cur_can_continue;
	int best = 0;
	for (int i = 0; i < n; i++) {
		int t = cand[i];
		if (s->stale[t]) {
			s->prio[t] = (int64_t)(qf_rand(s) >> 2);
			s->stale[t] = 0;
		}
		if (s->prio[t] > s->prio[cand[best]])
			best = i;
	}
	return best;
}

static void executed(qf_sched *s, int tid)
{
	const void *o = s->pend_obj[tid];
	s->stale[tid] = 1; /* its next event is a new one */
	if (!o)
		return;
	for (int u = 0; u < s->nthreads; u++)
		if (u != tid && s->pend_obj[u] == o && (s->pend_write[tid] || s->pend_write[u]))
			s->stale[u] = 1;
}

static void thread_added(qf_sched *s, int tid)
{
	s->stale[tid] = 1; /* draws its first priority at the next pick */
}

const qf_sched_ops qf_sched_pos = {"pos", begin, 0, pick, executed, thread_added};
