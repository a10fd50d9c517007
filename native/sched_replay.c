/* Replay: a recorded decision list, fed back verbatim.  Past its end every
 * decision is 0 (no preemption), so a truncated list is still a valid,
 * simpler schedule; that is what the minimizer relies on. */
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
	return 0;
}

const qf_sched_ops qf_sched_replay = {"replay", begin, 0, pick, 0, 0};
