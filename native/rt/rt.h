/* rt.h - the runtime that runs an unmodified C program under the core.
 *
 * A program is built by harness/program/build.py into prog.so: gcc's
 * -fsanitize=thread instrumentation turns every atomic operation into a
 * __tsan_* call (atomics.c), and -Wl,--wrap=<name> turns every call that
 * blocks, wakes, tells time, allocates or opens into __wrap_<name>
 * (threads.c, sync.c, futex.c, time.c, heap.c, fds.c, proc.c).  Each of
 * those is a schedule point of the core (native/core.c), on the core's
 * threads and virtual clock.  program.c loads prog.so, snapshots its
 * writable state and restores it before every execution.  README.md in this
 * folder is the contract (wrap list, flags, verdicts, reset rules).
 */
#ifndef QF_RT_H
#define QF_RT_H

#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>

#include "../core.h"

/* Trace labels of programs, in this order (rt_labels in program.c). */
enum rt_label {
	RL_START, RL_EXIT, RL_CREATE, RL_JOIN, RL_DETACH,
	RL_LOCK, RL_TRYLOCK, RL_UNLOCK,
	RL_COND_WAIT, RL_COND_SIGNAL, RL_COND_BROADCAST,
	RL_RDLOCK, RL_WRLOCK, RL_RWUNLOCK,
	RL_SPIN_LOCK, RL_SPIN_UNLOCK,
	RL_SEM_WAIT, RL_SEM_POST,
	RL_FUTEX_WAIT, RL_FUTEX_WAKE,
	RL_LOAD, RL_STORE, RL_RMW, RL_CAS, RL_SPIN_LOAD,
	RL_YIELD, RL_CLOCK, RL_SLEEP,
	RL_ONCE, RL_BARRIER,
	RL_READ, RL_WRITE,
	RL_PROC_EXIT, RL_BLOCKING, RL_STATE, RL_REQUEST,
	RL_N
};

/* What a waiting thread waits for (the lost wake-up / deadlock oracle). */
enum rt_wait { W_NONE, W_LOCK, W_JOIN, W_ONCE, W_FUTEX, W_COND, W_SEM, W_BARRIER, W_SLEEP };

/* Lost wake-up path numbers (qf_verdict.path of QF_STUCK). */
enum { RT_PATH_DEADLINE = 1, RT_PATH_LOST_WAKEUP = 2 };

#define RT_MAX_KEYS 64
#define RT_MAX_PROGRAMS 32
#define RT_HORIZON (QF_ETERNITY - 1)

typedef struct rt_thread {
	/* life */
	void *(*start)(void *);
	void *arg;
	void *ret;
	int started, finished, detached, joined;
	jmp_buf exit_jb;
	/* waiting */
	const void *wobj;
	int wkind;
	unsigned wseq;
	int woken;
	uint32_t wbits;
	int wstep, wlabel;
	int wtimed;      /* the wait has a deadline (a timer can end it) */
	uint64_t wsite;  /* its call site (an offset into prog.so, as qf_rt_site) */
	uint64_t wcaller; /* the call site of the function that made it (rt_caller_site) */
	void *stack_top; /* thread_main's frame: every frame of the program is below it */
	/* spin detection */
	uint64_t last_site, last_val;
	long work;       /* real operations by this thread */
	long spin_snap;  /* others' real operations at its previous spin */
	long own_snap;   /* its own, then */
	uint64_t spin_site[4]; /* call sites of its spins since its last wait */
	int nspin_sites, spun, repeats;
	/* pthread keys */
	void *spec[RT_MAX_KEYS];
} rt_thread;

typedef struct rt_segment {
	char *addr;
	size_t len;
	char *copy;
} rt_segment;

typedef struct rt_program {
	qf_target target;
	char name[64];
	char path[4096];
	void *handle;
	int (*main)(int, char **, char **);
	uintptr_t base;
	rt_segment seg[8];
	int nseg;
	/* TLS: the init image and each pool thread's block (cached) */
	const char *tls_image;
	size_t tls_filesz, tls_memsz;
	void *tls_block[QF_MAX_THREADS];
	/* heap arena (heap.c) */
	char *arena, *bump, *high;
	size_t arena_len;
	char *arena_base;      /* bump at the snapshot: blocks the constructors made */
	char *arena_copy;      /* their contents at the snapshot */
	void *free0[32];       /* free lists at the snapshot */
	void *freel[32];
	int race;              /* plain loads and stores are schedule points too */
	int fork;              /* reset by a forked child per execution */
	uintptr_t span;        /* bytes from base to the end of its last segment */
	char reset_why[200];
} rt_program;

typedef struct rt_wake {
	const void *obj;
	int step, thread, label;
	uint64_t site, caller;
} rt_wake;

struct rt_state {
	rt_program *prog;      /* the program running (or being loaded) */
	rt_thread th[QF_MAX_THREADS];
	int nth;
	unsigned wseq;
	long work_total;
	uint32_t quantum;
	int main_exited;
	int exiting;
	int argc;
	char *argv[65];
	char argbuf[8192];
	rt_wake ring[64];
	int nring;
	void (*atexit_fn[32])(void);
	int natexit;
	int key_used[RT_MAX_KEYS];
	void (*key_dtor[RT_MAX_KEYS])(void *);
	/* output of the program to stdout/stderr (proc.c) */
	char out[4096];
	int nout;
	/* requests annotated with qfuzz.h */
	struct { long id; uint32_t deadline; int open; } req[64];
	int nreq;
	/* the call sites of the verdict's critical events A and B (0: none), and the call
	 * sites of the functions they were made in, one frame up (0: none or unknown) */
	uint64_t site_a, site_b, caller_a, caller_b;
};
extern struct rt_state R;
extern void *rt_frame[QF_MAX_THREADS]; /* per thread: the frame of the program's function in a call (rt_op) */
extern void *rt_caller_frame;          /* the same, of the wrapper running now (RA) */
extern rt_program *rt_programs[RT_MAX_PROGRAMS];
extern int rt_nprograms;

/* ---- the schedule-point helpers every wrapper uses -------------------- */

/* Inside a controlled execution (not the constructors, not Python). */
static inline int rt_on(void)
{
	return qf_self() >= 0;
}

/* Begin an operation at call site `ra` (a return address in prog.so):
 * a schedule point.  Returns the calling thread's id. */
static inline __attribute__((always_inline)) int rt_op(int label, const void *obj, int write, const void *ra)
{
	int me = qf_self();
	qf_rt_site[me] = (uint64_t)((uintptr_t)ra - R.prog->base - 1);
	rt_frame[me] = ra ? rt_caller_frame : 0; /* noted by RA: rt_caller_site reads it */
	qf_rt_point(label, obj, write);
	return me;
}

/* The operations besides atomic writes (atomics.c notes those itself) that
 * publish what the thread did: a release, a post, a wake, a barrier
 * arrival.  A load that sees again what it saw before one of them is not a
 * spin iteration (rt_published): real spin loops only read, and a thread
 * that released a lock and reads the same value again is doing new work
 * (the worker pool's producer reading the idle count once per job). */
#define RT_PUBLISHES                                                                                       \
	(1ull << RL_UNLOCK | 1ull << RL_RWUNLOCK | 1ull << RL_SPIN_UNLOCK | 1ull << RL_COND_SIGNAL |       \
	 1ull << RL_COND_BROADCAST | 1ull << RL_SEM_POST | 1ull << RL_FUTEX_WAKE | 1ull << RL_BARRIER)
_Static_assert(RL_N <= 64, "RT_PUBLISHES is a 64-bit mask");
void rt_published(int me);

/* The operation took effect; `work`: it changed shared state (spin loops
 * are told apart from progress by this). */
static inline void rt_done(int me, int label, int value, int work)
{
	qf_rt_done(label, value);
	if (work) {
		R.work_total++;
		R.th[me].work++;
		if (RT_PUBLISHES >> label & 1)
			rt_published(me);
	}
}

/* The wrapper's return address into prog.so.  It also notes the frame
 * pointer of the program's function that called the wrapper (saved in the
 * wrapper's own frame, which taking its address makes the wrapper set up),
 * read at once: the wrapper may tail-call a helper and leave its frame.
 * One thread runs at a time, so one variable is enough. */
#define RA (rt_caller_frame = *(void **)__builtin_frame_address(0), __builtin_return_address(0))

void rt_spin(int me, int label, int clock);
uint64_t rt_caller_site(int me);
int rt_wait(int me, const void *obj, int kind, uint32_t deadline, uint32_t bits, int label);
int rt_wake_n(int me, const void *obj, int kind, int n, uint32_t bits, int label);
void rt_fail(int me, int kind, int label, const char *fmt, ...) __attribute__((noreturn, format(printf, 4, 5)));
void rt_proc_exit(int me, int status) __attribute__((noreturn));
void rt_thread_finish(int me);

/* time.c */
uint32_t rt_deadline_abs(const void *abstime, int clock); /* an absolute timespec -> virtual deadline */
uint32_t rt_deadline_rel(const void *reltime);            /* a relative timespec -> virtual deadline */

/* heap.c */
int rt_heap_init(rt_program *p);
void rt_heap_snapshot(rt_program *p);
void rt_heap_reset(rt_program *p);

/* fds.c */
void rt_fds_reset(void);

/* atomics.c, proc.c */
extern int rt_race_on;
void rt_atomics_reset(void);
void rt_rand_reset(void);
void rt_capture(const char *s, size_t n);

/* program.c */
int qf_rt_load(const char *path, int race, char *err, int errlen);
const qf_target *qf_rt_target(int index);
int qf_rt_reset_kind(int index, const char **why);
const char *const *qf_rt_wraps(int *n);
const char *qf_rt_label_id(int label);
int qf_rt_output(const char **out);
void qf_rt_critical_sites(uint64_t *a, uint64_t *b, uint64_t *caller_a, uint64_t *caller_b);

/* fork.c: one execution in a forked child (reset "fork") */
int qf_rt_run_forked(const qf_run_args *a, qf_run_result *r);

/* build_info.c */
extern const int qf_rt_abi;
extern const char *const qf_rt_cflags[];
extern const char *const qf_rt_ldflags[];
extern const char *const qf_rt_ldlibs[];

#endif
