/* A job queue whose consumers sleep on a POSIX semaphore.
 *
 *   usage: sem_jobs [PRODUCERS [CONSUMERS [JOBS]]]     (defaults 2 1 2)
 *
 * Jobs are heap nodes on a locked list.  To save system calls a producer
 * posts the semaphore only when the list goes from empty to non-empty, and a
 * woken consumer takes the whole list at once.  main() waits on a second
 * semaphore until every job has run, then stops the consumers.
 *
 *   VARIANT 0 (default)  correct: "was the list empty?" is decided under the
 *                        lock, by the push itself.
 *   VARIANT 1            lost sem_post: the producer peeks at the length
 *                        before it takes the lock.  A consumer that drains the
 *                        list in between leaves it empty, the push then finds
 *                        it empty but the producer already decided not to
 *                        post: the job sits in the list, every consumer sleeps.
 *
 * gcc -pthread -Wall -Wextra -DVARIANT=1 sem_jobs.c
 */
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#ifndef VARIANT
#define VARIANT 0
#endif

#define MAX_THREADS 64

struct job {
	struct job *next;
	int id;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct job *jobs;    /* under lock, newest first */
static atomic_int length;   /* written under lock, peeked at without it */
static int stopping;        /* under lock */
static sem_t work;          /* posted when the list becomes non-empty */
static sem_t all_done;      /* posted when the last job has run */

static int jobs_per_producer, total;
static atomic_int jobs_done;
static atomic_long checksum;

static void submit(int id)
{
	struct job *job = malloc(sizeof *job);
	if (!job)
		abort();
	job->id = id;
#if VARIANT == 1
	int was_empty = atomic_load(&length) == 0; /* BUG: decided before the lock */
#endif
	pthread_mutex_lock(&lock);
#if VARIANT != 1
	int was_empty = atomic_load(&length) == 0;
#endif
	job->next = jobs;
	jobs = job;
	atomic_fetch_add(&length, 1);
	pthread_mutex_unlock(&lock);
	if (was_empty)
		sem_post(&work);
}

static void *consumer(void *arg)
{
	(void)arg;
	for (;;) {
		sem_wait(&work);
		pthread_mutex_lock(&lock);
		struct job *batch = jobs;
		jobs = NULL;
		atomic_store(&length, 0);
		int stop = stopping;
		pthread_mutex_unlock(&lock);
		while (batch) {
			struct job *job = batch;
			batch = job->next;
			atomic_fetch_add(&checksum, job->id + 1);
			free(job);
			if (atomic_fetch_add(&jobs_done, 1) + 1 == total)
				sem_post(&all_done);
		}
		if (stop)
			return NULL;
	}
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
	if (*end || v < 1 || v > MAX_THREADS) {
		fprintf(stderr, "sem_jobs: argument %d must be a count from 1 to %d, not '%s'\n", i, MAX_THREADS, argv[i]);
		exit(2);
	}
	return (int)v;
}

int main(int argc, char **argv)
{
	int producers = count_arg(argc, argv, 1, 2);
	int consumers = count_arg(argc, argv, 2, 1);
	jobs_per_producer = count_arg(argc, argv, 3, 2);
	total = producers * jobs_per_producer;
	sem_init(&work, 0, 0);
	sem_init(&all_done, 0, 0);

	pthread_t p[MAX_THREADS], c[MAX_THREADS];
	for (int i = 0; i < consumers; i++)
		pthread_create(&c[i], NULL, consumer, NULL);
	for (int i = 0; i < producers; i++)
		pthread_create(&p[i], NULL, producer, (void *)(intptr_t)i);
	for (int i = 0; i < producers; i++)
		pthread_join(p[i], NULL);

	sem_wait(&all_done); /* a lost post leaves us here for good */

	pthread_mutex_lock(&lock);
	stopping = 1;
	pthread_mutex_unlock(&lock);
	for (int i = 0; i < consumers; i++)
		sem_post(&work);
	for (int i = 0; i < consumers; i++)
		pthread_join(c[i], NULL);

	long expect = (long)total * (total + 1) / 2;
	if (atomic_load(&checksum) != expect) {
		fprintf(stderr, "sem_jobs: checksum %ld, expected %ld\n", atomic_load(&checksum), expect);
		return 1;
	}
	sem_destroy(&work);
	sem_destroy(&all_done);
	return 0;
}
