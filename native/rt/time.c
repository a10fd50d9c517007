/* time.c - virtual time for programs.
 *
 * The core's clock counts microseconds from 0 (uint32: about 71 minutes;
 * RT_HORIZON ends an execution that gets there).  CLOCK_REALTIME,
 * gettimeofday and time() read RT_EPOCH + now (2026-01-01T00:00:00Z), the
 * monotonic clocks RT_MONO + now: the same on every machine.  A clock read
 * and sched_yield are spin-loop iterations (rt_spin: fair, and they let the
 * clock move when every thread only spins); a sleep is a timed wait. */
#define _GNU_SOURCE
#include "rt.h"

#include <errno.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define RT_EPOCH 1767225600LL /* 2026-01-01T00:00:00Z */
#define RT_MONO 10000LL       /* the monotonic clock at the start: as if up for 10000 s */

static long long base_of(clockid_t clock)
{
	switch (clock) {
	case CLOCK_REALTIME:
	case CLOCK_REALTIME_COARSE:
	case CLOCK_TAI:
		return RT_EPOCH;
	case CLOCK_PROCESS_CPUTIME_ID:
	case CLOCK_THREAD_CPUTIME_ID:
		return 0;
	default:
		return RT_MONO;
	}
}

static uint32_t clamp(long long us)
{
	if (us < 0)
		return 0;
	return us >= RT_HORIZON ? RT_HORIZON : (uint32_t)us;
}

static long long ts_us(const struct timespec *t)
{
	return (long long)t->tv_sec * 1000000LL + (t->tv_nsec + 999) / 1000;
}

uint32_t rt_deadline_abs(const void *abstime, int clock)
{
	if (!abstime)
		return QF_ETERNITY;
	return clamp(ts_us(abstime) - base_of(clock) * 1000000LL);
}

uint32_t rt_deadline_rel(const void *reltime)
{
	if (!reltime)
		return QF_ETERNITY;
	return clamp((long long)qf_now() + ts_us(reltime));
}

/* Read the clock: a spin iteration, then the (maybe moved) virtual time. */
static long long read_clock(clockid_t clock, const void *ra)
{
	int me = qf_self();
	qf_rt_site[me] = (uint64_t)((uintptr_t)ra - R.prog->base - 1);
	rt_spin(me, RL_CLOCK, 1);
	return base_of(clock) * 1000000LL + qf_now();
}

int __wrap_clock_gettime(clockid_t clock, struct timespec *ts)
{
	if (!rt_on())
		return clock_gettime(clock, ts);
	long long us = read_clock(clock, RA);
	ts->tv_sec = us / 1000000;
	ts->tv_nsec = (us % 1000000) * 1000;
	return 0;
}

int __wrap_gettimeofday(struct timeval *tv, void *tz)
{
	if (!rt_on())
		return gettimeofday(tv, tz);
	long long us = read_clock(CLOCK_REALTIME, RA);
	if (tv) {
		tv->tv_sec = us / 1000000;
		tv->tv_usec = us % 1000000;
	}
	return 0;
}

time_t __wrap_time(time_t *out)
{
	if (!rt_on())
		return time(out);
	time_t t = (time_t)(read_clock(CLOCK_REALTIME, RA) / 1000000);
	if (out)
		*out = t;
	return t;
}

clock_t __wrap_clock(void)
{
	if (!rt_on())
		return clock();
	return (clock_t)read_clock(CLOCK_PROCESS_CPUTIME_ID, RA); /* CLOCKS_PER_SEC is 1000000 */
}

/* Sleep until `deadline`: a schedule point, then a timed wait nobody wakes. */
static void sleep_until(uint32_t deadline, const void *ra)
{
	int me = rt_op(RL_SLEEP, 0, 0, ra);
	rt_done(me, RL_SLEEP, (int)(deadline - qf_now()), 0);
	if (deadline <= qf_now()) {
		rt_spin(me, RL_YIELD, 0); /* a zero sleep yields */
		return;
	}
	if (deadline >= RT_HORIZON)
		rt_fail(me, QF_LIVELOCK, RL_SLEEP, "virtual time horizon (%u us): a sleep past it", RT_HORIZON);
	rt_wait(me, 0, W_SLEEP, deadline, 0, RL_SLEEP);
}

int __wrap_nanosleep(const struct timespec *req, struct timespec *rem)
{
	if (!rt_on())
		return nanosleep(req, rem);
	if (req->tv_nsec < 0 || req->tv_nsec >= 1000000000) {
		errno = EINVAL;
		return -1;
	}
	sleep_until(rt_deadline_rel(req), RA);
	if (rem)
		rem->tv_sec = rem->tv_nsec = 0;
	return 0;
}

int __wrap_clock_nanosleep(clockid_t clock, int flags, const struct timespec *req, struct timespec *rem)
{
	if (!rt_on())
		return clock_nanosleep(clock, flags, req, rem);
	sleep_until(flags & TIMER_ABSTIME ? rt_deadline_abs(req, clock) : rt_deadline_rel(req), RA);
	return 0;
}

int __wrap_usleep(useconds_t us)
{
	if (!rt_on())
		return usleep(us);
	sleep_until(clamp((long long)qf_now() + us), RA);
	return 0;
}

unsigned __wrap_sleep(unsigned s)
{
	if (!rt_on())
		return sleep(s);
	sleep_until(clamp((long long)qf_now() + 1000000LL * s), RA);
	return 0;
}

static int yield_at(const void *ra)
{
	if (!rt_on())
		return 0;
	int me = qf_self();
	qf_rt_site[me] = (uint64_t)((uintptr_t)ra - R.prog->base - 1);
	rt_spin(me, RL_YIELD, 0);
	return 0;
}

int __wrap_sched_yield(void)
{
	return yield_at(RA);
}

int __wrap_pthread_yield(void)
{
	return yield_at(RA);
}
