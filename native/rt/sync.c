/* sync.c - mutexes, condition variables, rwlocks, spinlocks, barriers and
 * semaphores, each one a schedule point on the core.
 *
 * Their state lives in the program's own pthread_*_t objects (glibc's
 * real implementation never sees them, every call on them is wrapped), so
 * restoring .data/.bss and the heap resets them too, and the static
 * initializers (all zero, or PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP's
 * kind) keep their meaning.  Waiters are the runtime's per-thread wait
 * records (program.c): woken first come, first served.
 *
 *   mutex:   __data.__lock = owner id + 1, __count = depth, __kind = type
 *   rwlock:  __data.__readers = readers, __cur_writer = writer id + 1
 *   cond:    first int = its clock (0 realtime, 1 monotonic)
 *   sem:     first unsigned = value
 *   barrier: three unsigned: count, arrived, generation
 */
#define _GNU_SOURCE
#include "rt.h"

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <string.h>
#include <time.h>

#define ALL QF_MAX_THREADS

/* ---- mutexes ------------------------------------------------------------ */

static int mutex_kind(const pthread_mutex_t *m)
{
	return m->__data.__kind & 3;
}

/* try: 1 = trylock.  Returns 0, EBUSY, ETIMEDOUT or EDEADLK. */
static int mutex_take(int me, pthread_mutex_t *m, int label, int try, uint32_t deadline)
{
	if (m->__data.__lock == me + 1) {
		if (mutex_kind(m) == PTHREAD_MUTEX_RECURSIVE) {
			m->__data.__count++;
			return 0;
		}
		if (try)
			return EBUSY;
		if (mutex_kind(m) == PTHREAD_MUTEX_ERRORCHECK)
			return EDEADLK;
		rt_fail(me, QF_DEADLOCK, label, "deadlock: thread %d locks a mutex it already holds", me);
	}
	while (m->__data.__lock) {
		if (try)
			return EBUSY;
		if (!rt_wait(me, m, W_LOCK, deadline, ~0u, label) && m->__data.__lock)
			return ETIMEDOUT;
	}
	m->__data.__lock = me + 1;
	m->__data.__count = 1;
	return 0;
}

int __wrap_pthread_mutex_init(pthread_mutex_t *m, const pthread_mutexattr_t *attr)
{
	int type = PTHREAD_MUTEX_NORMAL;
	if (attr)
		pthread_mutexattr_gettype(attr, &type);
	memset(m, 0, sizeof *m);
	m->__data.__kind = type & 3;
	return 0;
}

int __wrap_pthread_mutex_destroy(pthread_mutex_t *m)
{
	return m->__data.__lock ? EBUSY : 0;
}

static int mutex_lock(pthread_mutex_t *m, int label, int try, uint32_t deadline, const void *ra)
{
	if (!rt_on()) { /* constructors */
		m->__data.__lock = 1;
		m->__data.__count++;
		return 0;
	}
	int me = rt_op(label, m, 1, ra);
	int rc = mutex_take(me, m, label, try, deadline);
	rt_done(me, label, rc, rc == 0);
	return rc;
}

int __wrap_pthread_mutex_lock(pthread_mutex_t *m)
{
	return mutex_lock(m, RL_LOCK, 0, QF_ETERNITY, RA);
}

int __wrap_pthread_mutex_trylock(pthread_mutex_t *m)
{
	return mutex_lock(m, RL_TRYLOCK, 1, QF_ETERNITY, RA);
}

int __wrap_pthread_mutex_timedlock(pthread_mutex_t *m, const struct timespec *abstime)
{
	return mutex_lock(m, RL_LOCK, 0, rt_on() ? rt_deadline_abs(abstime, CLOCK_REALTIME) : 0, RA);
}

int __wrap_pthread_mutex_clocklock(pthread_mutex_t *m, clockid_t clock, const struct timespec *abstime)
{
	return mutex_lock(m, RL_LOCK, 0, rt_on() ? rt_deadline_abs(abstime, clock) : 0, RA);
}

static void mutex_release(int me, pthread_mutex_t *m)
{
	m->__data.__lock = 0;
	m->__data.__count = 0;
	rt_wake_n(me, m, W_LOCK, ALL, ~0u, -1);
}

int __wrap_pthread_mutex_unlock(pthread_mutex_t *m)
{
	if (!rt_on()) {
		if (m->__data.__count && !--m->__data.__count)
			m->__data.__lock = 0;
		return 0;
	}
	int me = rt_op(RL_UNLOCK, m, 1, RA);
	if (m->__data.__lock != me + 1) {
		if (mutex_kind(m) != PTHREAD_MUTEX_NORMAL) {
			rt_done(me, RL_UNLOCK, EPERM, 0);
			return EPERM;
		}
		rt_fail(me, QF_SAFETY, RL_UNLOCK, "thread %d unlocks a mutex it does not hold", me);
	}
	if (--m->__data.__count == 0)
		mutex_release(me, m);
	rt_done(me, RL_UNLOCK, 0, 1);
	return 0;
}

/* ---- condition variables ------------------------------------------------- */

static int cond_clock(const pthread_cond_t *c)
{
	int k;
	memcpy(&k, c, sizeof k);
	return k == 1 ? CLOCK_MONOTONIC : CLOCK_REALTIME;
}

int __wrap_pthread_cond_init(pthread_cond_t *c, const pthread_condattr_t *attr)
{
	clockid_t clock = CLOCK_REALTIME;
	if (attr)
		pthread_condattr_getclock(attr, &clock);
	memset(c, 0, sizeof *c);
	int k = clock == CLOCK_MONOTONIC;
	memcpy(c, &k, sizeof k);
	return 0;
}

int __wrap_pthread_cond_destroy(pthread_cond_t *c)
{
	(void)c;
	return 0;
}

static int cond_wait(pthread_cond_t *c, pthread_mutex_t *m, int timed, clockid_t clock, const struct timespec *abstime,
		     const void *ra)
{
	if (!rt_on())
		return EPERM;
	int me = rt_op(RL_COND_WAIT, c, 1, ra);
	if (m->__data.__lock != me + 1) {
		rt_done(me, RL_COND_WAIT, EPERM, 0);
		return EPERM;
	}
	unsigned depth = m->__data.__count;
	mutex_release(me, m);
	rt_done(me, RL_COND_WAIT, 0, 1);
	uint32_t deadline = timed ? rt_deadline_abs(abstime, clock) : QF_ETERNITY;
	int woken = rt_wait(me, c, W_COND, deadline, ~0u, RL_COND_WAIT);
	while (m->__data.__lock) /* take the mutex back */
		rt_wait(me, m, W_LOCK, QF_ETERNITY, ~0u, RL_LOCK);
	m->__data.__lock = me + 1;
	m->__data.__count = depth;
	return woken ? 0 : ETIMEDOUT;
}

int __wrap_pthread_cond_wait(pthread_cond_t *c, pthread_mutex_t *m)
{
	return cond_wait(c, m, 0, 0, 0, RA);
}

int __wrap_pthread_cond_timedwait(pthread_cond_t *c, pthread_mutex_t *m, const struct timespec *abstime)
{
	return cond_wait(c, m, 1, cond_clock(c), abstime, RA);
}

int __wrap_pthread_cond_clockwait(pthread_cond_t *c, pthread_mutex_t *m, clockid_t clock, const struct timespec *abstime)
{
	return cond_wait(c, m, 1, clock, abstime, RA);
}

static int cond_wake(pthread_cond_t *c, int label, int n, const void *ra)
{
	if (!rt_on())
		return 0;
	int me = rt_op(label, c, 1, ra);
	int woke = rt_wake_n(me, c, W_COND, n, ~0u, label);
	rt_done(me, label, woke, 1);
	return 0;
}

int __wrap_pthread_cond_signal(pthread_cond_t *c)
{
	return cond_wake(c, RL_COND_SIGNAL, 1, RA);
}

int __wrap_pthread_cond_broadcast(pthread_cond_t *c)
{
	return cond_wake(c, RL_COND_BROADCAST, ALL, RA);
}

/* ---- rwlocks (readers first: a waiting writer does not hold readers back) -- */

int __wrap_pthread_rwlock_init(pthread_rwlock_t *l, const pthread_rwlockattr_t *attr)
{
	(void)attr;
	memset(l, 0, sizeof *l);
	return 0;
}

int __wrap_pthread_rwlock_destroy(pthread_rwlock_t *l)
{
	return l->__data.__readers || l->__data.__cur_writer ? EBUSY : 0;
}

static int rw_take(pthread_rwlock_t *l, int write, int try, int timed, const struct timespec *abstime, const void *ra)
{
	if (!rt_on()) {
		if (write)
			l->__data.__cur_writer = 1;
		else
			l->__data.__readers++;
		return 0;
	}
	int label = write ? RL_WRLOCK : RL_RDLOCK;
	int me = rt_op(label, l, 1, ra);
	if (l->__data.__cur_writer == me + 1) {
		rt_done(me, label, EDEADLK, 0);
		return EDEADLK;
	}
	uint32_t deadline = timed ? rt_deadline_abs(abstime, CLOCK_REALTIME) : QF_ETERNITY;
	while (l->__data.__cur_writer || (write && l->__data.__readers)) {
		if (try || (!rt_wait(me, l, W_LOCK, deadline, ~0u, label) &&
			    (l->__data.__cur_writer || (write && l->__data.__readers)))) {
			rt_done(me, label, try ? EBUSY : ETIMEDOUT, 0);
			return try ? EBUSY : ETIMEDOUT;
		}
	}
	if (write)
		l->__data.__cur_writer = me + 1;
	else
		l->__data.__readers++;
	rt_done(me, label, 0, 1);
	return 0;
}

int __wrap_pthread_rwlock_rdlock(pthread_rwlock_t *l) { return rw_take(l, 0, 0, 0, 0, RA); }
int __wrap_pthread_rwlock_tryrdlock(pthread_rwlock_t *l) { return rw_take(l, 0, 1, 0, 0, RA); }
int __wrap_pthread_rwlock_timedrdlock(pthread_rwlock_t *l, const struct timespec *t) { return rw_take(l, 0, 0, 1, t, RA); }
int __wrap_pthread_rwlock_wrlock(pthread_rwlock_t *l) { return rw_take(l, 1, 0, 0, 0, RA); }
int __wrap_pthread_rwlock_trywrlock(pthread_rwlock_t *l) { return rw_take(l, 1, 1, 0, 0, RA); }
int __wrap_pthread_rwlock_timedwrlock(pthread_rwlock_t *l, const struct timespec *t) { return rw_take(l, 1, 0, 1, t, RA); }

int __wrap_pthread_rwlock_unlock(pthread_rwlock_t *l)
{
	if (!rt_on()) {
		if (l->__data.__cur_writer)
			l->__data.__cur_writer = 0;
		else if (l->__data.__readers)
			l->__data.__readers--;
		return 0;
	}
	int me = rt_op(RL_RWUNLOCK, l, 1, RA);
	if (l->__data.__cur_writer == me + 1)
		l->__data.__cur_writer = 0;
	else if (l->__data.__readers && !l->__data.__cur_writer)
		l->__data.__readers--;
	else
		rt_fail(me, QF_SAFETY, RL_RWUNLOCK, "thread %d unlocks a rwlock it does not hold", me);
	if (!l->__data.__readers)
		rt_wake_n(me, l, W_LOCK, ALL, ~0u, -1);
	rt_done(me, RL_RWUNLOCK, 0, 1);
	return 0;
}

/* ---- spinlocks: a spinning waiter is a blocked one under fair scheduling -- */

int __wrap_pthread_spin_init(pthread_spinlock_t *s, int pshared)
{
	(void)pshared;
	*s = 0;
	return 0;
}

int __wrap_pthread_spin_destroy(pthread_spinlock_t *s)
{
	(void)s;
	return 0;
}

static int spin_take(pthread_spinlock_t *s, int try, const void *ra)
{
	if (!rt_on()) {
		*s = 1;
		return 0;
	}
	int me = rt_op(RL_SPIN_LOCK, (const void *)s, 1, ra);
	if (*s == me + 1)
		rt_fail(me, QF_DEADLOCK, RL_SPIN_LOCK, "deadlock: thread %d takes a spinlock it already holds", me);
	while (*s) {
		if (try) {
			rt_done(me, RL_SPIN_LOCK, EBUSY, 0);
			return EBUSY;
		}
		rt_wait(me, (const void *)s, W_LOCK, QF_ETERNITY, ~0u, RL_SPIN_LOCK);
	}
	*s = me + 1;
	rt_done(me, RL_SPIN_LOCK, 0, 1);
	return 0;
}

int __wrap_pthread_spin_lock(pthread_spinlock_t *s) { return spin_take(s, 0, RA); }
int __wrap_pthread_spin_trylock(pthread_spinlock_t *s) { return spin_take(s, 1, RA); }

int __wrap_pthread_spin_unlock(pthread_spinlock_t *s)
{
	if (!rt_on()) {
		*s = 0;
		return 0;
	}
	int me = rt_op(RL_SPIN_UNLOCK, (const void *)s, 1, RA);
	*s = 0;
	rt_wake_n(me, (const void *)s, W_LOCK, ALL, ~0u, -1);
	rt_done(me, RL_SPIN_UNLOCK, 0, 1);
	return 0;
}

/* ---- barriers ------------------------------------------------------------- */

typedef struct { unsigned count, arrived, generation; } rt_barrier;

int __wrap_pthread_barrier_init(pthread_barrier_t *b, const pthread_barrierattr_t *attr, unsigned count)
{
	(void)attr;
	if (!count)
		return EINVAL;
	memset(b, 0, sizeof *b);
	rt_barrier *rb = (rt_barrier *)b;
	rb->count = count;
	return 0;
}

int __wrap_pthread_barrier_destroy(pthread_barrier_t *b)
{
	(void)b;
	return 0;
}

int __wrap_pthread_barrier_wait(pthread_barrier_t *b)
{
	rt_barrier *rb = (rt_barrier *)b;
	if (!rt_on())
		return EINVAL;
	int me = rt_op(RL_BARRIER, b, 1, RA);
	unsigned gen = rb->generation;
	if (++rb->arrived == rb->count) {
		rb->arrived = 0;
		rb->generation++;
		rt_wake_n(me, b, W_BARRIER, ALL, ~0u, RL_BARRIER);
		rt_done(me, RL_BARRIER, 1, 1);
		return PTHREAD_BARRIER_SERIAL_THREAD;
	}
	rt_done(me, RL_BARRIER, 0, 1);
	while (rb->generation == gen)
		rt_wait(me, b, W_BARRIER, QF_ETERNITY, ~0u, RL_BARRIER);
	return 0;
}

/* ---- semaphores ------------------------------------------------------------ */

static unsigned *sem_value(sem_t *s)
{
	return (unsigned *)(void *)s;
}

int __wrap_sem_init(sem_t *s, int pshared, unsigned value)
{
	(void)pshared;
	memset(s, 0, sizeof *s);
	*sem_value(s) = value;
	return 0;
}

int __wrap_sem_destroy(sem_t *s)
{
	(void)s;
	return 0;
}

static int sem_take(sem_t *s, int try, int timed, clockid_t clock, const struct timespec *abstime, const void *ra)
{
	unsigned *v = sem_value(s);
	if (!rt_on()) {
		if (!*v) {
			errno = EAGAIN;
			return -1;
		}
		--*v;
		return 0;
	}
	int me = rt_op(RL_SEM_WAIT, s, 1, ra);
	uint32_t deadline = timed ? rt_deadline_abs(abstime, clock) : QF_ETERNITY;
	int first = 1;
	while (!*v) {
		if (first)
			rt_done(me, RL_SEM_WAIT, 0, 0);
		first = 0;
		if (try || (!rt_wait(me, s, W_SEM, deadline, ~0u, RL_SEM_WAIT) && !*v)) {
			errno = try ? EAGAIN : ETIMEDOUT;
			return -1;
		}
	}
	--*v;
	if (first)
		rt_done(me, RL_SEM_WAIT, 1, 1);
	return 0;
}

int __wrap_sem_wait(sem_t *s) { return sem_take(s, 0, 0, 0, 0, RA); }
int __wrap_sem_trywait(sem_t *s) { return sem_take(s, 1, 0, 0, 0, RA); }
int __wrap_sem_timedwait(sem_t *s, const struct timespec *t) { return sem_take(s, 0, 1, CLOCK_REALTIME, t, RA); }
int __wrap_sem_clockwait(sem_t *s, clockid_t c, const struct timespec *t) { return sem_take(s, 0, 1, c, t, RA); }

int __wrap_sem_post(sem_t *s)
{
	unsigned *v = sem_value(s);
	if (!rt_on()) {
		++*v;
		return 0;
	}
	int me = rt_op(RL_SEM_POST, s, 1, RA);
	++*v;
	int woke = rt_wake_n(me, s, W_SEM, 1, ~0u, RL_SEM_POST);
	rt_done(me, RL_SEM_POST, woke, 1);
	return 0;
}

int __wrap_sem_getvalue(sem_t *s, int *out)
{
	*out = (int)*sem_value(s);
	return 0;
}
