/* PCT (Burckhardt et al., ASPLOS 2010): probabilistic concurrency testing
 * with bug depth d.  Threads get distinct random priorities; the highest
 * priority thread able to run always runs.  At d-1 random steps in [1, k]
 * the running thread drops below every initial priority.  A bug of depth d
 * is found with probability at least 1/(n * k^(d-1)) per execution. */
#include "qf_sched.h"

static void begin(qf_sched *s)
{
	int n = s->nthreads, d = s->depth < 1 ? 1 : s->depth;
	int k = s->k < 1 ? 1 : s->k;
	/* a random permutation of priorities d .. d+n-1 */
	int perm[QF_MAX_THREADS];
	for (int i = 0; i < n; i++)
		perm[i] = i;
	for (int i = n - 1; i > 0; i--) {
		int j = qf_rand_below(s, i + 1), t = perm[i];
		perm[i] = perm[j];
		perm[j] = t;
	}
	for (int i = 0; i < n; i++)
		s->prio[i] = d + perm[i];
	s->nchange = 0;
	for (int i = 0; i < d - 1 && i < 64; i++)
		s->change[s->nchange++] = 1 + qf_rand_below(s, k);
}

static void on_step(qf_sched *s, int tid, int step)
{
	/* change point i lowers the running thread to priority d-1-i */
	for (int i = 0; i < s->nchange; i++)
		if (s->change[i] == step)
			s->prio[tid] = s->depth - 1 - i;
}

static int pick(qf_sched *s, const int *cand, int n, int cur_can_continue)
{
	(void)cur_can_continue;
	int best = 0;
	for (int i = 1; i < n; i++)
		if (s->prio[cand[i]] > s->prio[cand[best]])
			best = i;
	return best;
}

/* A thread created during the execution (native/rt) takes a random place
 * among the initial priorities, the way it would have had it existed from
 * the start. */
static void thread_added(qf_sched *s, int tid)
{
	int d = s->depth < 1 ? 1 : s->depth, high = 0;
	for (int t = 0; t < s->nthreads; t++)
		high += t != tid && s->prio[t] >= d;
	int64_t p = d + qf_rand_below(s, high + 1);
	for (int t = 0; t < s->nthreads; t++)
		if (t != tid && s->prio[t] >= p)
			s->prio[t]++;
	s->prio[tid] = p;
}

const qf_sched_ops qf_sched_pct = {"pct", begin, on_step, pick, 0, thread_added};
