/* stress_core.c - qf.h on free-running threads: the stress baseline.
 *
 * The controlled core (native/core.c) runs a target's threads one at a time
 * and chooses every interleaving.  Here nothing is chosen: the target's
 * threads are real pthreads running in parallel, a schedule point only
 * records the event in the thread's ring buffer (and with probability
 * `noise` first spins for a random while), qf_lock is a real spin lock,
 * qf_load/qf_add/... are real sequentially consistent atomics, and qf_now()
 * is the wall clock scaled to the workload's time unit.
 *
 * Tasks and timers: each thread owns a run queue and the timers of its own
 * tasks.  qf_task_next fires the caller's due timers, and while it has
 * nothing to run waits on its condition variable until its earliest timer
 * (a real timed wait) or a qf_wake.  All of that is under one mutex, S.m.
 *
 * Quiescence: a thread is idle while it waits in qf_task_next with an empty
 * run queue.  When the last thread goes idle no target code is running, and
 * none can start before that thread releases S.m (a thread leaves idle only
 * under S.m), so it runs the target's quiescent() oracle right there.  If no
 * timer is left either, it runs finish() and the round is over: every
 * qf_task_next returns -1.
 *
 * Verdicts: qf_fail records the first verdict, raises S.stopping and
 * longjmps the *calling* thread back to the top of its pool loop (releasing
 * S.m first if it held it).  Every other thread unwinds its own stack the
 * same way at its next schedule point or lock-spin iteration; a longjmp
 * never crosses another thread's stack, and no pthread lock is held across
 * one.  Target locks left taken by an unwound thread are plain words in the
 * target's state, which the next setup() re-initializes.
 *
 * The calling (Python) thread is the watchdog.  It never needs S.m to see
 * trouble (a looping thread may keep S.m busy): a thread inside one task
 * using more than hang_ns of CPU is DEADLOCK when it spins on a lock, LIVELOCK
 * otherwise, and so is an oracle hook that does not return.  A thread that
 * never reaches a schedule point again cannot be stopped: the round returns
 * marked `wedged` and the process runs no more rounds.
 */
#define _GNU_SOURCE
#include "stress.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

#include "core.h" /* core labels (QF_L_*) and event kinds (QF_EV_*), shared with traces */

#if defined(__x86_64__) || defined(__i386__)
#define cpu_relax() __builtin_ia32_pause()
#else
#define cpu_relax() __asm__ __volatile__("" ::: "memory")
#endif

#define STOP_GRACE_NS 2000000000LL /* threads must unwind this soon after a stop */
#define WATCH_NS 10000000LL        /* the watchdog looks every 10 ms */
#define LEAD_NS 300000LL           /* time 0 is this far after the round starts: every thread is waiting by then */

enum { W_OUT = 0, W_BUSY, W_IDLE, W_DONE };

typedef struct wthread {
	int tid;
	pthread_t pt;
	pthread_cond_t cv;
	jmp_buf top;      /* the top of the pool loop */
	unsigned epoch;   /* the last round it joined */
	/* under S.m */
	int state;
	int rq[QF_MAX_TASKS];
	int rq_head, rq_len;
	int64_t busy_since; /* ns since the round began; -1 while idle */
	int64_t busy_cpu;   /* its CPU time when its task began; -1 not timed */
	clockid_t cpu_clock;
	/* the thread's own */
	int in_core;      /* it holds S.m */
	const qf_lock_t *held[16];
	int nheld;
	const qf_lock_t *waiting; /* the lock it spins on (read by the watchdog) */
	int request;
	int last_label;
	int spin_label;   /* its last qf_yield since it left idle, -1 none */
	int last_stamp;   /* qf_step() */
	int64_t steps;
	uint64_t rng;
	uint64_t nev;
	qfs_event ring[QFS_RING];
} __attribute__((aligned(64))) wthread;

typedef struct task {
	int thread;
	int request;
	uint32_t expire;
	int queued;
} task;

static struct {
	pthread_mutex_t m;    /* run queues, timers, idle count, quiescence */
	pthread_mutex_t vm;   /* the verdict (never held while taking S.m) */
	pthread_mutex_t ctl_m;
	pthread_cond_t ctl;   /* the caller waits here for the round to end (under ctl_m) */
	const qf_target *target;
	uint32_t variant;
	int nthreads;
	unsigned epoch;
	int running;          /* a round is on: qf_now counts */
	int64_t t0;           /* CLOCK_MONOTONIC ns at the start of the round */
	int64_t unit_ns;
	uint64_t noise_p;     /* noise probability scaled to 2^32 */
	int64_t noise_ns;
	int stopping;         /* atomic: a verdict (or the watchdog) ended the round */
	int over;             /* the round ended normally */
	int nidle;
	int nreturned;        /* atomic: threads back in the pool */
	int quiet_checked;    /* quiescent() already ran since the last thread went idle */
	int failed;
	qf_verdict verdict;
	int64_t fail_ns, stop_ns;
	task tasks[QF_MAX_TASKS];
	int ntasks;
	int quiescing;        /* a thread runs quiescent/finish: no other thread moves */
	int hook_thread;
	int64_t hook_since;   /* when that began, -1 none */
	int64_t hook_cpu;     /* that thread's CPU time then, -1 none (for the watchdog) */
	int in_hook;          /* the caller runs quiescent/finish itself */
	jmp_buf hook_top;
} S = {.m = PTHREAD_MUTEX_INITIALIZER, .vm = PTHREAD_MUTEX_INITIALIZER, .ctl_m = PTHREAD_MUTEX_INITIALIZER};

static wthread T[QF_MAX_THREADS];
static int pool_size;
static int wedged;
static pthread_mutex_t round_mutex = PTHREAD_MUTEX_INITIALIZER;
static __thread wthread *self;

/* ---- clock --------------------------------------------------------------- */

static inline int64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static inline int64_t rel_ns(void)
{
	return mono_ns() - S.t0;
}

/* The watchdog counts CPU time, as HAProxy's does: on a loaded machine a
 * thread may wait for a CPU for a long while without being stuck. */
static int64_t cpu_ns(clockid_t c)
{
	struct timespec ts;
	if (clock_gettime(c, &ts))
		return -1;
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* qf_step(): a time stamp (16 ns ticks) rather than a counter, so that the
 * target's cross-thread "which came last" comparisons stay meaningful
 * without a shared counter every schedule point would contend on. */
static inline int stamp_of(int64_t ns)
{
	int64_t s = ns >> 4;
	if (s < 0)
		return 0;
	return s > 0x7fffffff ? 0x7fffffff : (int)s;
}

static struct timespec abs_deadline(int64_t rel)
{
	int64_t a = S.t0 + rel;
	struct timespec ts = {(time_t)(a / 1000000000LL), (long)(a % 1000000000LL)};
	return ts;
}

/* ---- events and noise ------------------------------------------------------ */

static inline void record(wthread *t, int kind, int label, int value)
{
	int64_t ns = rel_ns();
	qfs_event *e = &t->ring[t->nev++ & (QFS_RING - 1)];
	e->ns = ns;
	e->label = label;
	e->value = value;
	e->request = (int16_t)t->request;
	e->thread = (uint8_t)t->tid;
	e->kind = (uint8_t)kind;
	if (kind == QF_EV_OP) {
		t->last_label = label;
		t->last_stamp = stamp_of(ns);
	}
}

static inline uint64_t rnd(wthread *t)
{
	/* xorshift64* */
	t->rng ^= t->rng >> 12;
	t->rng ^= t->rng << 25;
	t->rng ^= t->rng >> 27;
	return t->rng * 0x2545F4914F6CDD1DULL;
}

static void noise(wthread *t)
{
	if ((rnd(t) >> 32) >= S.noise_p)
		return;
	int64_t end = mono_ns() + (int64_t)(rnd(t) % (uint64_t)(S.noise_ns + 1));
	while (mono_ns() < end)
		cpu_relax();
}

static void unwind(wthread *t) __attribute__((noreturn));
static void unwind(wthread *t)
{
	if (t->in_core) {
		t->in_core = 0;
		pthread_mutex_unlock(&S.m);
	}
	t->waiting = 0;
	longjmp(t->top, 1);
}

/* Before an operation takes effect: leave if the round is stopping, then
 * maybe spin (the noise).  NULL when called outside the round's threads. */
static inline wthread *pre(void)
{
	wthread *t = self;
	if (!t)
		return 0;
	if (__atomic_load_n(&S.stopping, __ATOMIC_RELAXED))
		unwind(t);
	t->steps++;
	if (S.noise_p)
		noise(t);
	return t;
}

static inline void post(wthread *t, int label, int value)
{
	if (t)
		record(t, QF_EV_OP, label, value);
}

/* ---- verdicts ----------------------------------------------------------------- */

static void wake_all_locked(void)
{
	for (int i = 0; i < S.nthreads; i++)
		pthread_cond_broadcast(&T[i].cv);
}

/* The first verdict wins; every thread is told to stop.  S.stopping is raised
 * before S.m is taken, so a thread that keeps S.m busy lets go of it soon. */
static void stop(const qf_verdict *v, int have_m)
{
	pthread_mutex_lock(&S.vm);
	if (!S.failed) {
		S.failed = 1;
		S.verdict = *v;
		S.fail_ns = rel_ns();
	}
	if (!__atomic_load_n(&S.stopping, __ATOMIC_RELAXED)) {
		S.stop_ns = rel_ns();
		__atomic_store_n(&S.stopping, 1, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&S.vm);
	if (!have_m)
		pthread_mutex_lock(&S.m);
	wake_all_locked(); /* under S.m: no thread is between its check and its wait */
	if (!have_m)
		pthread_mutex_unlock(&S.m);
}

void qf_verdict_init(qf_verdict *v, int kind)
{
	memset(v, 0, sizeof *v);
	v->kind = kind;
	v->request = v->object = -1;
	v->label_a = v->label_b = v->step_a = v->step_b = v->thread_a = v->thread_b = -1;
	v->t_from = v->t_at = qf_now();
}

void qf_fail(const qf_verdict *v)
{
	wthread *t = self;
	stop(v, t && t->in_core);
	if (!t) {
		if (S.in_hook)
			longjmp(S.hook_top, 1);
		return; /* outside any round (a target calling it from setup): recorded only */
	}
	record(t, QF_EV_FAIL, QF_L_FAIL, v->kind);
	unwind(t);
}

static void core_fail(wthread *t, int kind, int object, int label, const char *detail)
{
	qf_verdict v;
	qf_verdict_init(&v, kind);
	v.object = object;
	if (t) {
		v.request = t->request;
		v.thread_a = t->tid;
		v.label_a = label;
		v.step_a = t->last_stamp;
	}
	snprintf(v.detail, sizeof v.detail, "%s", detail);
	qf_fail(&v);
}

/* ---- schedule points, locks, atomics ------------------------------------------ */

void qf_point(int label, const void *obj)
{
	(void)obj;
	post(pre(), label, 0);
}

void qf_note(int label, int value)
{
	wthread *t = self;
	if (t)
		record(t, QF_EV_NOTE, label, value);
}

void qf_yield(int label)
{
	/* a spin-loop iteration: give the CPU away, as the API asks; a spin that
	 * never ends is the watchdog's LIVELOCK, reported at this label */
	wthread *t = pre();
	if (t)
		t->spin_label = label;
	post(t, label, 0);
	sched_yield();
}

void qf_lock_init(qf_lock_t *l, int id, int rank)
{
	l->owner = -1;
	l->id = id;
	l->rank = rank;
}

static void took(wthread *t, qf_lock_t *l, int label)
{
	if (l->rank)
		for (int i = 0; i < t->nheld; i++)
			if (t->held[i]->rank && t->held[i]->rank >= l->rank) {
				char d[200];
				snprintf(d, sizeof d, "thread %d takes lock %d (rank %d) while holding lock %d (rank %d)", t->tid,
					 l->id, l->rank, t->held[i]->id, t->held[i]->rank);
				record(t, QF_EV_OP, label, l->id);
				core_fail(t, QF_LOCKORDER, l->id, label, d);
			}
	if (t->nheld < 16)
		t->held[t->nheld++] = l;
}

static inline int try_take(qf_lock_t *l, int me)
{
	int expected = -1;
	return __atomic_compare_exchange_n(&l->owner, &expected, me, 0, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED);
}

void qf_lock(qf_lock_t *l, int label)
{
	wthread *t = pre();
	if (!t) {
		l->owner = QF_MAX_THREADS; /* outside the round's threads: nobody contends */
		return;
	}
	if (__atomic_load_n(&l->owner, __ATOMIC_RELAXED) == t->tid)
		core_fail(t, QF_DEADLOCK, l->id, label, "a thread takes a lock it already holds");
	if (!try_take(l, t->tid)) {
		/* a spin lock, as HAProxy's are; yield once spinning gets long, since
		 * there may be more threads than CPUs */
		record(t, QF_EV_BLOCK, QF_L_BLOCK, l->id);
		t->last_label = label;
		__atomic_store_n(&t->waiting, l, __ATOMIC_RELAXED);
		for (unsigned i = 0;; i++) {
			if (__atomic_load_n(&S.stopping, __ATOMIC_RELAXED))
				unwind(t);
			if (__atomic_load_n(&l->owner, __ATOMIC_RELAXED) < 0 && try_take(l, t->tid))
				break;
			if (i < 128)
				cpu_relax();
			else
				sched_yield();
		}
		__atomic_store_n(&t->waiting, 0, __ATOMIC_RELAXED);
	}
	took(t, l, label);
	post(t, label, l->id);
}

int qf_trylock(qf_lock_t *l, int label)
{
	wthread *t = pre();
	if (!t) {
		l->owner = QF_MAX_THREADS;
		return 1;
	}
	if (!try_take(l, t->tid)) {
		post(t, label, 0);
		return 0;
	}
	took(t, l, label);
	post(t, label, 1);
	return 1;
}

void qf_unlock(qf_lock_t *l, int label)
{
	wthread *t = pre();
	if (!t) {
		l->owner = -1;
		return;
	}
	if (__atomic_load_n(&l->owner, __ATOMIC_RELAXED) != t->tid)
		core_fail(t, QF_SAFETY, l->id, label, "a thread releases a lock it does not hold");
	for (int i = t->nheld - 1; i >= 0; i--)
		if (t->held[i] == l) {
			memmove(&t->held[i], &t->held[i + 1], sizeof(t->held[0]) * (size_t)(t->nheld - i - 1));
			t->nheld--;
			break;
		}
	__atomic_store_n(&l->owner, -1, __ATOMIC_SEQ_CST);
	post(t, label, l->id);
}

long qf_load(const long *p, int label)
{
	wthread *t = pre();
	long v = __atomic_load_n(p, __ATOMIC_SEQ_CST);
	post(t, label, (int)v);
	return v;
}

void qf_store(long *p, long v, int label)
{
	wthread *t = pre();
	__atomic_store_n(p, v, __ATOMIC_SEQ_CST);
	post(t, label, (int)v);
}

long qf_add(long *p, long delta, int label)
{
	wthread *t = pre();
	long v = __atomic_add_fetch(p, delta, __ATOMIC_SEQ_CST);
	post(t, label, (int)v);
	return v;
}

int qf_cas(long *p, long expected, long desired, int label)
{
	wthread *t = pre();
	int ok = __atomic_compare_exchange_n(p, &expected, desired, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
	post(t, label, ok);
	return ok;
}

long qf_xchg(long *p, long v, int label)
{
	wthread *t = pre();
	long old = __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST);
	post(t, label, (int)old);
	return old;
}

/* ---- tasks and time ------------------------------------------------------------------ */

/* S.m for a call that may come from inside the core (a hook) or outside. */
static int lock_core(void)
{
	wthread *t = self;
	if ((t && t->in_core) || S.in_hook)
		return 0;
	pthread_mutex_lock(&S.m);
	return 1;
}

int qf_task_new(int thread, int request)
{
	if (thread < 0 || thread >= QF_MAX_THREADS)
		return -1;
	int locked = lock_core();
	int id = -1;
	if (S.ntasks < QF_MAX_TASKS) {
		id = S.ntasks++;
		S.tasks[id] = (task){thread, request, QF_ETERNITY, 0};
	}
	if (locked)
		pthread_mutex_unlock(&S.m);
	return id;
}

void qf_task_schedule(int tk, uint32_t when)
{
	int locked = lock_core();
	S.tasks[tk].expire = when;
	int owner = S.tasks[tk].thread;
	if (S.running && owner < S.nthreads && T[owner].state == W_IDLE)
		pthread_cond_signal(&T[owner].cv); /* its earliest timer changed */
	if (locked)
		pthread_mutex_unlock(&S.m);
}

/* Make a task runnable; a waker takes an idle owner out of the idle count
 * itself, so quiescence is never seen while a wake-up is in flight. */
static void enqueue_locked(int tk)
{
	task *k = &S.tasks[tk];
	if (k->queued)
		return;
	k->queued = 1;
	wthread *o = &T[k->thread];
	o->rq[(o->rq_head + o->rq_len) % QF_MAX_TASKS] = tk;
	o->rq_len++;
	if (o->state == W_IDLE) {
		o->state = W_BUSY;
		o->busy_since = rel_ns();
		o->busy_cpu = -1;
		S.nidle--;
		S.quiet_checked = 0;
	}
	pthread_cond_signal(&o->cv);
}

void qf_wake(int tk, int label)
{
	wthread *t = pre();
	int locked = lock_core();
	if (S.running)
		enqueue_locked(tk);
	if (locked)
		pthread_mutex_unlock(&S.m);
	post(t, label, tk);
}

static void fire_due_locked(wthread *t)
{
	int64_t now = rel_ns();
	for (int i = 0; i < S.ntasks; i++) {
		task *k = &S.tasks[i];
		if (k->thread == t->tid && k->expire != QF_ETERNITY && now >= (int64_t)k->expire * S.unit_ns) {
			k->expire = QF_ETERNITY;
			if (t->state == W_IDLE) { /* its own timer: it leaves idle itself */
				t->state = W_BUSY;
				t->busy_since = now;
				t->busy_cpu = -1;
				S.nidle--;
				S.quiet_checked = 0;
			}
			enqueue_locked(i);
			record(t, QF_EV_TIMER, QF_L_TIMER, i);
		}
	}
}

static int timers_left_locked(void)
{
	for (int i = 0; i < S.ntasks; i++)
		if (S.tasks[i].expire != QF_ETERNITY && S.tasks[i].thread < S.nthreads &&
		    T[S.tasks[i].thread].state != W_DONE)
			return 1;
	return 0;
}

/* The last thread went idle: run the oracle; end the round if nothing is
 * left.  Called and returns with S.m held, but runs the target's hooks
 * without it, so that a hook that never returns (a target whose state a data
 * race corrupted) cannot take the watchdog down with it; S.quiescing keeps
 * every other thread idle meanwhile. */
static void quiescent_locked(wthread *t)
{
	S.quiescing = 1;
	S.hook_thread = t->tid;
	S.hook_since = rel_ns();
	S.hook_cpu = cpu_ns(CLOCK_THREAD_CPUTIME_ID);
	t->in_core = 0;
	pthread_mutex_unlock(&S.m);
	if (S.target->quiescent)
		S.target->quiescent(); /* may qf_fail: it unwinds this thread */
	pthread_mutex_lock(&S.m);
	t->in_core = 1;
	S.quiet_checked = 1;
	if (!timers_left_locked()) {
		S.hook_since = rel_ns();
		S.hook_cpu = cpu_ns(CLOCK_THREAD_CPUTIME_ID);
		t->in_core = 0;
		pthread_mutex_unlock(&S.m);
		if (S.target->finish)
			S.target->finish();
		pthread_mutex_lock(&S.m);
		t->in_core = 1;
		S.over = 1;
	}
	S.quiescing = 0;
	S.hook_since = S.hook_cpu = -1;
	wake_all_locked();
}

int qf_task_next(void)
{
	wthread *t = self;
	if (!t)
		return -1;
	if (t->nheld)
		core_fail(t, QF_SAFETY, t->held[0]->id, QF_L_RUN, "a thread went back to its event loop holding a lock");
	pre();
	pthread_mutex_lock(&S.m);
	t->in_core = 1;
	for (;;) {
		if (__atomic_load_n(&S.stopping, __ATOMIC_RELAXED))
			unwind(t);
		if (S.over) {
			t->in_core = 0;
			pthread_mutex_unlock(&S.m);
			return -1;
		}
		if (S.quiescing) { /* the oracle is looking: nobody moves, not even a timer */
			pthread_cond_wait(&t->cv, &S.m);
			continue;
		}
		fire_due_locked(t);
		if (t->rq_len)
			break;
		if (t->state != W_IDLE) {
			t->state = W_IDLE;
			t->busy_since = t->busy_cpu = -1;
			t->spin_label = -1;
			t->request = -1;
			S.nidle++;
			record(t, QF_EV_NOTE, QF_L_IDLE, 0);
		}
		if (S.nidle == S.nthreads && !S.quiet_checked) {
			quiescent_locked(t);
			continue;
		}
		uint32_t next = QF_ETERNITY;
		for (int i = 0; i < S.ntasks; i++)
			if (S.tasks[i].thread == t->tid && S.tasks[i].expire < next)
				next = S.tasks[i].expire;
		if (next == QF_ETERNITY) {
			pthread_cond_wait(&t->cv, &S.m);
		} else {
			struct timespec ts = abs_deadline((int64_t)next * S.unit_ns);
			pthread_cond_timedwait(&t->cv, &S.m, &ts);
		}
	}
	if (t->state == W_IDLE) { /* defensive: whoever queued the task already did this */
		S.nidle--;
		S.quiet_checked = 0;
	}
	t->state = W_BUSY;
	t->busy_since = rel_ns(); /* the watchdog times each task on its own */
	t->busy_cpu = cpu_ns(CLOCK_THREAD_CPUTIME_ID);
	int tk = t->rq[t->rq_head];
	t->rq_head = (t->rq_head + 1) % QF_MAX_TASKS;
	t->rq_len--;
	S.tasks[tk].queued = 0;
	t->request = S.tasks[tk].request;
	t->in_core = 0;
	pthread_mutex_unlock(&S.m);
	record(t, QF_EV_OP, QF_L_RUN, tk);
	return tk;
}

uint32_t qf_now(void)
{
	if (!S.running)
		return 0;
	int64_t ns = rel_ns();
	if (ns < 0)
		return 0;
	int64_t u = ns / S.unit_ns;
	return u >= (int64_t)QF_ETERNITY ? QF_ETERNITY - 1 : (uint32_t)u;
}

int qf_self(void)
{
	return self ? self->tid : -1;
}

int qf_step(void)
{
	return self ? self->last_stamp : stamp_of(rel_ns());
}

int qf_variant_has(uint32_t bit)
{
	return (S.variant & bit) != 0;
}

/* ---- the pool and the round -------------------------------------------------------- */

static void *worker_main(void *arg)
{
	wthread *t = arg;
	self = t;
	prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL); /* wake at the timer, not up to 50 us late */
	for (;;) {
		pthread_mutex_lock(&S.m);
		while (t->epoch == S.epoch || t->tid >= S.nthreads)
			pthread_cond_wait(&t->cv, &S.m);
		t->epoch = S.epoch;
		pthread_mutex_unlock(&S.m);
		t->in_core = 0;
		volatile int returned = 0;
		if (!setjmp(t->top)) {
			S.target->thread_main(t->tid);
			returned = 1;
		}
		pthread_mutex_lock(&S.m);
		if (returned && !S.over && !__atomic_load_n(&S.stopping, __ATOMIC_RELAXED)) {
			/* the body returned early: it can never run again this round,
			 * so it counts as idle; let an idle thread look again */
			if (t->state != W_IDLE)
				S.nidle++;
			S.quiet_checked = 0;
			wake_all_locked();
		}
		__atomic_store_n(&t->state, W_DONE, __ATOMIC_RELAXED);
		__atomic_store_n(&t->busy_since, -1, __ATOMIC_RELAXED);
		__atomic_store_n(&t->busy_cpu, -1, __ATOMIC_RELAXED);
		int last = __atomic_add_fetch(&S.nreturned, 1, __ATOMIC_RELEASE) == S.nthreads;
		pthread_mutex_unlock(&S.m);
		if (last) {
			pthread_mutex_lock(&S.ctl_m);
			pthread_cond_signal(&S.ctl);
			pthread_mutex_unlock(&S.ctl_m);
		}
	}
	return NULL;
}

static int grow_pool(int n)
{
	while (pool_size < n) {
		wthread *t = &T[pool_size];
		memset(t, 0, sizeof *t);
		t->tid = pool_size;
		t->epoch = S.epoch;
		pthread_condattr_t ca;
		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&t->cv, &ca);
		pthread_condattr_destroy(&ca);
		pthread_attr_t attr;
		pthread_attr_init(&attr);
		pthread_attr_setstacksize(&attr, 512 * 1024);
		int rc = pthread_create(&t->pt, &attr, worker_main, t);
		pthread_attr_destroy(&attr);
		if (rc) {
			errno = rc;
			return -1;
		}
		pthread_getcpuclockid(t->pt, &t->cpu_clock);
		pool_size++;
	}
	return 0;
}

static uint64_t mix64(uint64_t x)
{
	x += 0x9E3779B97F4A7C15ULL;
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
	x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
	return x ^ (x >> 31);
}

/* The watchdog: a task or an oracle hook using too much CPU time, or a
 * round running too long.  It reads the threads' state without S.m
 * (atomically, word by word), as a thread looping through qf_wake may keep
 * S.m busy. */
static void watchdog(const qfs_args *a, int64_t now)
{
	if (__atomic_load_n(&S.stopping, __ATOMIC_RELAXED))
		return;
	int64_t hook = __atomic_load_n(&S.hook_cpu, __ATOMIC_RELAXED);
	int ht = __atomic_load_n(&S.hook_thread, __ATOMIC_RELAXED);
	if (__atomic_load_n(&S.quiescing, __ATOMIC_RELAXED) && hook >= 0 && cpu_ns(T[ht].cpu_clock) - hook >= a->hang_ns) {
		qf_verdict v;
		qf_verdict_init(&v, QF_LIVELOCK);
		v.thread_a = ht;
		snprintf(v.detail, sizeof v.detail,
			 "the target's quiescent/finish oracle did not return within %.1f s (is its state corrupt?)",
			 (double)(now - __atomic_load_n(&S.hook_since, __ATOMIC_RELAXED)) / 1e9);
		stop(&v, 0);
		return;
	}
	for (int i = 0; i < S.nthreads; i++) {
		wthread *t = &T[i];
		int64_t cpu0 = __atomic_load_n(&t->busy_cpu, __ATOMIC_RELAXED);
		if (__atomic_load_n(&t->state, __ATOMIC_RELAXED) != W_BUSY || cpu0 < 0)
			continue;
		int64_t used = cpu_ns(t->cpu_clock) - cpu0;
		if (used < a->hang_ns)
			continue;
		qf_verdict v;
		qf_verdict_init(&v, QF_LIVELOCK);
		v.thread_a = i;
		v.request = __atomic_load_n(&t->request, __ATOMIC_RELAXED);
		v.step_a = __atomic_load_n(&t->last_stamp, __ATOMIC_RELAXED);
		int spin = __atomic_load_n(&t->spin_label, __ATOMIC_RELAXED);
		double cpu = (double)used / 1e9, wall = (double)(now - __atomic_load_n(&t->busy_since, __ATOMIC_RELAXED)) / 1e9;
		const qf_lock_t *l = __atomic_load_n(&t->waiting, __ATOMIC_RELAXED);
		if (l) {
			int owner = __atomic_load_n(&l->owner, __ATOMIC_RELAXED);
			v.kind = QF_DEADLOCK;
			v.label_a = __atomic_load_n(&t->last_label, __ATOMIC_RELAXED);
			v.object = l->id;
			v.thread_b = owner;
			if (owner >= 0 && owner < S.nthreads) {
				v.label_b = __atomic_load_n(&T[owner].last_label, __ATOMIC_RELAXED);
				v.step_b = __atomic_load_n(&T[owner].last_stamp, __ATOMIC_RELAXED);
			}
			snprintf(v.detail, sizeof v.detail,
				 "thread %d spun %.3f s of CPU (%.3f s) waiting for lock %d held by thread %d", i, cpu, wall,
				 l->id, owner);
		} else {
			v.label_a = spin >= 0 ? spin : __atomic_load_n(&t->last_label, __ATOMIC_RELAXED);
			snprintf(v.detail, sizeof v.detail,
				 "thread %d used %.3f s of CPU (%.3f s) without going back to its event loop%s", i, cpu, wall,
				 spin >= 0 ? " (a spin loop)" : "");
		}
		stop(&v, 0);
		return;
	}
	if (now >= a->limit_ns) {
		qf_verdict v;
		qf_verdict_init(&v, QF_LIVELOCK);
		snprintf(v.detail, sizeof v.detail, "the round did not end within %.1f s", (double)a->limit_ns / 1e9);
		stop(&v, 0);
	}
}

int qfs_round(const qfs_args *a, qfs_result *r)
{
	memset(r, 0, sizeof *r);
	r->detect_ns = -1;
	if (a->unit_ns < 1 || a->hang_ns < 1 || a->limit_ns < 1 || a->noise < 0 || a->noise > 1 || a->noise_ns < 0) {
		snprintf(r->error, sizeof r->error, "bad stress settings");
		return -1;
	}
	pthread_mutex_lock(&round_mutex);
	if (wedged) {
		snprintf(r->error, sizeof r->error, "a thread of an earlier round never stopped; start a new process");
		r->wedged = 1;
		pthread_mutex_unlock(&round_mutex);
		return -1;
	}
	static int inited;
	if (!inited) {
		pthread_condattr_t ca;
		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&S.ctl, &ca);
		pthread_condattr_destroy(&ca);
		inited = 1;
	}
	/* setup runs here, before any worker looks at the state */
	S.target = a->target;
	S.variant = a->variant;
	S.running = 0;
	S.ntasks = 0;
	int n = a->target->setup(a->workload, a->nworkload, a->variant, r->error, sizeof r->error);
	if (n < 1 || n > QF_MAX_THREADS) {
		if (!r->error[0])
			snprintf(r->error, sizeof r->error, "target set up %d threads (1..%d allowed)", n, QF_MAX_THREADS);
		pthread_mutex_unlock(&round_mutex);
		return -1;
	}
	for (int i = 0; i < S.ntasks; i++)
		if (S.tasks[i].thread >= n) {
			snprintf(r->error, sizeof r->error, "task %d belongs to thread %d of %d", i, S.tasks[i].thread, n);
			pthread_mutex_unlock(&round_mutex);
			return -1;
		}
	pthread_mutex_lock(&S.m);
	if (grow_pool(n) < 0) {
		snprintf(r->error, sizeof r->error, "cannot create threads: %s", strerror(errno));
		pthread_mutex_unlock(&S.m);
		pthread_mutex_unlock(&round_mutex);
		return -1;
	}
	S.nthreads = n;
	S.unit_ns = a->unit_ns;
	S.noise_p = (uint64_t)(a->noise * 4294967296.0);
	S.noise_ns = a->noise_ns;
	S.stopping = 0;
	S.over = 0;
	S.failed = 0;
	S.nidle = 0;
	S.nreturned = 0;
	S.quiet_checked = 0;
	S.quiescing = 0;
	S.hook_since = S.hook_cpu = -1;
	S.in_hook = 0;
	qf_verdict_init(&S.verdict, QF_OK);
	for (int i = 0; i < n; i++) {
		wthread *t = &T[i];
		t->state = W_BUSY;
		t->busy_since = -LEAD_NS;
		t->busy_cpu = -1;
		t->rq_head = t->rq_len = 0;
		t->nheld = 0;
		t->waiting = 0;
		t->request = -1;
		t->last_label = -1;
		t->spin_label = -1;
		t->last_stamp = 0;
		t->steps = 0;
		t->nev = 0;
		t->rng = mix64(a->seed * 0x100000001B3ULL + (uint64_t)i) | 1;
	}
	/* time 0 a little ahead, so that the timers due at 0 do not fire while
	 * threads are still waking up: simultaneous in the workload stays
	 * simultaneous up to the timer latency */
	S.t0 = mono_ns() + LEAD_NS;
	S.running = 1;
	S.epoch++;
	for (int i = 0; i < n; i++)
		pthread_cond_signal(&T[i].cv);
	pthread_mutex_unlock(&S.m);

	pthread_mutex_lock(&S.ctl_m);
	while (__atomic_load_n(&S.nreturned, __ATOMIC_ACQUIRE) < n) {
		struct timespec ts = abs_deadline(rel_ns() + WATCH_NS);
		pthread_cond_timedwait(&S.ctl, &S.ctl_m, &ts);
		int64_t now = rel_ns();
		watchdog(a, now);
		if (__atomic_load_n(&S.stopping, __ATOMIC_ACQUIRE) && __atomic_load_n(&S.nreturned, __ATOMIC_ACQUIRE) < n &&
		    now - S.stop_ns > STOP_GRACE_NS) {
			wedged = 1; /* a thread runs on without reaching a schedule point */
			break;
		}
	}
	pthread_mutex_unlock(&S.ctl_m);
	if (!wedged && !S.over && !S.stopping) {
		/* every thread body returned early: the oracle runs here */
		S.in_hook = 1;
		if (!setjmp(S.hook_top)) {
			if (S.target->quiescent)
				S.target->quiescent();
			if (S.target->finish)
				S.target->finish();
		}
		S.in_hook = 0;
	}
	pthread_mutex_lock(&S.vm);
	r->verdict = S.verdict;
	r->detect_ns = S.failed ? S.fail_ns : -1;
	pthread_mutex_unlock(&S.vm);
	r->nthreads = n;
	r->ns = rel_ns();
	r->end_time = qf_now();
	for (int i = 0; i < n; i++)
		r->steps += T[i].steps;
	r->wedged = wedged;
	if (wedged)
		snprintf(r->error, sizeof r->error, "a thread did not stop within %.0f s of the verdict", STOP_GRACE_NS / 1e9);
	else
		S.running = 0;
	pthread_mutex_unlock(&round_mutex);
	return 0;
}

static int by_time(const void *x, const void *y)
{
	const qfs_event *a = x, *b = y;
	if (a->ns != b->ns)
		return a->ns < b->ns ? -1 : 1;
	return (int)a->thread - (int)b->thread;
}

int qfs_events(qfs_event *out, int max)
{
	pthread_mutex_lock(&round_mutex);
	int64_t horizon = 0; /* before it, some thread's ring has been overwritten */
	for (int i = 0; i < S.nthreads; i++)
		if (T[i].nev > QFS_RING) {
			int64_t oldest = T[i].ring[T[i].nev & (QFS_RING - 1)].ns;
			if (oldest > horizon)
				horizon = oldest;
		}
	int n = 0;
	for (int i = 0; i < S.nthreads; i++) {
		uint64_t from = T[i].nev > QFS_RING ? T[i].nev - QFS_RING : 0;
		for (uint64_t j = from; j < T[i].nev && n < max; j++) {
			const qfs_event *e = &T[i].ring[j & (QFS_RING - 1)];
			if (e->ns >= horizon)
				out[n++] = *e;
		}
	}
	qsort(out, (size_t)n, sizeof *out, by_time);
	pthread_mutex_unlock(&round_mutex);
	return n;
}
