/* core.c - controlled execution of a target on real pthreads.
 *
 * Each execution runs the target's threads on a reused pool of pthreads, one
 * at a time.  The running thread reaches a schedule point, asks the strategy
 * who runs next, and if it is another thread wakes it through that thread's
 * futex word and sleeps on its own: a direct thread-to-thread hand-off, with
 * no controller thread in between.  All threads of the execution (and the
 * calling Python thread) are pinned to one CPU, where a futex hand-off costs
 * a few microseconds instead of tens (bench/bench_core.py measures both).
 *
 * When no thread can run the execution is quiescent: the target's oracle
 * runs, then the virtual clock jumps to the earliest timer.  An execution
 * ends when nothing can run and no timer is armed, when the step budget runs
 * out, or when someone calls qf_fail.  Threads are not unwound at the end:
 * each one parks where it is, and the first time a later execution wakes it,
 * it notices the new epoch and longjmps back to the top of its pool loop.
 */
#define _GNU_SOURCE
#include "core.h"

#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

uint8_t qf_features[QF_NFEAT] __attribute__((aligned(64)));

enum { TH_IDLE = 0, TH_READY, TH_BLOCKED, TH_DONE };

typedef struct qf_thread {
	int tid;
	pthread_t pt;
	int32_t go;          /* futex word: 1 = your turn */
	jmp_buf base;        /* top of the pool loop */
	unsigned epoch;      /* execution whose stack this thread is on */
	int cpu;             /* CPU this pthread is pinned to */
	int state;
	int fresh;           /* just (re)entered thread_main */
	const qf_lock_t *blocked_on;
	int rq[QF_MAX_TASKS];
	int rq_head, rq_len;
	int request;         /* request of the task being run (trace) */
	int last_label;
	const qf_lock_t *held[16];
	int nheld;
	uint32_t waits_for;  /* fairness: threads that must run before this spinner runs again */
	long ops;            /* operations this thread executed */
	long yield_others;   /* others' operations at its last spin iteration */
	int idle_yields;     /* spin iterations in a row with nobody else acting */
	int last_yield_label; /* its spin loop in this task, -1 if none */
} qf_thread;

typedef struct qf_task {
	int thread;
	int request;
	uint32_t expire;
	int queued;
	int jittered;        /* its jitter decision for this expiry is taken */
} qf_task;

static struct {
	const qf_target *target;
	uint32_t variant;
	int nthreads;
	int cur;             /* running thread, -1 = the caller */
	unsigned epoch;
	int stopped;
	uint32_t now;
	int step;
	int budget;
	int switches;
	int preemptions;
	qf_task tasks[QF_MAX_TASKS];
	int ntasks;
	qf_sched sched;
	const qf_sched_ops *ops;
	uint8_t *dec;
	int ndec, dec_cap;
	uint8_t *trace;
	int trace_on, trace_n, trace_cap, trace_stride, ncounters, trace_truncated;
	size_t trace_alloc;
	int features;
	int rare_hits;         /* this execution's hits on features hit fewer than QF_RARE times before */
	int last_label, last_thread;
	long ops_total;
	int spinners;          /* some thread has a non-empty waits_for */
	uint32_t jitter;       /* timer window (virtual time), 0: timers fire exactly when due */
	uint64_t jitter_rng;   /* the seeded strategies' jitter draws, apart from their thread picks */
	qf_verdict verdict;
	int32_t caller_go;
	jmp_buf caller_base;
	uint64_t *sites;       /* programs: call site of each trace record (qf_rt_site) */
	size_t sites_alloc;
} C;

uint64_t qf_rt_site[QF_MAX_THREADS]; /* the runtime's current call site per thread (native/rt) */

static qf_thread T[QF_MAX_THREADS];
static int pool_size;
static int pool_cpu = -2;
static pthread_mutex_t run_mutex = PTHREAD_MUTEX_INITIALIZER;

static const qf_sched_ops *const SCHEDS[QF_SCHED_COUNT] = {
	&qf_sched_random, &qf_sched_pct, &qf_sched_pos, &qf_sched_bytes, &qf_sched_replay,
};

/* ---- futex hand-off --------------------------------------------------- */

/* A thread's go word: 0 not its turn, 1 its turn, 2 asleep in the kernel.
 * The waker enters the kernel only for a thread that is asleep: about half
 * of the hand-offs find the thread it hands to still on its way out (woken
 * threads preempt their waker on one CPU), and skip the FUTEX_WAKE (3.41
 * against 3.78 us per hand-off, pinned ping-pong, docs/engines.md). */
static void futex_wake(int32_t *w)
{
	if (__atomic_exchange_n(w, 1, __ATOMIC_ACQ_REL) == 2)
		syscall(SYS_futex, w, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static void futex_park(int32_t *w)
{
	for (;;) {
		int32_t v = 0;
		if (__atomic_compare_exchange_n(w, &v, 2, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE) || v == 2)
			syscall(SYS_futex, w, FUTEX_WAIT_PRIVATE, 2, NULL, NULL, 0);
		else if (v == 1)
			break;
	}
	__atomic_store_n(w, 0, __ATOMIC_RELAXED);
}

/* Back on the CPU: if a new execution began while this thread slept, its
 * stack belongs to the old one; restart at the top of the pool loop. */
static void resumed(qf_thread *t)
{
	if (t->epoch != C.epoch)
		longjmp(t->base, 1);
}

static void switch_to(int next)
{
	qf_thread *me = &T[C.cur];
	C.cur = next;
	C.switches++;
	futex_wake(&T[next].go);
	futex_park(&me->go);
	resumed(me);
}

/* ---- trace and features --------------------------------------------- */

static void record(int kind, int label, int thread, int request, int value)
{
	if (!C.trace_on)
		return;
	if (C.trace_n >= C.trace_cap) {
		C.trace_truncated = 1;
		return;
	}
	uint8_t *p = C.trace + (size_t)C.trace_n * C.trace_stride;
	qf_trace_head h = {(uint32_t)C.step, C.now, (int16_t)label, (uint8_t)(thread < 0 ? 255 : thread), (uint8_t)kind,
			   (int16_t)request, 0, value};
	memcpy(p, &h, sizeof h);
	if (C.sites)
		C.sites[C.trace_n] = thread >= 0 && kind != QF_EV_CLOCK ? qf_rt_site[thread] : 0;
	if (C.ncounters) {
		int32_t tmp[QF_MAX_COUNTERS];
		C.target->snapshot(tmp);
		memcpy(p + sizeof h, tmp, sizeof(int32_t) * C.ncounters);
	}
	C.trace_n++;
}

static inline uint32_t mix3(uint32_t a, uint32_t b, uint32_t c)
{
	uint32_t h = a * 0x9E3779B1u ^ (b + 0x7F4A7C15u) * 0x85EBCA77u ^ (c + 0x165667B1u) * 0xC2B2AE3Du;
	h ^= h >> 15;
	h *= 0x2C1B3C6Du;
	h ^= h >> 13;
	return h;
}

/* Interleaving features: libFuzzer-style 8-bit counters (coverage.c hands
 * them to libFuzzer), so hit counts matter too.  qf_run_args.features is a
 * mask of QF_FT_* (1 = all of them), to measure each kind alone.  Tried and
 * dropped (docs/engines.md): the value a read saw, two consecutive switches,
 * state-to-state steps, presence instead of counts. */
enum {
	QF_FT_PAIR = 1 << 1,   /* label right after a label of another thread */
	QF_FT_LOCK = 1 << 2,   /* blocked on, or trylock failed against, a lock: its class and both labels */
	QF_FT_STATE = 1 << 3,  /* the target's bucketed abstract state at quiescent points */
};
#define QF_FT_DEFAULT (QF_FT_PAIR | QF_FT_LOCK | QF_FT_STATE)

static inline int ft(int kind)
{
	return (C.features == 1 ? QF_FT_DEFAULT : C.features) & kind;
}

/* A feature hit fewer times than this (since the counters were last zeroed)
 * is rare: the seeded campaigns give a workload whose executions hit rare
 * ones more schedules (harness/engines/energy.py). */
#define QF_RARE 4

static inline void feature(uint32_t h)
{
	uint8_t *c = &qf_features[h & (QF_NFEAT - 1)];
	if (*c < QF_RARE)
		C.rare_hits++;
	if (*c != 255)
		(*c)++;
}

/* Small lock ids name one lock each; large ones are per-object locks
 * (a lock per queue entry...), one class per rank, so that which entry's
 * lock it was does not read as new behaviour. */
static inline uint32_t lock_class(const qf_lock_t *l)
{
	return l->id < 64 ? (uint32_t)l->id : 64u + (uint32_t)l->rank;
}

/* An operation by the running thread took effect. */
static void executed(int label, int value)
{
	int me = C.cur;
	if (ft(QF_FT_PAIR) && C.last_thread != me && C.last_thread >= 0)
		feature(mix3(1, (uint32_t)C.last_label, (uint32_t)label)); /* label after label on another thread */
	C.last_label = label;
	C.last_thread = me;
	C.ops_total++;
	T[me].ops++;
	if (C.spinners) {
		uint32_t bit = 1u << me, any = 0;
		for (int t = 0; t < C.nthreads; t++)
			any |= (T[t].waits_for &= ~bit);
		C.spinners = any != 0;
	}
	T[me].last_label = label;
	record(QF_EV_OP, label, me, T[me].request, value);
}

/* ---- ending an execution ---------------------------------------------- */

static void stop_execution(void) __attribute__((noreturn));
static void stop_execution(void)
{
	C.stopped = 1;
	if (C.cur < 0)
		longjmp(C.caller_base, 1);
	qf_thread *me = &T[C.cur];
	C.cur = -1;
	futex_wake(&C.caller_go);
	futex_park(&me->go);
	resumed(me); /* a later execution: longjmps */
	abort();     /* a stopped execution never resumes a thread */
}

void qf_verdict_init(qf_verdict *v, int kind)
{
	memset(v, 0, sizeof *v);
	v->kind = kind;
	v->request = v->object = -1;
	v->label_a = v->label_b = v->step_a = v->step_b = v->thread_a = v->thread_b = -1;
	v->t_from = v->t_at = C.now;
}

void qf_fail(const qf_verdict *v)
{
	C.verdict = *v;
	record(QF_EV_FAIL, QF_L_FAIL, C.cur, v->request, v->kind);
	stop_execution();
}

static void core_fail(int kind, int object, const char *fmt, const char *a)
{
	qf_verdict v;
	qf_verdict_init(&v, kind);
	v.object = object;
	if (C.cur >= 0) {
		v.request = T[C.cur].request;
		v.thread_a = C.cur;
		v.label_a = T[C.cur].last_label;
		v.step_a = C.step;
	}
	snprintf(v.detail, sizeof v.detail, fmt, a ? a : "");
	qf_fail(&v);
}

/* The step budget ran out.  Name the spin loop that was running (where the
 * step happened to run out is not stable enough for a signature). */
static void budget_exceeded(void) __attribute__((noreturn));
static void budget_exceeded(void)
{
	qf_verdict v;
	qf_verdict_init(&v, QF_LIVELOCK);
	/* the running thread's own spin loop, if it is in one */
	int spin = C.cur >= 0 ? T[C.cur].last_yield_label : -1;
	v.label_a = spin >= 0 ? spin : QF_L_BUDGET;
	if (C.cur >= 0) {
		v.thread_a = C.cur;
		v.request = T[C.cur].request;
	}
	v.step_a = C.step;
	snprintf(v.detail, sizeof v.detail, "step budget of %d exceeded: %s", C.budget,
		 spin >= 0 ? "threads keep spinning in a retry loop" : "an unbounded loop");
	qf_fail(&v);
	abort();
}

/* ---- choosing who runs -------------------------------------------------- */

static int runnable(int t)
{
	return T[t].state == TH_READY || (T[t].state == TH_IDLE && T[t].rq_len > 0);
}

static void enqueue_task(int task)
{
	qf_task *k = &C.tasks[task];
	if (k->queued)
		return;
	k->queued = 1;
	qf_thread *t = &T[k->thread];
	t->rq[(t->rq_head + t->rq_len) % QF_MAX_TASKS] = task;
	t->rq_len++;
}

/* The clock jumps to the earliest timer and fires every timer due then.
 * Returns 0 when no timer is armed. */
static uint32_t earliest_timer(void);

static int advance_clock(void)
{
	uint32_t next = earliest_timer();
	if (next == QF_ETERNITY)
		return 0;
	if (next > C.now) {
		C.now = next;
		record(QF_EV_CLOCK, QF_L_CLOCK, -1, -1, (int)next);
	}
	for (int i = 0; i < C.ntasks; i++)
		if (C.tasks[i].expire <= C.now) {
			C.tasks[i].expire = QF_ETERNITY;
			C.tasks[i].jittered = 0;
			enqueue_task(i);
			record(QF_EV_TIMER, QF_L_TIMER, C.tasks[i].thread, C.tasks[i].request, i);
		}
	return 1;
}

/* ---- timer jitter ---------------------------------------------------------
 *
 * Threads only interleave inside one virtual instant, so without this a race
 * needs two timers due at exactly the same time.  With a window W > 0 (the
 * workload's "jitter"), a timer that comes due may instead wait for the due
 * time of a later timer at most W after it, so that both tasks run in the same
 * instant and their threads interleave: an arrival 3 ms after a release can
 * race it, as it does on a loaded event loop.  Which later time (0: none, k:
 * the k-th distinct one) is a decision like a thread pick: it goes into the
 * decision list, replays exactly, and the minimizer shrinks it toward 0.
 * Only choices with two or more options are recorded, and with W = 0 nothing
 * here runs, so older decision lists replay unchanged.
 *
 * The choice is offered only where it can matter: the later times are those of
 * other threads' timers (a thread's own later task runs after this one anyway),
 * and a timer that waits for time T joins the timers due at T, which then
 * take no decision and stay at T (were they to move on, it would wait for
 * nobody).  bench/bench_grid.py measured this against the rule the 2026-12
 * catalog corpus was found with (wait for any later timer, which may move on
 * in turn): docs/catalog.md, "Timer jitter". */
enum { QF_JITTER_CHOICES = 4 };

static void push_decision(uint8_t d); /* the nearest later due times a timer may wait for */

static void jitter_begin(const qf_run_args *a)
{
	C.jitter = a->jitter > 0 ? (uint32_t)a->jitter : 0;
	C.jitter_rng = qf_seed_mix(a->seed ^ 0x6A09E667F3BCC909ULL);
}

/* Replay and bytes read the choice from their byte stream, like a thread
 * pick; the seeded strategies draw it from a stream of their own (so turning
 * jitter on does not reshuffle their thread picks): no delay one time in four,
 * else one of the later times uniformly (waiting half of the time and always
 * measured within noise of this in bench/bench_grid.py; one in four keeps
 * timers that fire alone in the search). */
static int pick_jitter(int n)
{
	qf_sched *s = &C.sched;
	if (s->kind == QF_SCHED_REPLAY || s->kind == QF_SCHED_BYTES) {
		if (s->pos < s->ndata)
			return s->data[s->pos++] % n;
		if (s->kind == QF_SCHED_REPLAY || !s->fallback_random)
			return 0;
	}
	uint64_t x = C.jitter_rng;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	C.jitter_rng = x;
	x *= 0x2545F4914F6CDD1DULL;
	if (x >> 62 == 0)
		return 0;
	return 1 + (int)((x >> 8) % (uint64_t)(n - 1));
}

/* The distinct due times in (t, t + window] of timers on threads other than
 * `thread`, earliest first, at most `max`. */
static int later_due_times(uint32_t t, int thread, uint32_t *out, int max)
{
	uint64_t until = (uint64_t)t + C.jitter;
	int n = 0;
	for (int i = 0; i < C.ntasks; i++) {
		uint32_t e = C.tasks[i].expire;
		if (e == QF_ETERNITY || e <= t || e > until || C.tasks[i].thread == thread)
			continue;
		int j = 0;
		while (j < n && out[j] < e)
			j++;
		if ((j < n && out[j] == e) || j >= max)
			continue;
		int keep = n < max ? n : max - 1; /* the last one drops out when full */
		memmove(&out[j + 1], &out[j], sizeof *out * (size_t)(keep - j));
		out[j] = e;
		n = keep + 1;
	}
	return n;
}

/* The earliest due time, once every timer due then has taken its jitter
 * decision (a timer that waits moves later, so look again). */
static uint32_t earliest_timer(void)
{
	for (;;) {
		uint32_t next = QF_ETERNITY;
		for (int i = 0; i < C.ntasks; i++)
			if (C.tasks[i].expire < next)
				next = C.tasks[i].expire;
		if (!C.jitter || next == QF_ETERNITY)
			return next;
		int moved = 0;
		for (int i = 0; i < C.ntasks; i++) {
			qf_task *k = &C.tasks[i];
			if (k->expire != next || k->jittered)
				continue;
			k->jittered = 1;
			uint32_t later[QF_JITTER_CHOICES];
			int m = later_due_times(next, k->thread, later, QF_JITTER_CHOICES);
			if (!m)
				continue;
			int d = pick_jitter(m + 1);
			push_decision((uint8_t)d);
			if (d) {
				k->expire = later[d - 1];
				moved = 1;
				for (int j = 0; j < C.ntasks; j++) /* the timers it joins stay */
					if (C.tasks[j].expire == k->expire)
						C.tasks[j].jittered = 1;
				record(QF_EV_NOTE, QF_L_JITTER, k->thread, k->request, (int)k->expire);
			}
		}
		if (!moved)
			return next;
	}
}

static void quiescent(void)
{
	if (C.target->quiescent)
		C.target->quiescent();
	if (ft(QF_FT_STATE) && C.target->abstract_state)
		feature(mix3(4, C.target->abstract_state(), 0));
	for (int t = 0; t < C.nthreads; t++)
		if (T[t].state == TH_BLOCKED) {
			qf_verdict v;
			qf_verdict_init(&v, QF_DEADLOCK);
			v.thread_a = t;
			v.object = T[t].blocked_on->id;
			v.label_a = T[t].last_label;
			v.thread_b = T[t].blocked_on->owner;
			if (v.thread_b >= 0)
				v.label_b = T[v.thread_b].last_label;
			snprintf(v.detail, sizeof v.detail, "thread %d waits forever for lock %d held by thread %d", t,
				 T[t].blocked_on->id, T[t].blocked_on->owner);
			qf_fail(&v);
		}
}

/* Every decision is kept, however many: replay needs the complete list. */
static void push_decision(uint8_t d)
{
	if (C.ndec == C.dec_cap) {
		int cap = C.dec_cap ? 2 * C.dec_cap : 4096;
		uint8_t *p = realloc(C.dec, (size_t)cap);
		if (!p)
			abort(); /* a truncated list would silently break replay */
		C.dec = p;
		C.dec_cap = cap;
	}
	C.dec[C.ndec++] = d;
}

/* Pick the next thread to run.  `me` is the thread asking (-1 for the
 * Python thread at the start).  It comes first among the candidates when it
 * can run, so decision 0 means "no preemption"; a spinning thread passes
 * `exclude_me` to let someone else run.  Handles quiescence; never returns
 * when the execution ends. */
static int next_thread(int me, int exclude_me)
{
	for (;;) {
		int cand[QF_MAX_THREADS], n = 0;
		uint32_t mask = 0;
		for (int t = 0; t < C.nthreads; t++)
			mask |= (uint32_t)runnable(t) << t;
		/* Fair scheduling for spin loops (Musuvathi and Qadeer, PLDI 2008): a
		 * thread that yielded waits until every thread that could run then
		 * has run.  On real CPUs those threads progress while it spins; an
		 * unfair schedule would report livelocks that cannot happen. */
		if (C.spinners) {
			uint32_t fair = 0;
			for (int t = 0; t < C.nthreads; t++)
				if ((mask >> t & 1) && !(T[t].waits_for & mask))
					fair |= 1u << t;
			if (fair)
				mask = fair;
		}
		int me_can_run = me >= 0 && !exclude_me && (mask >> me & 1);
		if (me_can_run)
			cand[n++] = me;
		for (int i = 1; i <= C.nthreads; i++) {
			int t = me < 0 ? i - 1 : (me + i) % C.nthreads;
			if (t != me && (mask >> t & 1))
				cand[n++] = t;
		}
		if (n == 0) {
			quiescent();
			if (!advance_clock()) {
				if (C.target->finish)
					C.target->finish();
				stop_execution();
			}
			continue;
		}
		int idx = 0;
		if (n > 1) {
			idx = C.ops->pick(&C.sched, cand, n, me_can_run);
			if (idx < 0 || idx >= n)
				idx = 0;
			push_decision((uint8_t)idx);
			if (me_can_run && idx)
				C.preemptions++; /* switched away from a thread that could go on */
		}
		return cand[idx];
	}
}

static void reschedule(int exclude_me)
{
	int me = C.cur;
	int next = next_thread(me, exclude_me);
	if (next != me)
		switch_to(next);
}

/* Every schedule point: count the step, let the strategy see it, choose. */
static void point(int label, const void *obj, int write)
{
	int me = C.cur;
	if (++C.step > C.budget)
		budget_exceeded();
	C.sched.pend_obj[me] = obj;
	C.sched.pend_write[me] = write;
	(void)label;
	if (C.ops->on_step)
		C.ops->on_step(&C.sched, me, C.step);
	reschedule(0);
	if (C.ops->executed)
		C.ops->executed(&C.sched, C.cur);
}

/* ---- the target API ----------------------------------------------------- */

void qf_point(int label, const void *obj)
{
	point(label, obj, 0);
	executed(label, 0);
}

void qf_note(int label, int value)
{
	record(QF_EV_NOTE, label, C.cur, C.cur >= 0 ? T[C.cur].request : -1, value);
}

void qf_yield(int label)
{
	/* A spin-loop iteration.  On real CPUs the other threads make progress
	 * meanwhile, so if one can run, one must run now (a fair scheduler).
	 * If none can, the spinner goes round again; when it comes back three
	 * times with no other thread having done anything, the next turns can
	 * only repeat this one: a livelock, HAProxy's watchdog case. */
	int me = C.cur;
	qf_thread *t = &T[me];
	if (++C.step > C.budget)
		budget_exceeded();
	t->last_yield_label = label;
	executed(label, 0);
	long others_ops = C.ops_total - t->ops;
	t->idle_yields = others_ops == t->yield_others ? t->idle_yields + 1 : 0;
	t->yield_others = others_ops;
	if (t->idle_yields >= 3) {
		qf_verdict v;
		qf_verdict_init(&v, QF_LIVELOCK);
		v.thread_a = me;
		v.request = t->request;
		v.label_a = label;
		v.step_a = C.step;
		snprintf(v.detail, sizeof v.detail, "thread %d spins and no other thread can run to end the spin", me);
		qf_fail(&v);
	}
	C.sched.pend_obj[me] = 0;
	uint32_t runnable_others = 0;
	for (int u = 0; u < C.nthreads; u++)
		if (u != me && runnable(u))
			runnable_others |= 1u << u;
	t->waits_for = runnable_others;
	C.spinners |= runnable_others != 0;
	reschedule(runnable_others != 0);
}

void qf_lock_init(qf_lock_t *l, int id, int rank)
{
	l->owner = -1;
	l->id = id;
	l->rank = rank;
}

/* A lock asked for against the declared order is reported when it is asked
 * for, as lockdep does, not once it is obtained: if its holder is waiting for
 * one of ours, the two threads deadlock first, frozen inside their critical
 * sections, and the target's invariants (checked at quiescence) would report
 * the half-done state instead (docs/findings.md, "INV_PXSERVED on
 * revert-5e83d996c"). */
static void check_rank(qf_lock_t *l, int label)
{
	qf_thread *t = &T[C.cur];
	if (l->rank)
		for (int i = 0; i < t->nheld; i++)
			if (t->held[i]->rank && t->held[i]->rank >= l->rank) {
				qf_verdict v;
				qf_verdict_init(&v, QF_LOCKORDER);
				v.thread_a = C.cur;
				v.request = t->request;
				v.label_a = label;
				v.step_a = C.step;
				v.object = l->id;
				int n = snprintf(v.detail, sizeof v.detail,
						 "thread %d takes lock %d (rank %d) while holding lock %d (rank %d)", C.cur, l->id,
						 l->rank, t->held[i]->id, t->held[i]->rank);
				if (l->owner >= 0 && n > 0 && (size_t)n < sizeof v.detail)
					snprintf(v.detail + n, sizeof v.detail - (size_t)n, ", held by thread %d", l->owner);
				else
					l->owner = C.cur;
				qf_fail(&v);
			}
}

static void took(qf_lock_t *l)
{
	qf_thread *t = &T[C.cur];
	l->owner = C.cur;
	if (t->nheld < 16)
		t->held[t->nheld++] = l;
}

void qf_lock(qf_lock_t *l, int label)
{
	point(label, l, 1);
	qf_thread *t = &T[C.cur];
	check_rank(l, label);
	while (l->owner >= 0) {
		if (l->owner == C.cur)
			core_fail(QF_DEADLOCK, l->id, "a thread takes a lock it already holds%s", "");
		if (ft(QF_FT_LOCK)) /* a hand-off: who holds it, doing what, while we wait */
			feature(mix3(2, lock_class(l), (uint32_t)(label * 4099 + T[l->owner].last_label)));
		t->state = TH_BLOCKED;
		t->blocked_on = l;
		record(QF_EV_BLOCK, QF_L_BLOCK, C.cur, t->request, l->id);
		reschedule(0); /* not runnable until the owner releases it */
	}
	took(l);
	executed(label, l->id);
}

int qf_trylock(qf_lock_t *l, int label)
{
	point(label, l, 1);
	if (l->owner >= 0) {
		if (ft(QF_FT_LOCK)) /* a trylock lost: to whom, doing what */
			feature(mix3(3, lock_class(l), (uint32_t)(label * 4099 + T[l->owner].last_label)));
		executed(label, 0);
		return 0;
	}
	check_rank(l, label);
	took(l);
	executed(label, 1);
	return 1;
}

void qf_unlock(qf_lock_t *l, int label)
{
	point(label, l, 1);
	qf_thread *t = &T[C.cur];
	if (l->owner != C.cur)
		core_fail(QF_SAFETY, l->id, "a thread releases a lock it does not hold%s", "");
	l->owner = -1;
	for (int i = t->nheld - 1; i >= 0; i--)
		if (t->held[i] == l) {
			memmove(&t->held[i], &t->held[i + 1], sizeof(t->held[0]) * (t->nheld - i - 1));
			t->nheld--;
			break;
		}
	for (int u = 0; u < C.nthreads; u++)
		if (T[u].state == TH_BLOCKED && T[u].blocked_on == l) {
			T[u].state = TH_READY;
			T[u].blocked_on = 0;
		}
	executed(label, l->id);
}

long qf_load(const long *p, int label)
{
	point(label, p, 0);
	long v = *p;
	executed(label, (int)v);
	return v;
}

void qf_store(long *p, long v, int label)
{
	point(label, p, 1);
	*p = v;
	executed(label, (int)v);
}

long qf_add(long *p, long delta, int label)
{
	point(label, p, 1);
	long v = (*p += delta);
	executed(label, (int)v);
	return v;
}

int qf_cas(long *p, long expected, long desired, int label)
{
	point(label, p, 1);
	int ok = *p == expected;
	if (ok)
		*p = desired;
	executed(label, ok);
	return ok;
}

long qf_xchg(long *p, long v, int label)
{
	point(label, p, 1);
	long old = *p;
	*p = v;
	executed(label, (int)old);
	return old;
}

int qf_task_new(int thread, int request)
{
	if (C.ntasks >= QF_MAX_TASKS || thread < 0 || thread >= QF_MAX_THREADS)
		return -1;
	int id = C.ntasks++;
	C.tasks[id] = (qf_task){thread, request, QF_ETERNITY, 0, 0};
	return id;
}

void qf_task_schedule(int task, uint32_t when)
{
	C.tasks[task].expire = when;
	C.tasks[task].jittered = 0;
}

void qf_wake(int task, int label)
{
	point(label, &C.tasks[task], 1);
	enqueue_task(task);
	executed(label, task);
}

int qf_task_next(void)
{
	qf_thread *t = &T[C.cur];
	if (t->nheld)
		core_fail(QF_SAFETY, t->held[0]->id, "a thread went back to its event loop holding a lock%s", "");
	t->last_yield_label = -1; /* a new task: no spin loop yet */
	if (t->rq_len && !t->fresh) {
		/* between two tasks: another thread may run first */
		point(QF_L_RUN, 0, 0);
	}
	t->fresh = 0;
	while (!t->rq_len) {
		t->state = TH_IDLE;
		t->request = -1;
		reschedule(0);
	}
	t->state = TH_READY;
	int task = t->rq[t->rq_head];
	t->rq_head = (t->rq_head + 1) % QF_MAX_TASKS;
	t->rq_len--;
	C.tasks[task].queued = 0;
	t->request = C.tasks[task].request;
	executed(QF_L_RUN, task);
	return task;
}

uint32_t qf_now(void)
{
	return C.now;
}

int qf_self(void)
{
	return C.cur;
}

int qf_step(void)
{
	return C.step;
}

int qf_variant_has(uint32_t bit)
{
	return (C.variant & bit) != 0;
}

/* ---- the pool ---------------------------------------------------------- */

/* Pin the calling thread to `cpu`, or (-1) let it run anywhere again. */
static void pin_self(int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	if (cpu >= 0)
		CPU_SET(cpu, &set);
	else
		for (int c = 0; c < CPU_SETSIZE; c++)
			CPU_SET(c, &set);
	pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

static void *pool_main(void *arg)
{
	qf_thread *t = arg;
	if (t->cpu >= 0)
		pin_self(t->cpu);
	futex_park(&t->go);
	setjmp(t->base);
	for (;;) {
		t->epoch = C.epoch;
		t->fresh = 1;
		C.target->thread_main(t->tid);
		/* the thread body returned: it is done for this execution */
		t->state = TH_DONE;
		t->request = -1;
		switch_to(next_thread(C.cur, 0)); /* never comes back in this execution */
	}
	return NULL;
}

static int grow_pool(int n, int cpu)
{
	if (cpu != pool_cpu) {
		/* re-pin the threads we already have */
		for (int i = 0; i < pool_size; i++) {
			cpu_set_t set;
			T[i].cpu = cpu;
			if (cpu >= 0) {
				CPU_ZERO(&set);
				CPU_SET(cpu, &set);
			} else {
				CPU_ZERO(&set);
				for (int c = 0; c < CPU_SETSIZE; c++)
					CPU_SET(c, &set);
			}
			pthread_setaffinity_np(T[i].pt, sizeof set, &set);
		}
		pool_cpu = cpu;
	}
	while (pool_size < n) {
		qf_thread *t = &T[pool_size];
		memset(t, 0, sizeof *t);
		t->tid = pool_size;
		t->cpu = cpu;
		t->epoch = (unsigned)-1;
		pthread_attr_t attr;
		pthread_attr_init(&attr);
		pthread_attr_setstacksize(&attr, 512 * 1024);
		int rc = pthread_create(&t->pt, &attr, pool_main, t);
		pthread_attr_destroy(&attr);
		if (rc)
			return -1;
		pool_size++;
	}
	return 0;
}

static uint64_t *rt_sites_buffer(size_t n);

int qf_run(const qf_run_args *a, qf_run_result *r)
{
	memset(r, 0, sizeof *r);
	if (a->sched_kind < 0 || a->sched_kind >= QF_SCHED_COUNT) {
		snprintf(r->error, sizeof r->error, "unknown scheduler %d", a->sched_kind);
		return -1;
	}
	pthread_mutex_lock(&run_mutex);

	C.target = a->target;
	C.variant = a->variant;
	C.epoch++;
	C.stopped = 0;
	C.now = 0;
	C.step = 0;
	C.budget = a->budget > 0 ? a->budget : 100000;
	C.switches = 0;
	C.preemptions = 0;
	C.ntasks = 0;
	C.ndec = 0;
	C.trace_n = 0;
	C.trace_truncated = 0;
	C.last_label = -1;
	C.last_thread = -1;
	C.features = a->features;
	C.cur = -1;
	qf_verdict_init(&C.verdict, QF_OK);

	int n = a->target->setup(a->workload, a->nworkload, a->variant, r->error, sizeof r->error);
	if (n < 1 || n > QF_MAX_THREADS) {
		if (!r->error[0])
			snprintf(r->error, sizeof r->error, "target set up %d threads (1..%d allowed)", n, QF_MAX_THREADS);
		pthread_mutex_unlock(&run_mutex);
		return -1;
	}
	C.nthreads = n;
	if (grow_pool(n, a->cpu) < 0) {
		snprintf(r->error, sizeof r->error, "cannot create threads: %s", strerror(errno));
		pthread_mutex_unlock(&run_mutex);
		return -1;
	}
	{
		/* the calling thread hands off to the pool: keep it on the same CPU */
		static __thread int pinned_to = -1;
		if (pinned_to != a->cpu) {
			pin_self(a->cpu);
			pinned_to = a->cpu;
		}
	}
	for (int i = 0; i < n; i++) {
		T[i].state = TH_IDLE;
		T[i].rq_head = T[i].rq_len = 0;
		T[i].nheld = 0;
		T[i].blocked_on = 0;
		T[i].request = -1;
		T[i].last_label = -1;
		T[i].ops = T[i].yield_others = T[i].idle_yields = 0;
		T[i].waits_for = 0;
		T[i].last_yield_label = -1;
	}
	C.ops_total = 0;
	C.spinners = 0;
	C.rare_hits = 0;

	if (!C.dec)
		push_decision(0), C.ndec = 0; /* never hand Python a NULL list */
	C.trace_on = a->trace;
	C.ncounters = a->target->snapshot ? a->target->snapshot((int32_t[QF_MAX_COUNTERS]){0}) : 0;
	if (C.ncounters > QF_MAX_COUNTERS)
		C.ncounters = QF_MAX_COUNTERS;
	C.trace_stride = (int)sizeof(qf_trace_head) + 4 * C.ncounters;
	size_t want = (size_t)(2 * C.budget + 4 * QF_MAX_TASKS + 64);
	if (a->trace && C.trace_alloc < want * C.trace_stride) {
		free(C.trace);
		C.trace = malloc(want * C.trace_stride);
		C.trace_alloc = C.trace ? want * C.trace_stride : 0;
		if (!C.trace) {
			snprintf(r->error, sizeof r->error, "cannot allocate a %zu-byte trace buffer",
				 want * C.trace_stride);
			pthread_mutex_unlock(&run_mutex);
			return -1;
		}
	}
	C.trace_cap = (int)(C.trace_alloc / C.trace_stride);
	C.sites = a->trace && a->sites ? rt_sites_buffer((size_t)C.trace_cap) : 0;
	memset(qf_rt_site, 0, sizeof qf_rt_site);
	memset(&C.sched, 0, sizeof C.sched);
	C.sched.kind = a->sched_kind;
	C.sched.seed = a->seed;
	C.sched.rng = qf_seed_mix(a->seed);
	C.sched.nthreads = n;
	C.sched.depth = a->depth;
	C.sched.k = a->k;
	C.sched.data = a->data;
	C.sched.ndata = a->ndata;
	C.sched.fallback_random = a->fallback_random;
	C.ops = SCHEDS[a->sched_kind];
	C.ops->begin(&C.sched);
	jitter_begin(a);

	C.caller_go = 0;
	if (!setjmp(C.caller_base)) {
		int first = next_thread(-1, 0);
		C.cur = first;
		futex_wake(&T[first].go);
		futex_park(&C.caller_go);
	}

	r->verdict = C.verdict;
	r->steps = C.step;
	r->switches = C.switches;
	r->rare_hits = C.rare_hits;
	r->preemptions = C.preemptions;
	r->end_time = C.now;
	r->nthreads = C.nthreads; /* programs create threads as they go */
	r->decisions = C.dec;
	r->ndecisions = C.ndec;
	r->trace = C.trace;
	r->trace_bytes = a->trace ? C.trace_n * C.trace_stride : 0;
	r->trace_stride = C.trace_stride;
	r->ncounters = C.ncounters;
	r->trace_truncated = C.trace_truncated;
	r->sites = C.sites;
	pthread_mutex_unlock(&run_mutex);
	return 0;
}

/* ---- hooks for the runtime of unmodified programs (native/rt) ----------
 * The runtime builds pthreads, futexes, condition variables and virtual
 * time out of the same primitives as qf.h: each program thread is a core
 * thread with exactly one task (task id == thread id) that it waits on
 * whenever it blocks.  Nothing here runs for the hand-written targets. */

static uint64_t *rt_sites_buffer(size_t n)
{
	static uint64_t *buf; /* C.sites is NULL in executions that record none */
	if (C.sites_alloc < n) {
		free(buf);
		buf = malloc(n * sizeof *buf);
		C.sites_alloc = buf ? n : 0;
	}
	return buf;
}

void qf_rt_point(int label, const void *obj, int write)
{
	point(label, obj, write);
}

void qf_rt_done(int label, int value)
{
	executed(label, value);
}

void qf_rt_feature(uint32_t a, uint32_t b)
{
	if (C.features)
		feature(mix3(5, a, b));
}

/* A new thread of the running program; -1 when QF_MAX_THREADS are in use. */
int qf_rt_thread_new(void)
{
	int tid = C.nthreads;
	if (tid >= QF_MAX_THREADS || grow_pool(tid + 1, pool_cpu) < 0)
		return -1;
	qf_thread *t = &T[tid];
	t->state = TH_IDLE;
	t->rq_head = t->rq_len = 0;
	t->nheld = 0;
	t->blocked_on = 0;
	t->request = -1;
	t->last_label = -1;
	t->ops = t->yield_others = t->idle_yields = 0;
	t->waits_for = 0;
	t->last_yield_label = -1;
	qf_rt_site[tid] = 0;
	C.nthreads++;
	C.sched.nthreads = C.nthreads;
	if (qf_task_new(tid, -1) != tid)
		return -1;
	if (C.ops->thread_added)
		C.ops->thread_added(&C.sched, tid);
	return tid;
}

/* Block the running thread until qf_rt_unpark or its deadline (QF_ETERNITY:
 * none).  The caller tells the two apart. */
void qf_rt_wait(uint32_t deadline)
{
	int me = C.cur;
	qf_thread *t = &T[me];
	C.tasks[me].expire = deadline;
	while (!t->rq_len) {
		t->state = TH_IDLE;
		reschedule(0);
	}
	t->state = TH_READY;
	t->rq_head = (t->rq_head + 1) % QF_MAX_TASKS;
	t->rq_len--;
	C.tasks[me].queued = 0;
	C.tasks[me].expire = QF_ETERNITY;
}

void qf_rt_unpark(int tid)
{
	C.tasks[tid].expire = QF_ETERNITY;
	enqueue_task(tid);
}

/* A spin loop lets time pass.  to_timer (every runnable thread only
 * spins): the clock jumps to the earliest timer if one is armed (returns 1).
 * Else it moves forward by `quantum` us (returns 2; 0 = do not), but never
 * past the earliest timer, which then fires (returns 1); it saturates at
 * the horizon QF_ETERNITY - 1. */
int qf_rt_clock_jump(uint32_t quantum, int to_timer)
{
	int r = 0;
	uint32_t next = qf_rt_next_timer();
	if ((to_timer || (quantum && next - C.now <= quantum)) && advance_clock())
		r = 1;
	else if (quantum) {
		C.now = C.now >= QF_ETERNITY - 1 - quantum ? QF_ETERNITY - 1 : C.now + quantum;
		record(QF_EV_CLOCK, QF_L_CLOCK, -1, -1, (int)C.now);
		r = 2;
	}
	if (r && C.cur >= 0)
		T[C.cur].idle_yields = 0; /* time moved: the spinner's next turn differs */
	return r;
}

/* The spinning thread did real work since its previous spin iteration:
 * its next spin is not a repeat of the last one (qf_yield's LIVELOCK rule). */
void qf_rt_progress(void)
{
	T[C.cur].idle_yields = 0;
}

/* The earliest armed timer, QF_ETERNITY if none. */
uint32_t qf_rt_next_timer(void)
{
	uint32_t next = QF_ETERNITY;
	for (int i = 0; i < C.ntasks; i++)
		if (C.tasks[i].expire < next)
			next = C.tasks[i].expire;
	return next;
}

int qf_rt_nthreads(void)
{
	return C.nthreads;
}

/* The program ended (exit status 0, or every thread returned): OK so far. */
void qf_rt_end(void)
{
	stop_execution();
}

/* In a forked child: the pool's pthreads exist only in the parent. */
void qf_rt_pool_forget(void)
{
	pool_size = 0;
	pool_cpu = -2;
	pthread_mutex_init(&run_mutex, NULL);
}
