/* qf.h - the whole API a qfuzz target uses.
 *
 * A target is C code whose threads are run by the qfuzz core on real
 * pthreads, one at a time.  Every call below is a *schedule point*: before the
 * operation takes effect the core may hand the CPU to another thread, as chosen
 * by the execution's scheduler (random, PCT, POS, bytes or replay).  Shared
 * state that a real program touches with atomics or under locks must be
 * touched through these calls, so that every interleaving that matters is one
 * the scheduler can choose.
 *
 * Time is virtual.  Work arrives through *tasks*: a task belongs to one thread
 * and is woken either by another thread (qf_wake) or by its timer
 * (qf_task_schedule).  The clock only moves when no thread can run; it then
 * jumps to the earliest timer.  The points where no thread can run are
 * *quiescent points*, where the target's oracle looks at its state.
 *
 * See docs/targets.md for a walk-through.
 */
#ifndef QF_H
#define QF_H

#include <stdint.h>

#define QF_MAX_THREADS 16
#define QF_MAX_TASKS 512
#define QF_MAX_COUNTERS 40 /* key counter values recorded per trace event */
#define QF_ETERNITY UINT32_MAX

/* Verdict kinds.  OK is 0; every other value is a failure. */
enum qf_kind {
	QF_OK = 0,
	QF_STUCK = 1,     /* a request waited out its queue timeout while it could have been served */
	QF_SAFETY = 2,    /* an invariant broke (counter, queue, use after free, lock held) */
	QF_DEADLOCK = 3,  /* nothing can run, no timer left, work left (or a lock never released) */
	QF_LIVELOCK = 4,  /* step budget exceeded, or a spinning thread nobody else can unblock */
	QF_LOCKORDER = 5, /* locks taken against the declared order */
	QF_FAIL = 6,      /* programs (native/rt): non-zero exit status, abort(), a failed assert() */
	QF_BLOCKING = 7,  /* programs: a call that can block outside the runtime's control */
};

/* A failure, as reported by the core or by the target's oracle. */
typedef struct qf_verdict {
	int kind;                /* enum qf_kind */
	int path;                /* target-defined; haproxy_queue: 1 server queue, 2 backend queue */
	int request;             /* the request concerned, or -1 */
	int object;              /* the server (or other object) concerned, or -1 */
	int label_a, label_b;    /* the two critical events' labels (-1 if none) */
	int step_a, step_b;      /* the steps they happened at (-1 if none) */
	int thread_a, thread_b;  /* the threads that ran them (-1 if none) */
	uint32_t t_from;         /* virtual time the failure began (stranded at) */
	uint32_t t_at;           /* virtual time it was detected (timed out at) */
	char detail[200];        /* one human sentence */
} qf_verdict;

/* A lock under the core's control.  `rank` declares the lock order: a thread
 * may only take a lock of strictly higher rank than every lock it holds
 * (rank 0 = not checked). */
typedef struct qf_lock_t {
	int owner;   /* thread id, -1 when free */
	int id;      /* small integer naming the lock in traces */
	int rank;
} qf_lock_t;

/* What a target hands to the core (one static instance per target). */
typedef struct qf_target {
	const char *name;
	int n_labels;
	const char *const *labels;    /* label id -> description, for traces */
	const char *const *label_ids; /* label id -> stable identifier, for signatures */
	/* Build the state for one execution from the packed workload (int32
	 * array, layout owned by the target's Python descriptor).  Create tasks
	 * and arm their timers here.  Returns the number of threads (1..QF_MAX_THREADS),
	 * or -1 after writing a one-line reason into err. */
	int (*setup)(const int32_t *wl, int n, uint32_t variant, char *err, int errlen);
	/* Body of thread `tid`: typically `while ((t = qf_task_next()) >= 0) run(t);`.
	 * It is entered lazily, the first time the thread has a task. */
	void (*thread_main)(int tid);
	/* Called at each quiescent point, before the clock moves.  May call qf_fail. */
	void (*quiescent)(void);
	/* Called once when nothing is left to run and no timer is armed.  May call qf_fail. */
	void (*finish)(void);
	/* Write the key counter values (at most QF_MAX_COUNTERS) and return how many. */
	int (*snapshot)(int32_t *out);
	/* Fill in the abstract state used as coverage feedback (small integers). */
	uint32_t (*abstract_state)(void);
} qf_target;

/* ---- schedule points ---------------------------------------------------- */
void qf_point(int label, const void *obj);      /* a plain schedule point (an unlocked read of non-atomic shared state, a decision) */
void qf_note(int label, int value);             /* a trace entry only: no schedule point */
void qf_yield(int label);                       /* a spin-loop iteration: let another thread run (fairness) */

void qf_lock_init(qf_lock_t *l, int id, int rank);
void qf_lock(qf_lock_t *l, int label);
int qf_trylock(qf_lock_t *l, int label);        /* 1 if taken, 0 if held by another thread */
void qf_unlock(qf_lock_t *l, int label);

long qf_load(const long *p, int label);
void qf_store(long *p, long v, int label);
long qf_add(long *p, long delta, int label);    /* returns the new value (add-fetch) */
int qf_cas(long *p, long expected, long desired, int label);
long qf_xchg(long *p, long v, int label);       /* returns the old value */

/* ---- tasks and virtual time ------------------------------------------- */
int qf_task_new(int thread, int request);       /* returns a task id; `request` labels trace entries */
void qf_task_schedule(int task, uint32_t when); /* arm (or with QF_ETERNITY disarm) the task's timer */
void qf_wake(int task, int label);              /* schedule point, then make the task runnable */
int qf_task_next(void);                         /* next runnable task of the calling thread; blocks while none; schedule point */
uint32_t qf_now(void);
int qf_self(void);                              /* calling thread id */
int qf_step(void);                              /* number of schedule points so far */
int qf_variant_has(uint32_t bit);

/* ---- verdicts ------------------------------------------------------------ */
void qf_fail(const qf_verdict *v);              /* record the verdict and end the execution now */
void qf_verdict_init(qf_verdict *v, int kind);

#endif
