/* atomics.c - gcc's -fsanitize=thread callbacks, written for qfuzz (no
 * libtsan): every atomic operation of the program is a schedule point.
 *
 * One thread runs at a time, so each operation is simply done in place:
 * the interleavings explored are the sequentially consistent ones (memory
 * orders and fences are not modelled, README.md).  A load that sees again
 * a (site, value) pair among the thread's last four loads since its last
 * write (an atomic write, or a release, post or wake: rt_published) is a
 * spin-loop iteration (rt_spin); so is a failed compare-and-swap
 * that saw the same value again.  Plain loads and stores (__tsan_readN /
 * writeN) are schedule points only in race mode. */
#define _GNU_SOURCE
#include "rt.h"

#include <string.h>

int rt_race_on; /* set per execution from the program's race flag */

#define HIST 4
static struct {
	uint64_t site[HIST], val[HIST];
	int n, pos;
} hist[QF_MAX_THREADS];

static inline void wrote(int me)
{
	hist[me].n = 0;
}

/* A release, post or wake (rt.h: RT_PUBLISHES): the loads before it are no
 * longer what a spin loop would see again. */
void rt_published(int me)
{
	wrote(me);
}

/* A load (or failed CAS) saw value v at site ra: spin or progress. */
static inline void observed(int me, int label, const void *ra, uint64_t v)
{
	uint64_t site = (uintptr_t)ra;
	int spin = 0;
	for (int i = 0; i < hist[me].n; i++)
		spin |= hist[me].site[i] == site && hist[me].val[i] == v;
	if (!spin) {
		int p = hist[me].pos;
		hist[me].site[p] = site;
		hist[me].val[p] = v;
		hist[me].pos = (p + 1) % HIST;
		if (hist[me].n < HIST)
			hist[me].n++;
	}
	rt_done(me, label, (int)v, !spin);
	if (spin)
		rt_spin(me, RL_SPIN_LOAD, 0);
}

void rt_atomics_reset(void)
{
	memset(hist, 0, sizeof hist);
	rt_race_on = R.prog && R.prog->race;
}

typedef unsigned __int128 u128;

#define ATOMICS(N, T)                                                                                  \
	T __tsan_atomic##N##_load(const volatile T *a, int mo)                                         \
	{                                                                                              \
		(void)mo;                                                                              \
		if (!rt_on())                                                                          \
			return *a;                                                                     \
		int me = rt_op(RL_LOAD, (const void *)a, 0, RA);                                       \
		T v = *a;                                                                              \
		observed(me, RL_LOAD, RA, (uint64_t)v);                                                \
		return v;                                                                              \
	}                                                                                              \
	void __tsan_atomic##N##_store(volatile T *a, T v, int mo)                                      \
	{                                                                                              \
		(void)mo;                                                                              \
		if (!rt_on()) {                                                                        \
			*a = v;                                                                        \
			return;                                                                        \
		}                                                                                      \
		int me = rt_op(RL_STORE, (const void *)a, 1, RA);                                      \
		*a = v;                                                                                \
		wrote(me);                                                                             \
		rt_done(me, RL_STORE, (int)v, 1);                                                      \
	}                                                                                              \
	RMW(N, T, exchange, (void)old; *a = v)                                                         \
	RMW(N, T, fetch_add, *a = old + v)                                                             \
	RMW(N, T, fetch_sub, *a = old - v)                                                             \
	RMW(N, T, fetch_and, *a = old & v)                                                             \
	RMW(N, T, fetch_or, *a = old | v)                                                              \
	RMW(N, T, fetch_xor, *a = old ^ v)                                                             \
	RMW(N, T, fetch_nand, *a = ~(old & v))                                                         \
	static inline int cas##N(volatile T *a, T *expected, T desired, const void *ra)                \
	{                                                                                              \
		if (!rt_on()) {                                                                        \
			T old = *a;                                                                    \
			if (old == *expected) {                                                        \
				*a = desired;                                                          \
				return 1;                                                              \
			}                                                                              \
			*expected = old;                                                               \
			return 0;                                                                      \
		}                                                                                      \
		int me = rt_op(RL_CAS, (const void *)a, 1, ra);                                        \
		T old = *a;                                                                            \
		if (old == *expected) {                                                                \
			*a = desired;                                                                  \
			wrote(me);                                                                     \
			rt_done(me, RL_CAS, 1, 1);                                                     \
			return 1;                                                                      \
		}                                                                                      \
		*expected = old;                                                                       \
		observed(me, RL_CAS, ra, (uint64_t)old);                                               \
		return 0;                                                                              \
	}                                                                                              \
	int __tsan_atomic##N##_compare_exchange_strong(volatile T *a, T *e, T d, int mo, int fmo)      \
	{                                                                                              \
		(void)mo, (void)fmo;                                                                   \
		return cas##N(a, e, d, RA);                                                            \
	}                                                                                              \
	int __tsan_atomic##N##_compare_exchange_weak(volatile T *a, T *e, T d, int mo, int fmo)        \
	{                                                                                              \
		(void)mo, (void)fmo;                                                                   \
		return cas##N(a, e, d, RA);                                                            \
	}                                                                                              \
	T __tsan_atomic##N##_compare_exchange_val(volatile T *a, T e, T d, int mo, int fmo)            \
	{                                                                                              \
		(void)mo, (void)fmo;                                                                   \
		cas##N(a, &e, d, RA);                                                                  \
		return e;                                                                              \
	}

#define RMW(N, T, name, update)                                                                        \
	T __tsan_atomic##N##_##name(volatile T *a, T v, int mo)                                        \
	{                                                                                              \
		(void)mo;                                                                              \
		int me = -1;                                                                           \
		if (rt_on())                                                                           \
			me = rt_op(RL_RMW, (const void *)a, 1, RA);                                    \
		T old = *a;                                                                            \
		update;                                                                                \
		if (me >= 0) {                                                                         \
			wrote(me);                                                                     \
			rt_done(me, RL_RMW, (int)old, 1);                                              \
		}                                                                                      \
		return old;                                                                            \
	}

ATOMICS(8, uint8_t)
ATOMICS(16, uint16_t)
ATOMICS(32, uint32_t)
ATOMICS(64, uint64_t)
ATOMICS(128, u128)

void __tsan_atomic_thread_fence(int mo)
{
	(void)mo;
}

void __tsan_atomic_signal_fence(int mo)
{
	(void)mo;
}

/* ---- plain accesses (race mode) ------------------------------------------ */

static inline void plain(const void *addr, int write, const void *ra)
{
	if (!rt_race_on || !rt_on())
		return;
	int label = write ? RL_WRITE : RL_READ;
	int me = rt_op(label, addr, write, ra);
	rt_done(me, label, 0, write);
}

#define PLAIN(N)                                                          \
	void __tsan_read##N(void *a) { plain(a, 0, RA); }                 \
	void __tsan_write##N(void *a) { plain(a, 1, RA); }                \
	void __tsan_unaligned_read##N(void *a) { plain(a, 0, RA); }       \
	void __tsan_unaligned_write##N(void *a) { plain(a, 1, RA); }      \
	void __tsan_volatile_read##N(void *a) { plain(a, 0, RA); }        \
	void __tsan_volatile_write##N(void *a) { plain(a, 1, RA); }
PLAIN(1)
PLAIN(2)
PLAIN(4)
PLAIN(8)
PLAIN(16)

void __tsan_read_range(void *a, unsigned long n)
{
	(void)n;
	plain(a, 0, RA);
}

void __tsan_write_range(void *a, unsigned long n)
{
	(void)n;
	plain(a, 1, RA);
}

void __tsan_init(void) {}
void __tsan_func_entry(void *pc) { (void)pc; }
void __tsan_func_exit(void) {}
void __tsan_vptr_update(void **p, void *v) { *p = v; }
void __tsan_vptr_read(void **p) { (void)p; }
