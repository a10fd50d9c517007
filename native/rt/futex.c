/* futex.c - syscall(SYS_futex, ...) on the runtime's wait records.
 *
 * WAIT, WAIT_BITSET, WAKE, WAKE_BITSET, REQUEUE and CMP_REQUEUE, private or
 * not, with timeouts (relative for WAIT, absolute for WAIT_BITSET, on
 * CLOCK_REALTIME with FUTEX_CLOCK_REALTIME).  Other futex operations return
 * ENOSYS; other system calls go to the kernel, except gettid, which gives
 * a stable number per thread. */
#define _GNU_SOURCE
#include "rt.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdarg.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static long futex_wait(uint32_t *uaddr, uint32_t val, uint32_t deadline, uint32_t bits, const void *ra)
{
	int me = rt_op(RL_FUTEX_WAIT, uaddr, 0, ra);
	if (__atomic_load_n(uaddr, __ATOMIC_RELAXED) != val) {
		rt_done(me, RL_FUTEX_WAIT, 0, 0);
		errno = EAGAIN;
		return -1;
	}
	rt_done(me, RL_FUTEX_WAIT, 1, 0);
	if (!rt_wait(me, uaddr, W_FUTEX, deadline, bits, RL_FUTEX_WAIT)) {
		errno = ETIMEDOUT;
		return -1;
	}
	return 0;
}

static long futex_wake(uint32_t *uaddr, long n, uint32_t bits, const void *ra)
{
	int me = rt_op(RL_FUTEX_WAKE, uaddr, 1, ra);
	int woke = rt_wake_n(me, uaddr, W_FUTEX, n > INT_MAX ? INT_MAX : (int)n, bits, RL_FUTEX_WAKE);
	rt_done(me, RL_FUTEX_WAKE, woke, 1);
	return woke;
}

static long futex_requeue(uint32_t *uaddr, long nwake, long nmove, uint32_t *uaddr2, int cmp, uint32_t val3,
			  const void *ra)
{
	int me = rt_op(RL_FUTEX_WAKE, uaddr, 1, ra);
	if (cmp && __atomic_load_n(uaddr, __ATOMIC_RELAXED) != val3) {
		rt_done(me, RL_FUTEX_WAKE, 0, 0);
		errno = EAGAIN;
		return -1;
	}
	int woke = rt_wake_n(me, uaddr, W_FUTEX, nwake > INT_MAX ? INT_MAX : (int)nwake, ~0u, RL_FUTEX_WAKE);
	long moved = 0;
	for (int u = 0; u < R.nth && moved < nmove; u++)
		if (R.th[u].wobj == uaddr && R.th[u].wkind == W_FUTEX && !R.th[u].woken) {
			R.th[u].wobj = uaddr2;
			moved++;
		}
	rt_done(me, RL_FUTEX_WAKE, woke, 1);
	return woke + moved;
}

long __wrap_syscall(long n, ...)
{
	va_list ap;
	long a[6];
	va_start(ap, n);
	for (int i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	if (!rt_on())
		return syscall(n, a[0], a[1], a[2], a[3], a[4], a[5]);
	if (n == SYS_gettid)
		return 100000 + qf_self();
	if (n != SYS_futex)
		return syscall(n, a[0], a[1], a[2], a[3], a[4], a[5]);
	uint32_t *uaddr = (uint32_t *)a[0];
	int op = (int)a[1], cmd = op & FUTEX_CMD_MASK;
	uint32_t val = (uint32_t)a[2], val3 = (uint32_t)a[5];
	const struct timespec *ts = (const struct timespec *)a[3];
	switch (cmd) {
	case FUTEX_WAIT:
		return futex_wait(uaddr, val, ts ? rt_deadline_rel(ts) : QF_ETERNITY, ~0u, RA);
	case FUTEX_WAIT_BITSET:
		if (!val3)
			break;
		return futex_wait(uaddr, val,
				  ts ? rt_deadline_abs(ts, op & FUTEX_CLOCK_REALTIME ? CLOCK_REALTIME : CLOCK_MONOTONIC)
				     : QF_ETERNITY,
				  val3, RA);
	case FUTEX_WAKE:
		return futex_wake(uaddr, (long)val, ~0u, RA);
	case FUTEX_WAKE_BITSET:
		if (!val3)
			break;
		return futex_wake(uaddr, (long)val, val3, RA);
	case FUTEX_REQUEUE:
		return futex_requeue(uaddr, (long)val, a[3], (uint32_t *)a[4], 0, 0, RA);
	case FUTEX_CMP_REQUEUE:
		return futex_requeue(uaddr, (long)val, a[3], (uint32_t *)a[4], 1, val3, RA);
	default:
		errno = ENOSYS;
		return -1;
	}
	errno = EINVAL;
	return -1;
}
