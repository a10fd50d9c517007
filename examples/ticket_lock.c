/* A ticket spinlock, checked for mutual exclusion.
 *
 *   usage: ticket_lock [THREADS [ROUNDS]]     (defaults 2 2)
 *
 * Each of THREADS threads takes the lock ROUNDS times and, inside, asserts
 * that it is alone and bumps a plain counter.  main() checks the counter.
 *
 *   VARIANT 0 (default)  correct: a ticket is drawn with one atomic
 *                        fetch-and-add.
 *   VARIANT 1            the ticket is drawn with a load and a store: two
 *                        threads can draw the same ticket and both enter
 *                        (the assert fails).
 *
 * gcc -pthread -Wall -Wextra -DVARIANT=1 ticket_lock.c
 */
#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#ifndef VARIANT
#define VARIANT 0
#endif

#define MAX_THREADS 64

struct ticket_lock {
	atomic_uint next;    /* the next ticket to hand out */
	atomic_uint serving; /* the ticket allowed in */
};

static void ticket_lock(struct ticket_lock *l)
{
#if VARIANT == 1
	unsigned me = atomic_load_explicit(&l->next, memory_order_relaxed);
	atomic_store_explicit(&l->next, me + 1, memory_order_relaxed); /* BUG: not one atomic step */
#else
	unsigned me = atomic_fetch_add_explicit(&l->next, 1, memory_order_relaxed);
#endif
	while (atomic_load_explicit(&l->serving, memory_order_acquire) != me)
		; /* spin */
}

static void ticket_unlock(struct ticket_lock *l)
{
	unsigned s = atomic_load_explicit(&l->serving, memory_order_relaxed);
	atomic_store_explicit(&l->serving, s + 1, memory_order_release);
}

static struct ticket_lock lock;
static atomic_int inside;
static long counter; /* plain: protected by the lock */
static int rounds;

static void *thread(void *arg)
{
	(void)arg;
	for (int i = 0; i < rounds; i++) {
		ticket_lock(&lock);
		int others = atomic_fetch_add(&inside, 1);
		assert(others == 0 && "two threads hold the ticket lock");
		counter++;
		atomic_fetch_sub(&inside, 1);
		ticket_unlock(&lock);
	}
	return NULL;
}

static int count_arg(int argc, char **argv, int i, int fallback)
{
	if (argc <= i)
		return fallback;
	char *end;
	long v = strtol(argv[i], &end, 10);
	if (*end || v < 1 || v > MAX_THREADS) {
		fprintf(stderr, "ticket_lock: argument %d must be a count from 1 to %d, not '%s'\n", i, MAX_THREADS, argv[i]);
		exit(2);
	}
	return (int)v;
}

int main(int argc, char **argv)
{
	int threads = count_arg(argc, argv, 1, 2);
	rounds = count_arg(argc, argv, 2, 2);
	pthread_t t[MAX_THREADS];
	for (int i = 0; i < threads; i++)
		pthread_create(&t[i], NULL, thread, NULL);
	for (int i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	if (counter != (long)threads * rounds) {
		fprintf(stderr, "ticket_lock: counter %ld, expected %ld\n", counter, (long)threads * rounds);
		return 1;
	}
	return 0;
}
