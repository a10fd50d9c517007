/* worker_pool.c - the runtime benchmark's unmodified 2-thread futex worker
 * pool (bench/bench_runtime.py): main submits `jobs` jobs (argv[1]) to one
 * worker that sleeps on a futex when idle, then waits on another futex for
 * them all to be done, stops the worker and joins it.  -DFIXED=0 (the
 * runtime's tests) drops the worker's re-check before it sleeps: a job
 * submitted between its check and its sleep is never run (a lost wake-up). */
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef FIXED
#define FIXED 1
#endif

static atomic_int pending, done_jobs, idle, stop;
static atomic_uint seq, done_word;

static void fwait(atomic_uint *w, unsigned v)
{
	syscall(SYS_futex, w, FUTEX_WAIT_PRIVATE, v, NULL, NULL, 0);
}

static void fwake(atomic_uint *w)
{
	syscall(SYS_futex, w, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static void *worker(void *arg)
{
	for (;;) {
		int p = atomic_load(&pending);
		if (p > 0) {
			if (atomic_compare_exchange_strong(&pending, &p, p - 1)) {
				atomic_fetch_add(&done_jobs, 1);
				atomic_fetch_add(&done_word, 1);
				fwake(&done_word);
			}
			continue;
		}
		if (atomic_load(&stop))
			return arg;
		unsigned s = atomic_load(&seq);
		atomic_fetch_add(&idle, 1);
#if FIXED
		if (atomic_load(&pending) == 0 && !atomic_load(&stop))
#endif
			fwait(&seq, s);
		atomic_fetch_sub(&idle, 1);
	}
}

static void kick(void)
{
	if (atomic_load(&idle) > 0) {
		atomic_fetch_add(&seq, 1);
		fwake(&seq);
	}
}

int main(int argc, char **argv)
{
	int jobs = argc > 1 ? atoi(argv[1]) : 2;
	pthread_t t;
	pthread_create(&t, NULL, worker, NULL);
	for (int i = 0; i < jobs; i++) {
		atomic_fetch_add(&pending, 1);
		kick();
	}
	for (;;) {
		unsigned d = atomic_load(&done_word);
		if (atomic_load(&done_jobs) == jobs)
			break;
		fwait(&done_word, d);
	}
	atomic_store(&stop, 1);
	atomic_fetch_add(&seq, 1);
	fwake(&seq);
	pthread_join(t, NULL);
	return 0;
}
