/* program.c - load prog.so, make it a core target, reset it between
 * executions, and judge how it ended.
 *
 * Loading: prog.so's undefined __tsan_* and __wrap_* symbols must resolve to
 * this runtime, which lives in harness._native.  Python loads extensions
 * RTLD_LOCAL, so the first load re-opens our own object with
 * RTLD_NOLOAD | RTLD_GLOBAL (README.md: the alternatives, measured).
 * prog.so is linked -z now, so every relocation is done once, at dlopen, and
 * restoring its writable segments never undoes a binding.
 *
 * Reset, before each execution: the writable PT_LOAD segments (minus RELRO)
 * get back the bytes they had after the constructors ran, the heap arena is
 * rewound to the constructors' blocks (heap.c), fds the program opened are
 * closed (fds.c), and each thread resets its own TLS block when it starts.
 */
#define _GNU_SOURCE
#include "rt.h"

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "wraps.h"

struct rt_state R;
void *rt_frame[QF_MAX_THREADS];
void *rt_caller_frame;
rt_program *rt_programs[RT_MAX_PROGRAMS];
int rt_nprograms;

static const char *const LABEL_IDS[RL_N] = {
	[RL_START] = "THREAD_START", [RL_EXIT] = "THREAD_EXIT", [RL_CREATE] = "PTHREAD_CREATE",
	[RL_JOIN] = "PTHREAD_JOIN", [RL_DETACH] = "PTHREAD_DETACH", [RL_LOCK] = "MUTEX_LOCK",
	[RL_TRYLOCK] = "MUTEX_TRYLOCK", [RL_UNLOCK] = "MUTEX_UNLOCK", [RL_COND_WAIT] = "COND_WAIT",
	[RL_COND_SIGNAL] = "COND_SIGNAL", [RL_COND_BROADCAST] = "COND_BROADCAST", [RL_RDLOCK] = "RWLOCK_RDLOCK",
	[RL_WRLOCK] = "RWLOCK_WRLOCK", [RL_RWUNLOCK] = "RWLOCK_UNLOCK", [RL_SPIN_LOCK] = "SPIN_LOCK",
	[RL_SPIN_UNLOCK] = "SPIN_UNLOCK", [RL_SEM_WAIT] = "SEM_WAIT", [RL_SEM_POST] = "SEM_POST",
	[RL_FUTEX_WAIT] = "FUTEX_WAIT", [RL_FUTEX_WAKE] = "FUTEX_WAKE", [RL_LOAD] = "ATOMIC_LOAD",
	[RL_STORE] = "ATOMIC_STORE", [RL_RMW] = "ATOMIC_RMW", [RL_CAS] = "ATOMIC_CAS",
	[RL_SPIN_LOAD] = "SPIN_LOAD", [RL_YIELD] = "SCHED_YIELD", [RL_CLOCK] = "CLOCK_READ",
	[RL_SLEEP] = "SLEEP", [RL_ONCE] = "PTHREAD_ONCE", [RL_BARRIER] = "BARRIER_WAIT", [RL_READ] = "READ",
	[RL_WRITE] = "WRITE", [RL_PROC_EXIT] = "EXIT", [RL_BLOCKING] = "BLOCKING_CALL", [RL_STATE] = "STATE",
	[RL_REQUEST] = "REQUEST",
};

static const char *const LABELS[RL_N] = {
	[RL_START] = "thread starts", [RL_EXIT] = "thread exits", [RL_CREATE] = "creates a thread",
	[RL_JOIN] = "joins a thread", [RL_DETACH] = "detaches a thread", [RL_LOCK] = "locks a mutex",
	[RL_TRYLOCK] = "tries a mutex", [RL_UNLOCK] = "unlocks a mutex", [RL_COND_WAIT] = "waits on a condition variable",
	[RL_COND_SIGNAL] = "signals a condition variable", [RL_COND_BROADCAST] = "broadcasts a condition variable",
	[RL_RDLOCK] = "read-locks a rwlock", [RL_WRLOCK] = "write-locks a rwlock", [RL_RWUNLOCK] = "unlocks a rwlock",
	[RL_SPIN_LOCK] = "takes a spinlock", [RL_SPIN_UNLOCK] = "releases a spinlock",
	[RL_SEM_WAIT] = "waits on a semaphore", [RL_SEM_POST] = "posts a semaphore",
	[RL_FUTEX_WAIT] = "futex wait", [RL_FUTEX_WAKE] = "futex wake", [RL_LOAD] = "atomic load",
	[RL_STORE] = "atomic store", [RL_RMW] = "atomic read-modify-write", [RL_CAS] = "atomic compare-and-swap",
	[RL_SPIN_LOAD] = "spins on an atomic load", [RL_YIELD] = "sched_yield", [RL_CLOCK] = "reads the clock",
	[RL_SLEEP] = "sleeps", [RL_ONCE] = "pthread_once", [RL_BARRIER] = "waits at a barrier",
	[RL_READ] = "plain read", [RL_WRITE] = "plain write", [RL_PROC_EXIT] = "exits the process",
	[RL_BLOCKING] = "a call that can block outside qfuzz", [RL_STATE] = "program state",
	[RL_REQUEST] = "request",
};

const char *qf_rt_label_id(int label)
{
	return label >= 0 && label < RL_N ? LABEL_IDS[label] : "?";
}

#define X(n) #n,
static const char *const WRAPS[] = {RT_WRAPS(X)};
#undef X

const char *const *qf_rt_wraps(int *n)
{
	*n = (int)(sizeof WRAPS / sizeof WRAPS[0]);
	return WRAPS;
}

/* ---- verdicts ------------------------------------------------------------ */

void rt_fail(int me, int kind, int label, const char *fmt, ...)
{
	qf_verdict v;
	qf_verdict_init(&v, kind);
	v.thread_a = me;
	v.label_a = label;
	v.step_a = qf_step();
	R.site_a = qf_rt_site[me];
	R.caller_a = rt_caller_site(me);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(v.detail, sizeof v.detail, fmt, ap);
	va_end(ap);
	qf_fail(&v);
	abort(); /* qf_fail does not return */
}

/* qf_rt_site[me]: exit()'s call site (set by the caller), 0 for main's return. */
void rt_proc_exit(int me, int status)
{
	uint64_t site = qf_rt_site[me];
	void *frame = rt_frame[me];
	rt_op(RL_PROC_EXIT, 0, 1, 0);
	qf_rt_site[me] = site;
	rt_frame[me] = frame;
	rt_done(me, RL_PROC_EXIT, status, 1);
	if (!R.exiting) {
		R.exiting = 1;
		while (R.natexit > 0) /* atexit handlers run on the exiting thread, last first */
			R.atexit_fn[--R.natexit]();
	}
	if (status != 0)
		rt_fail(me, QF_FAIL, RL_PROC_EXIT, "the program exited with status %d", status);
	qf_rt_end();
}

/* ---- waiting and waking ------------------------------------------------- */

/* Wait for rt_wake_n on (obj, kind) or the deadline.  1: woken, 0: timed out. */
int rt_wait(int me, const void *obj, int kind, uint32_t deadline, uint32_t bits, int label)
{
	rt_thread *t = &R.th[me];
	if (deadline <= qf_now())
		return 0; /* an absolute deadline already past: times out at once */
	t->wobj = obj;
	t->wkind = kind;
	t->wseq = ++R.wseq;
	t->woken = 0;
	t->wbits = bits;
	t->wstep = qf_step();
	t->wlabel = label;
	t->wtimed = deadline != QF_ETERNITY;
	t->wsite = qf_rt_site[me];
	t->wcaller = rt_caller_site(me);
	qf_rt_wait(deadline);
	t->wobj = 0;
	t->wkind = W_NONE;
	t->spun = 0;
	t->nspin_sites = 0;
	if (!t->woken && qf_now() >= RT_HORIZON)
		rt_fail(me, QF_LIVELOCK, label, "virtual time horizon (%u us) reached while waiting", RT_HORIZON);
	return t->woken;
}

/* Wake up to n waiters of (obj, kind) whose bits meet `bits`, first come
 * first served.  Returns how many. */
int rt_wake_n(int me, const void *obj, int kind, int n, uint32_t bits, int label)
{
	int woke = 0;
	if (label >= 0) {
		rt_wake *w = &R.ring[R.nring++ % 64];
		*w = (rt_wake){obj, qf_step(), me, label, qf_rt_site[me], rt_caller_site(me)};
	}
	while (woke < n) {
		int best = -1;
		for (int u = 0; u < R.nth; u++) {
			rt_thread *t = &R.th[u];
			if (t->wobj == obj && t->wkind == kind && !t->woken && (t->wbits & bits) &&
			    (best < 0 || t->wseq < R.th[best].wseq))
				best = u;
		}
		if (best < 0)
			break;
		R.th[best].woken = 1;
		qf_rt_unpark(best);
		woke++;
	}
	return woke;
}

/* A spin-loop iteration (sched_yield, a clock read, an atomic load that
 * saw nothing change): fair like qf_yield.  It repeats an earlier spin
 * when the thread spun at this call site since its last wait and no other
 * thread did real work since its previous spin.  A repeated clock read lets a quantum of time pass
 * (1 us, doubling each repeat, never past the next timer), so a polling
 * loop ends as on a real CPU.  Two repeats in a row with no work by the
 * spinner itself either mean every runnable thread only spins: the clock
 * jumps to the next timer.  Otherwise the quantum goes back to 1 us. */
void rt_spin(int me, int label, int clock)
{
	rt_thread *t = &R.th[me];
	uint64_t site = qf_rt_site[me];
	long others = R.work_total - t->work;
	int own = t->work != t->own_snap;
	int known = 0;
	for (int i = 0; i < t->nspin_sites && i < 4; i++)
		known |= t->spin_site[i] == site;
	if (!known)
		t->spin_site[t->nspin_sites++ % 4] = site;
	int repeat = known && t->spun && others == t->spin_snap;
	t->repeats = repeat && !own ? t->repeats + 1 : 0;
	if (repeat) {
		int j = qf_rt_clock_jump(clock ? R.quantum : 0, t->repeats >= 2);
		if (j == 2 && R.quantum < (1u << 30))
			R.quantum *= 2;
		else if (j == 1)
			R.quantum = 1;
		if (qf_now() >= RT_HORIZON)
			rt_fail(me, QF_LIVELOCK, label, "virtual time horizon (%u us) reached by a polling loop", RT_HORIZON);
	} else {
		R.quantum = 1;
	}
	if (!repeat || own)
		qf_rt_progress(); /* not the same spin again: no LIVELOCK count (qf_yield) */
	t->spun = 1;
	t->spin_snap = others;
	t->own_snap = t->work;
	qf_yield(label);
}

static const char *wait_name(int kind)
{
	switch (kind) {
	case W_LOCK: return "a lock";
	case W_JOIN: return "pthread_join";
	case W_ONCE: return "pthread_once";
	case W_FUTEX: return "a futex wait";
	case W_COND: return "a condition variable wait";
	case W_SEM: return "a semaphore wait";
	case W_BARRIER: return "a barrier";
	case W_SLEEP: return "a sleep";
	}
	return "nothing";
}

/* Which idle wait (futex, condvar, semaphore, barrier) is the stranded one:
 * better than `best` (-1: none yet).  An untimed wait before a timed one
 * (nothing could wake it), a thread other than main before main (main's
 * wait is usually for the workers, the consequence, not the cause), then
 * the oldest (the one that has gone unwoken longest; a wait begun later
 * is most often a consequence of the first).  README.md: "lost-wakeup". */
static int stranded_before(int u, int best)
{
	if (best < 0)
		return 1;
	const rt_thread *t = &R.th[u], *b = &R.th[best];
	if (t->wtimed != b->wtimed)
		return !t->wtimed;
	if ((u == 0) != (best == 0))
		return u != 0;
	return t->wstep < b->wstep;
}

/* Nothing can run and no timer is armed: the program ended well (every
 * thread returned after main called pthread_exit) or it hangs. */
static void rt_finish(void)
{
	int idle = -1, lock = -1, join = -1, alive = 0;
	for (int u = 0; u < R.nth; u++) {
		rt_thread *t = &R.th[u];
		if (t->finished)
			continue;
		alive++;
		if (t->wkind >= W_FUTEX) {
			if (stranded_before(u, idle))
				idle = u;
		} else if (t->wkind == W_LOCK || t->wkind == W_ONCE) {
			if (lock < 0)
				lock = u;
		} else if (t->wkind == W_JOIN && join < 0)
			join = u;
	}
	if (!alive)
		return;
	qf_verdict v;
	if (idle >= 0) {
		rt_thread *t = &R.th[idle];
		qf_verdict_init(&v, QF_STUCK);
		v.path = RT_PATH_LOST_WAKEUP;
		v.thread_a = idle;
		v.label_a = t->wlabel;
		v.step_a = t->wstep;
		R.site_a = t->wsite;
		R.caller_a = t->wcaller;
		for (int i = 1; i <= 64 && i <= R.nring; i++) {
			rt_wake *w = &R.ring[(R.nring - i) % 64];
			if (w->obj == t->wobj) {
				v.thread_b = w->thread;
				v.label_b = w->label;
				v.step_b = w->step;
				R.site_b = w->site;
				R.caller_b = w->caller;
				break;
			}
		}
		snprintf(v.detail, sizeof v.detail, "lost wake-up: thread %d waits in %s and no thread or timer can wake it",
			 idle, wait_name(t->wkind));
	} else {
		int u = lock >= 0 ? lock : join;
		rt_thread *t = &R.th[u];
		qf_verdict_init(&v, QF_DEADLOCK);
		v.thread_a = u;
		v.label_a = t->wlabel;
		v.step_a = t->wstep;
		R.site_a = t->wsite;
		R.caller_a = t->wcaller;
		snprintf(v.detail, sizeof v.detail, "deadlock: thread %d waits forever in %s", u, wait_name(t->wkind));
	}
	qf_fail(&v);
}

/* At each quiescent point: an annotated request whose deadline the clock is
 * about to pass, while every thread waits, is stuck (path "deadline"). */
static void rt_quiescent(void)
{
	if (!R.nreq)
		return;
	uint32_t next = qf_rt_next_timer();
	for (int i = 0; i < R.nreq; i++)
		if (R.req[i].open && R.req[i].deadline < next) {
			qf_verdict v;
			qf_verdict_init(&v, QF_STUCK);
			v.path = RT_PATH_DEADLINE;
			v.request = (int)R.req[i].id;
			v.t_at = R.req[i].deadline;
			/* the thread idling in a wait on a futex, condvar, semaphore or
			 * barrier (a sleep only if there is none), chosen as for a lost wake-up */
			int idle = -1;
			for (int u = 0; u < R.nth; u++) {
				const rt_thread *t = &R.th[u];
				if (t->finished || t->wkind < W_FUTEX)
					continue;
				int better = idle < 0 || (R.th[idle].wkind == W_SLEEP && t->wkind != W_SLEEP) ||
					     ((t->wkind == W_SLEEP) == (R.th[idle].wkind == W_SLEEP) && stranded_before(u, idle));
				if (better)
					idle = u;
			}
			if (idle < 0)
				continue;
			v.thread_a = idle;
			v.label_a = R.th[idle].wlabel;
			v.step_a = R.th[idle].wstep;
			R.site_a = R.th[idle].wsite;
			R.caller_a = R.th[idle].wcaller;
			snprintf(v.detail, sizeof v.detail, "request %ld passes its deadline while thread %d waits in %s",
				 R.req[i].id, idle, wait_name(R.th[idle].wkind));
			qf_fail(&v);
		}
}

/* ---- the core target of a program --------------------------------------- */

static void reset_tls(rt_program *p, int tid)
{
	if (!p->tls_memsz)
		return;
	void *b = p->tls_block[tid];
	if (!b) {
		if (dlinfo(p->handle, RTLD_DI_TLS_DATA, &b) != 0 || !b)
			return; /* not allocated yet: glibc will initialise it from the image */
		p->tls_block[tid] = b;
	}
	memcpy(b, p->tls_image, p->tls_filesz);
	memset((char *)b + p->tls_filesz, 0, p->tls_memsz - p->tls_filesz);
}

static void thread_main(int tid)
{
	qf_rt_wait(QF_ETERNITY); /* the start task pthread_create (or setup) queued */
	rt_program *p = R.prog;
	reset_tls(p, tid);
	rt_thread *t = &R.th[tid];
	t->started = 1;
	t->stack_top = __builtin_frame_address(0);
	if (!setjmp(t->exit_jb)) {
		if (tid == 0) {
			extern char **environ;
			int status = p->main(R.argc, R.argv, environ);
			qf_rt_site[0] = 0; /* main's return has no call site */
			rt_frame[0] = 0;
			rt_proc_exit(0, status);
		}
		t->ret = t->start(t->arg);
	}
	rt_thread_finish(tid);
	if (tid == 0)
		R.main_exited = 1;
}

static void reset(rt_program *p)
{
	for (int i = 0; i < p->nseg; i++)
		memcpy(p->seg[i].addr, p->seg[i].copy, p->seg[i].len);
	rt_heap_reset(p);
	rt_fds_reset();
	rt_rand_reset();
	memset(R.th, 0, sizeof R.th);
	R.nth = 1;
	R.wseq = 0;
	R.work_total = 0;
	R.quantum = 1;
	R.main_exited = R.exiting = 0;
	R.nring = 0;
	R.natexit = 0;
	memset(R.key_used, 0, sizeof R.key_used);
	R.nout = 0;
	R.nreq = 0;
	R.site_a = R.site_b = R.caller_a = R.caller_b = 0;
	memset(rt_frame, 0, sizeof rt_frame);
	rt_atomics_reset();
}

static int setup(rt_program *p, const int32_t *wl, int n, char *err, int errlen)
{
	/* workload: int32 argc, then argc NUL-terminated strings, zero padded */
	if (n < 1 || wl[0] < 1 || wl[0] > 64) {
		snprintf(err, (size_t)errlen, "program workload: argc must be 1..64");
		return -1;
	}
	size_t len = (size_t)(n - 1) * 4;
	if (len >= sizeof R.argbuf) {
		snprintf(err, (size_t)errlen, "program arguments longer than %zu bytes", sizeof R.argbuf);
		return -1;
	}
	memcpy(R.argbuf, wl + 1, len);
	R.argbuf[len] = 0;
	R.argc = wl[0];
	char *s = R.argbuf;
	for (int i = 0; i < R.argc; i++) {
		if (s >= R.argbuf + len) {
			snprintf(err, (size_t)errlen, "program workload: %d arguments announced, fewer given", R.argc);
			return -1;
		}
		R.argv[i] = s;
		s += strlen(s) + 1;
	}
	R.argv[R.argc] = 0;
	R.prog = p;
	reset(p);
	int task = qf_task_new(0, -1);
	qf_task_schedule(task, 0);
	return 1;
}

static int snapshot(int32_t *out)
{
	(void)out;
	return 0;
}

/* One setup per program slot: qf_target.setup carries no context. */
#define SETUP(i) \
	static int setup_##i(const int32_t *wl, int n, uint32_t variant, char *err, int errlen) \
	{ \
		(void)variant; \
		return setup(rt_programs[i], wl, n, err, errlen); \
	}
SETUP(0) SETUP(1) SETUP(2) SETUP(3) SETUP(4) SETUP(5) SETUP(6) SETUP(7)
SETUP(8) SETUP(9) SETUP(10) SETUP(11) SETUP(12) SETUP(13) SETUP(14) SETUP(15)
SETUP(16) SETUP(17) SETUP(18) SETUP(19) SETUP(20) SETUP(21) SETUP(22) SETUP(23)
SETUP(24) SETUP(25) SETUP(26) SETUP(27) SETUP(28) SETUP(29) SETUP(30) SETUP(31)
static int (*const SETUP_FN[RT_MAX_PROGRAMS])(const int32_t *, int, uint32_t, char *, int) = {
	setup_0, setup_1, setup_2, setup_3, setup_4, setup_5, setup_6, setup_7,
	setup_8, setup_9, setup_10, setup_11, setup_12, setup_13, setup_14, setup_15,
	setup_16, setup_17, setup_18, setup_19, setup_20, setup_21, setup_22, setup_23,
	setup_24, setup_25, setup_26, setup_27, setup_28, setup_29, setup_30, setup_31,
};

/* ---- loading -------------------------------------------------------------- */

/* Make this object's symbols (the __tsan_* and __wrap_* definitions)
 * visible to objects loaded later. */
static int export_runtime(char *err, int errlen)
{
	static int done;
	if (done)
		return 0;
	Dl_info info;
	if (!dladdr((void *)&export_runtime, &info) || !info.dli_fname) {
		snprintf(err, (size_t)errlen, "cannot find the qfuzz runtime's own file");
		return -1;
	}
	if (!dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_GLOBAL)) {
		snprintf(err, (size_t)errlen, "cannot export the qfuzz runtime: %s", dlerror());
		return -1;
	}
	done = 1;
	return 0;
}

struct phdr_find {
	uintptr_t base;
	rt_program *p;
	int found;
};

static int find_segments(struct dl_phdr_info *info, size_t size, void *data)
{
	(void)size;
	struct phdr_find *f = data;
	if (info->dlpi_addr != f->base)
		return 0;
	rt_program *p = f->p;
	uintptr_t relro_lo = 0, relro_hi = 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type == PT_GNU_RELRO) {
			relro_lo = f->base + ph->p_vaddr;
			relro_hi = (relro_lo + ph->p_memsz + 4095) & ~(uintptr_t)4095;
		}
		if (ph->p_type == PT_LOAD && ph->p_vaddr + ph->p_memsz > p->span)
			p->span = ph->p_vaddr + ph->p_memsz;
		if (ph->p_type == PT_TLS) {
			p->tls_image = (const char *)(f->base + ph->p_vaddr);
			p->tls_filesz = ph->p_filesz;
			p->tls_memsz = ph->p_memsz;
		}
	}
	for (int i = 0; i < info->dlpi_phnum && p->nseg < 8; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_W))
			continue;
		uintptr_t lo = f->base + ph->p_vaddr, hi = lo + ph->p_memsz;
		if (relro_hi > lo && relro_lo < hi) { /* RELRO is read-only after -z now: skip it */
			if (relro_lo <= lo)
				lo = relro_hi < hi ? relro_hi : hi;
			else
				hi = relro_lo;
		}
		if (hi <= lo)
			continue;
		p->seg[p->nseg++] = (rt_segment){(char *)lo, hi - lo, 0};
	}
	f->found = 1;
	return 1;
}

/* Which constructs make an in-process reset unsound: looked up in prog.so's
 * undefined dynamic symbols and its DT_NEEDED list.  "" if none. */
static void reset_blockers(rt_program *p, const struct link_map *lm)
{
	static const char *const UNRESETTABLE[] = {
		"setenv", "putenv", "unsetenv", "clearenv", "signal", "sigaction", "setlocale",
		"dlopen", "on_exit", "__cxa_thread_atexit_impl", "chdir",
		"umask", "setrlimit", "execve", "execv", "execvp", "system", "popen", "mmap", "shmget",
	};
	const ElfW(Dyn) *d = lm->l_ld;
	const char *strtab = 0;
	const ElfW(Sym) *symtab = 0;
	const uint32_t *gnuhash = 0;
	for (; d->d_tag != DT_NULL; d++) {
		if (d->d_tag == DT_STRTAB)
			strtab = (const char *)d->d_un.d_ptr;
		else if (d->d_tag == DT_SYMTAB)
			symtab = (const ElfW(Sym) *)d->d_un.d_ptr;
		else if (d->d_tag == DT_GNU_HASH)
			gnuhash = (const uint32_t *)d->d_un.d_ptr;
	}
	if (!strtab || !symtab)
		return;
	for (d = lm->l_ld; d->d_tag != DT_NULL; d++)
		if (d->d_tag == DT_NEEDED) {
			const char *lib = strtab + d->d_un.d_val;
			static const char *const OK[] = {"libc.so", "libm.so", "libpthread.so", "libdl.so", "librt.so", "ld-linux", "libgcc_s.so"};
			int ok = 0;
			for (size_t i = 0; i < sizeof OK / sizeof OK[0]; i++)
				ok |= strncmp(lib, OK[i], strlen(OK[i])) == 0;
			if (!ok) {
				snprintf(p->reset_why, sizeof p->reset_why, "it links %s, whose state cannot be restored", lib);
				return;
			}
		}
	/* the undefined symbols come first in .dynsym (before symoffset of the GNU hash) */
	uint32_t nsym = gnuhash ? gnuhash[1] : 0;
	for (uint32_t i = 1; i < nsym; i++) {
		if (symtab[i].st_shndx != SHN_UNDEF)
			continue;
		const char *name = strtab + symtab[i].st_name;
		for (size_t k = 0; k < sizeof UNRESETTABLE / sizeof UNRESETTABLE[0]; k++)
			if (!strcmp(name, UNRESETTABLE[k])) {
				snprintf(p->reset_why, sizeof p->reset_why, "it calls %s(), whose effect outlives an execution", name);
				return;
			}
	}
}

int qf_rt_load(const char *path, int race, char *err, int errlen)
{
	if (rt_nprograms >= RT_MAX_PROGRAMS) {
		snprintf(err, (size_t)errlen, "at most %d programs per process", RT_MAX_PROGRAMS);
		return -1;
	}
	for (int i = 0; i < rt_nprograms; i++)
		if (!strcmp(rt_programs[i]->path, path) && rt_programs[i]->race == race)
			return i; /* dlopen would hand back the same, already snapshotted, object */
	if (export_runtime(err, errlen) < 0)
		return -1;
	rt_program *p = calloc(1, sizeof *p);
	if (p)
		snprintf(p->path, sizeof p->path, "%s", path);
	if (!p || rt_heap_init(p) < 0) {
		free(p);
		snprintf(err, (size_t)errlen, "out of memory for the program's heap");
		return -1;
	}
	const char *slash = strrchr(path, '/');
	snprintf(p->name, sizeof p->name, "%s", slash ? slash + 1 : path);
	char *dot = strstr(p->name, ".so");
	if (dot)
		*dot = 0;
	p->race = race;
	rt_program *prev = R.prog;
	R.prog = p; /* the constructors' allocations go to its arena */
	p->handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!p->handle) {
		R.prog = prev;
		snprintf(err, (size_t)errlen, "cannot load %s: %s", path, dlerror());
		return -1;
	}
	*(void **)&p->main = dlsym(p->handle, "main");
	struct link_map *lm = 0;
	if (!p->main || dlinfo(p->handle, RTLD_DI_LINKMAP, &lm) != 0 || !lm) {
		R.prog = prev;
		snprintf(err, (size_t)errlen, "%s has no main()", path);
		return -1;
	}
	p->base = lm->l_addr;
	struct phdr_find f = {p->base, p, 0};
	dl_iterate_phdr(find_segments, &f);
	for (int i = 0; i < p->nseg; i++) {
		p->seg[i].copy = malloc(p->seg[i].len);
		memcpy(p->seg[i].copy, p->seg[i].addr, p->seg[i].len);
	}
	rt_heap_snapshot(p);
	reset_blockers(p, lm);
	p->fork = p->reset_why[0] != 0;
	int idx = rt_nprograms++;
	rt_programs[idx] = p;
	p->target = (qf_target){
		.name = p->name,
		.n_labels = RL_N,
		.labels = LABELS,
		.label_ids = LABEL_IDS,
		.setup = SETUP_FN[idx],
		.thread_main = thread_main,
		.quiescent = rt_quiescent,
		.finish = rt_finish,
		.snapshot = snapshot,
	};
	R.prog = prev ? prev : p;
	return idx;
}

const qf_target *qf_rt_target(int index)
{
	return index >= 0 && index < rt_nprograms ? &rt_programs[index]->target : 0;
}

int qf_rt_output(const char **out)
{
	*out = R.out;
	return R.nout;
}

void qf_rt_critical_sites(uint64_t *a, uint64_t *b, uint64_t *caller_a, uint64_t *caller_b)
{
	*a = R.site_a;
	*b = R.site_b;
	*caller_a = R.caller_a;
	*caller_b = R.caller_b;
}

/* The call site one frame up from the call thread `me` is in: where the
 * program's function that called the wrapper was called from (so a wait in
 * an out-of-line helper such as libuv's uv_cond_wait is told apart by its
 * caller).  Programs are built with frame pointers: that function's frame
 * (noted by RA) holds its return address.  Called on `me`'s own stack;
 * 0 when the frame is not between here and the thread's first frame, or
 * the address is not in prog.so (main and thread start functions are
 * called by the runtime). */
uint64_t rt_caller_site(int me)
{
	void **up = rt_frame[me];
	char *top = R.th[me].stack_top, *here = __builtin_frame_address(0);
	if (!up || !top || (char *)up <= here || (char *)(up + 2) > top)
		return 0;
	uintptr_t ra = (uintptr_t)up[1], base = R.prog->base;
	if (ra <= base || ra - base > R.prog->span)
		return 0;
	return (uint64_t)(ra - base - 1);
}

int qf_rt_reset_kind(int index, const char **why)
{
	rt_program *p = rt_programs[index];
	*why = p->reset_why;
	return p->fork;
}
