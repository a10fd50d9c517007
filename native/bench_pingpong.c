/* bench_pingpong.c - the yardstick for the core's hand-off cost: two bare
 * pthreads pinned to one CPU passing a token through futex words, with
 * nothing else around it (bench/bench_core.py prints both side by side). */
#define _GNU_SOURCE
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

struct pp {
	int32_t word[2];
	long rounds;
	int cpu;
	double ns;
};

static void wake(int32_t *w)
{
	__atomic_store_n(w, 1, __ATOMIC_RELEASE);
	syscall(SYS_futex, w, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static void park(int32_t *w)
{
	while (!__atomic_load_n(w, __ATOMIC_ACQUIRE))
		syscall(SYS_futex, w, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
	__atomic_store_n(w, 0, __ATOMIC_RELAXED);
}

static void pin(int cpu)
{
	if (cpu < 0)
		return;
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

static void *responder(void *arg)
{
	struct pp *p = arg;
	pin(p->cpu);
	for (long i = 0; i < p->rounds; i++) {
		park(&p->word[1]);
		wake(&p->word[0]);
	}
	return NULL;
}

static void *initiator(void *arg)
{
	struct pp *p = arg;
	struct timespec t0, t1;
	pin(p->cpu);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (long i = 0; i < p->rounds; i++) {
		wake(&p->word[1]);
		park(&p->word[0]);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	p->ns = (t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec);
	return NULL;
}

/* Nanoseconds per one-way hand-off.  Both players are fresh threads, so the
 * caller's own affinity is untouched. */
double qf_bench_futex_pingpong(long rounds, int cpu)
{
	struct pp p = {{0, 0}, rounds, cpu, 0};
	pthread_t a, b;
	if (rounds < 1 || pthread_create(&b, NULL, responder, &p))
		return -1;
	if (pthread_create(&a, NULL, initiator, &p)) {
		p.rounds = 0;
		wake(&p.word[1]);
		pthread_join(b, NULL);
		return -1;
	}
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	return p.ns / (2.0 * rounds);
}
