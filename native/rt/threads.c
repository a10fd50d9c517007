/* threads.c - pthread_create and friends on the core's threads.
 *
 * A program thread is a core thread (qf_rt_thread_new); its pthread_t is
 * its id + 1.  pthread_exit longjmps back to the thread's entry in
 * program.c, so cleanup handlers pushed with pthread_cleanup_push do not run
 * (README.md).  Thread-specific data (pthread_key_*) is the runtime's own,
 * reset with each execution: glibc's keys would leak one per execution. */
#define _GNU_SOURCE
#include "rt.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static int tid_of(pthread_t t)
{
	long id = (long)t - 1;
	return id >= 0 && id < R.nth ? (int)id : -1;
}

void rt_thread_finish(int me)
{
	rt_thread *t = &R.th[me];
	for (int round = 0; round < 4; round++) { /* key destructors, as POSIX says: up to 4 rounds */
		int any = 0;
		for (int k = 0; k < RT_MAX_KEYS; k++)
			if (R.key_used[k] && R.key_dtor[k] && t->spec[k]) {
				void *v = t->spec[k];
				t->spec[k] = 0;
				R.key_dtor[k](v);
				any = 1;
			}
		if (!any)
			break;
	}
	rt_op(RL_EXIT, t, 1, 0);
	qf_rt_site[me] = 0;
	t->finished = 1;
	rt_wake_n(me, t, W_JOIN, QF_MAX_THREADS, ~0u, -1);
	rt_done(me, RL_EXIT, me, 1);
}

int __wrap_pthread_create(pthread_t *out, const pthread_attr_t *attr, void *(*start)(void *), void *arg)
{
	if (!rt_on())
		return EAGAIN; /* constructors run outside an execution */
	int me = rt_op(RL_CREATE, 0, 1, RA);
	int tid = qf_rt_thread_new();
	if (tid < 0) {
		rt_done(me, RL_CREATE, -1, 0);
		return EAGAIN;
	}
	rt_thread *t = &R.th[tid];
	memset(t, 0, sizeof *t);
	t->start = start;
	t->arg = arg;
	if (attr) {
		int ds = PTHREAD_CREATE_JOINABLE;
		pthread_attr_getdetachstate(attr, &ds);
		t->detached = ds == PTHREAD_CREATE_DETACHED;
	}
	R.nth = tid + 1;
	*out = (pthread_t)(tid + 1);
	qf_rt_unpark(tid);
	rt_done(me, RL_CREATE, tid, 1);
	return 0;
}

static int join(pthread_t th, void **ret, int mode, const struct timespec *abstime, const void *ra)
{
	int me = rt_op(RL_JOIN, 0, 0, ra);
	int u = tid_of(th);
	if (u < 0 || R.th[u].detached || R.th[u].joined) {
		rt_done(me, RL_JOIN, -1, 0);
		return u < 0 ? ESRCH : EINVAL;
	}
	if (u == me) {
		rt_done(me, RL_JOIN, -1, 0);
		return EDEADLK;
	}
	rt_done(me, RL_JOIN, u, 0);
	uint32_t deadline = mode == 2 ? rt_deadline_abs(abstime, CLOCK_REALTIME) : QF_ETERNITY;
	while (!R.th[u].finished) {
		if (mode == 1)
			return EBUSY;
		if (!rt_wait(me, &R.th[u], W_JOIN, deadline, ~0u, RL_JOIN) && !R.th[u].finished)
			return ETIMEDOUT;
	}
	R.th[u].joined = 1;
	if (ret)
		*ret = R.th[u].ret;
	return 0;
}

int __wrap_pthread_join(pthread_t th, void **ret)
{
	return join(th, ret, 0, 0, RA);
}

int __wrap_pthread_tryjoin_np(pthread_t th, void **ret)
{
	return join(th, ret, 1, 0, RA);
}

int __wrap_pthread_timedjoin_np(pthread_t th, void **ret, const struct timespec *abstime)
{
	return join(th, ret, 2, abstime, RA);
}

void __wrap_pthread_exit(void *ret)
{
	if (!rt_on())
		pthread_exit(ret);
	int me = qf_self();
	R.th[me].ret = ret;
	longjmp(R.th[me].exit_jb, 1);
}

int __wrap_pthread_detach(pthread_t th)
{
	int me = rt_op(RL_DETACH, 0, 1, RA);
	int u = tid_of(th);
	if (u < 0 || R.th[u].detached) {
		rt_done(me, RL_DETACH, -1, 0);
		return u < 0 ? ESRCH : EINVAL;
	}
	R.th[u].detached = 1;
	rt_done(me, RL_DETACH, u, 1);
	return 0;
}

pthread_t __wrap_pthread_self(void)
{
	return rt_on() ? (pthread_t)(qf_self() + 1) : pthread_self();
}

int __wrap_pthread_equal(pthread_t a, pthread_t b)
{
	return a == b;
}

/* once_control: 0 not run, 1 running, 2 done (PTHREAD_ONCE_INIT is 0). */
int __wrap_pthread_once(pthread_once_t *once, void (*fn)(void))
{
	if (!rt_on()) {
		if (*once != 2) {
			*once = 2;
			fn();
		}
		return 0;
	}
	int me = rt_op(RL_ONCE, once, 1, RA);
	rt_done(me, RL_ONCE, *once, 0);
	if (*once == 2)
		return 0;
	if (*once == 1) {
		while (*once != 2)
			rt_wait(me, once, W_ONCE, QF_ETERNITY, ~0u, RL_ONCE);
		return 0;
	}
	*once = 1;
	fn();
	*once = 2;
	rt_wake_n(me, once, W_ONCE, QF_MAX_THREADS, ~0u, -1);
	return 0;
}

int __wrap_pthread_key_create(pthread_key_t *key, void (*dtor)(void *))
{
	for (int k = 0; k < RT_MAX_KEYS; k++)
		if (!R.key_used[k]) {
			R.key_used[k] = 1;
			R.key_dtor[k] = dtor;
			for (int u = 0; u < QF_MAX_THREADS; u++)
				R.th[u].spec[k] = 0;
			*key = (pthread_key_t)k;
			return 0;
		}
	return EAGAIN;
}

int __wrap_pthread_key_delete(pthread_key_t key)
{
	if (key >= RT_MAX_KEYS || !R.key_used[key])
		return EINVAL;
	R.key_used[key] = 0;
	return 0;
}

void *__wrap_pthread_getspecific(pthread_key_t key)
{
	int me = qf_self();
	return key < RT_MAX_KEYS && me >= 0 ? R.th[me].spec[key] : 0;
}

int __wrap_pthread_setspecific(pthread_key_t key, const void *v)
{
	int me = qf_self();
	if (key >= RT_MAX_KEYS || !R.key_used[key] || me < 0)
		return EINVAL;
	R.th[me].spec[key] = (void *)v;
	return 0;
}

int __wrap_pthread_setname_np(pthread_t th, const char *name)
{
	(void)th;
	return strlen(name) < 16 ? 0 : ERANGE;
}

int __wrap_pthread_getname_np(pthread_t th, char *buf, size_t len)
{
	int u = tid_of(th);
	if (len < 16)
		return ERANGE;
	snprintf(buf, len, "thread %d", u);
	return 0;
}

int __wrap_pthread_setaffinity_np(pthread_t th, size_t size, const void *set)
{
	(void)th, (void)size, (void)set;
	return 0; /* every program thread runs on the core's one CPU */
}

int __wrap_pthread_cancel(pthread_t th)
{
	(void)th;
	return ENOTSUP; /* not modelled (README.md) */
}

int __wrap_pthread_kill(pthread_t th, int sig)
{
	if (sig == 0)
		return tid_of(th) < 0 ? ESRCH : 0;
	return ENOTSUP; /* signals are not controlled (README.md) */
}
