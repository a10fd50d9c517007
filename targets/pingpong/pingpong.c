/* pingpong.c - the smallest qfuzz target, and the example in docs/targets.md.
 *
 * Two threads each increment a shared counter `rounds` times through
 * qf_add().  Every qf_add is a schedule point, so replaying the decision
 * list [1, 1, 1, ...] switches threads at every step: bench/bench_core.py
 * uses that to measure the core's hand-off cost.  The oracle checks the
 * counter at the end (a lost update would be a SAFETY failure). */
#include <signal.h>
#include <stdio.h>
#include "qf.h"

/* Test variants for the harness's own crash handling (nightly workers,
 * `qfuzz repro` of crash files): a target that really crashes or hangs on
 * one input, as a buggy C target would. */
#define PP_CRASH_AT_13 1u
#define PP_HANG_AT_17 2u

static long counter;
static int rounds;

enum { L_ADD, L_NLABELS };
static const char *const LABELS[] = {"counter++"};
static const char *const LABEL_IDS[] = {"ADD"};

static int setup(const int32_t *wl, int n, uint32_t variant, char *err, int errlen)
{
	(void)variant;
	if (n != 1 || wl[0] < 0) {
		snprintf(err, (size_t)errlen, "pingpong takes one integer: rounds per thread");
		return -1;
	}
	rounds = wl[0];
	counter = 0;
	for (int t = 0; t < 2; t++)
		qf_task_schedule(qf_task_new(t, t), 0); /* one task per thread, at t=0 */
	return 2;
}

static void thread_main(int tid)
{
	(void)tid;
	while (qf_task_next() >= 0) {
		if (rounds == 13 && qf_variant_has(PP_CRASH_AT_13))
			raise(SIGSEGV);
		if (rounds == 17 && qf_variant_has(PP_HANG_AT_17))
			for (volatile int spin = 1; spin;) /* no schedule point: only a timeout ends it */
				;
		for (int i = 0; i < rounds; i++)
			qf_add(&counter, 1, L_ADD);
	}
}

static void finish(void)
{
	if (counter != 2L * rounds) {
		qf_verdict v;
		qf_verdict_init(&v, QF_SAFETY);
		v.label_a = L_ADD;
		snprintf(v.detail, sizeof v.detail, "counter is %ld, expected %d", counter, 2 * rounds);
		qf_fail(&v);
	}
}

static int snapshot(int32_t *out)
{
	out[0] = (int32_t)counter;
	return 1;
}

const qf_target qf_target_pingpong = {
	.name = "pingpong",
	.n_labels = L_NLABELS,
	.labels = LABELS,
	.label_ids = LABEL_IDS,
	.setup = setup,
	.thread_main = thread_main,
	.finish = finish,
	.snapshot = snapshot,
};
