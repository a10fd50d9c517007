/* A worker pool whose idle workers sleep on a futex.
 *
 *   usage: worker_pool [WORKERS [PRODUCERS [JOBS]]]     (defaults 2 2 2)
 *
 * PRODUCERS threads each submit JOBS jobs to a queue; WORKERS threads run
 * them.  A worker with nothing to do counts itself in `idle` and sleeps on
 * the futex word `wake_seq`; a producer that finds idle > 0 after queueing a
 * job bumps `wake_seq` and wakes one sleeper.  main() waits, with a deadline
 * read from CLOCK_MONOTONIC, until every job has run, then stops the workers.
 *
 *   VARIANT 0 (default)  correct: the producer reads the idle count after it
 *                        published the job, under the queue lock.
 *   VARIANT 1            lost wake-up: the producer reads the idle count
 *                        before it takes the lock to publish.  A worker that
 *                        finds the queue empty and goes idle in between is
 *                        never woken: the job waits forever.
 *
 * Build and run it natively:  gcc -pthread -Wall -Wextra -DVARIANT=1 worker_pool.c
 * Under qfuzz:  qfuzz fuzz worker_pool.c --variant buggy=-DVARIANT=1
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* qfuzz's optional header names each job as a request with a deadline, so a
 * stranded job is reported as a lost wake-up at its deadline; compiled
 * without qfuzz the calls vanish. */
#if defined(__has_include)
#if __has_include(<qfuzz.h>)
#include <qfuzz.h>
#define HAVE_QFUZZ_H 1
#endif
#endif
#ifndef HAVE_QFUZZ_H
#define qf_request_begin(id, deadline_us) ((void)0)
#define qf_request_end(id) ((void)0)
#endif

#ifndef VARIANT
#define VARIANT 0
#endif

#define MAX_JOBS 1024
#define JOB_DEADLINE_US 100000 /* a job should start within 100 ms */
#define POOL_DEADLINE_S 2      /* main gives up after 2 s */

static pthread_mutex_t queue_lock = PTHREAD_MUTEX_INITIALIZER;
static int queue[MAX_JOBS];
static int queue_head, queue_tail; /* under queue_lock */
static int stopping;               /* under queue_lock */

static atomic_int idle;          /* workers sleeping or about to */
static atomic_uint wake_seq;     /* futex word the idle workers sleep on */
static atomic_uint jobs_done;    /* futex word main sleeps on */
static atomic_long checksum;

static int jobs_per_producer;

static long futex_wait(atomic_uint *word, unsigned seen, const struct timespec *timeout)
{
	return syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_PRIVATE, seen, timeout, NULL, 0);
}

static long futex_wake(atomic_uint *word, int n)
{
	return syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

static void submit(int job)
{
	qf_request_begin(job, JOB_DEADLINE_US);
#if VARIANT == 1
	int sleepers = atomic_load(&idle); /* BUG: read before the job is published */
#endif
	pthread_mutex_lock(&queue_lock);
	queue[queue_tail++] = job;
#if VARIANT != 1
	int sleepers = atomic_load(&idle);
#endif
	if (sleepers > 0)
		atomic_fetch_add(&wake_seq, 1);
	pthread_mutex_unlock(&queue_lock);
	if (sleepers > 0)
		futex_wake(&wake_seq, 1);
}

static void run(int job)
{
	qf_request_end(job);
	atomic_fetch_add(&checksum, job + 1);
	atomic_fetch_add(&jobs_done, 1);
	futex_wake(&jobs_done, 1);
}

static void *worker(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&queue_lock);
	for (;;) {
		if (queue_head < queue_tail) {
			int job = queue[queue_head++];
			pthread_mutex_unlock(&queue_lock);
			run(job);
			pthread_mutex_lock(&queue_lock);
			continue;
		}
		if (stopping)
			break;
		/* Go idle.  wake_seq is read under the lock, so a producer that
		 * publishes after we unlock changes it and the wait returns. */
		atomic_fetch_add(&idle, 1);
		unsigned seen = atomic_load(&wake_seq);
		pthread_mutex_unlock(&queue_lock);
		futex_wait(&wake_seq, seen, NULL);
		pthread_mutex_lock(&queue_lock);
		atomic_fetch_sub(&idle, 1);
	}
	pthread_mutex_unlock(&queue_lock);
	return NULL;
}

static void *producer(void *arg)
{
	int first = (int)(intptr_t)arg * jobs_per_producer;
	for (int i = 0; i < jobs_per_producer; i++)
		submit(first + i);
	return NULL;
}

static int count_arg(int argc, char **argv, int i, int fallback)
{
	if (argc <= i)
		return fallback;
	char *end;
	long v = strtol(argv[i], &end, 10);
	if (*end || v < 1 || v > 64) {
		fprintf(stderr, "worker_pool: argument %d must be a count from 1 to 64, not '%s'\n", i, argv[i]);
		exit(2);
	}
	return (int)v;
}

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	int workers = count_arg(argc, argv, 1, 2);
	int producers = count_arg(argc, argv, 2, 2);
	jobs_per_producer = count_arg(argc, argv, 3, 2);
	unsigned total = (unsigned)(producers * jobs_per_producer);
	if (total > MAX_JOBS) {
		fprintf(stderr, "worker_pool: at most %d jobs\n", MAX_JOBS);
		return 2;
	}
	pthread_t w[64], p[64];

	for (int i = 0; i < workers; i++)
		pthread_create(&w[i], NULL, worker, NULL);
	for (int i = 0; i < producers; i++)
		pthread_create(&p[i], NULL, producer, (void *)(intptr_t)i);
	for (int i = 0; i < producers; i++)
		pthread_join(p[i], NULL);

	/* Wait for every job, but not forever. */
	long long deadline = now_ns() + POOL_DEADLINE_S * 1000000000LL;
	unsigned done;
	while ((done = atomic_load(&jobs_done)) < total) {
		long long left = deadline - now_ns();
		if (left <= 0) {
			fprintf(stderr, "worker_pool: %u of %u jobs still queued after %d s with %d idle workers\n",
				total - done, total, POOL_DEADLINE_S, atomic_load(&idle));
			return 1;
		}
		struct timespec ts = {left / 1000000000LL, left % 1000000000LL};
		futex_wait(&jobs_done, done, &ts);
	}

	pthread_mutex_lock(&queue_lock);
	stopping = 1;
	atomic_fetch_add(&wake_seq, 1);
	pthread_mutex_unlock(&queue_lock);
	futex_wake(&wake_seq, INT_MAX);
	for (int i = 0; i < workers; i++)
		pthread_join(w[i], NULL);

	long expect = (long)total * (total + 1) / 2;
	if (atomic_load(&checksum) != expect) {
		fprintf(stderr, "worker_pool: checksum %ld, expected %ld\n", atomic_load(&checksum), expect);
		return 1;
	}
	return 0;
}
