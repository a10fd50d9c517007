/* A bounded buffer guarded by a mutex and two condition variables.
 *
 *   usage: bounded_buffer [PRODUCERS [CONSUMERS [ITEMS [CAPACITY]]]]   (defaults 1 2 2 1)
 *
 * PRODUCERS threads put ITEMS items each into a ring of CAPACITY slots;
 * CONSUMERS threads take them (PRODUCERS*ITEMS must divide evenly among
 * them).  main() joins everyone and checks that every item was taken once.
 *
 *   VARIANT 0 (default)  correct: waits re-check their predicate in a
 *                        `while`, signals follow the change they announce.
 *   VARIANT 1            the consumer checks "buffer empty" with `if`: woken,
 *                        it takes an item another consumer already took
 *                        (the assert on the item count fails).
 *   VARIANT 2            the producer signals "not empty" before it takes
 *                        the lock to publish: a consumer that checks the
 *                        buffer in between misses the signal and sleeps
 *                        forever (a lost wake-up).
 *
 * gcc -pthread -Wall -Wextra -DVARIANT=2 bounded_buffer.c
 */
#include <assert.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#ifndef VARIANT
#define VARIANT 0
#endif

#define MAX_CAPACITY 64
#define MAX_THREADS 64

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t not_empty = PTHREAD_COND_INITIALIZER;
static pthread_cond_t not_full = PTHREAD_COND_INITIALIZER;
static int ring[MAX_CAPACITY];
static int capacity, count, head; /* under lock */

static int items_per_producer, items_per_consumer;
static int taken[MAX_THREADS * 256]; /* how often each item was taken */

static void put(int item)
{
#if VARIANT == 2
	pthread_cond_signal(&not_empty); /* BUG: announced before it is true */
#endif
	pthread_mutex_lock(&lock);
	while (count == capacity)
		pthread_cond_wait(&not_full, &lock);
	ring[(head + count) % capacity] = item;
	count++;
#if VARIANT != 2
	pthread_cond_signal(&not_empty);
#endif
	pthread_mutex_unlock(&lock);
}

static int get(void)
{
	pthread_mutex_lock(&lock);
#if VARIANT == 1
	if (count == 0) /* BUG: a wake-up does not mean the buffer is still non-empty */
#else
	while (count == 0)
#endif
		pthread_cond_wait(&not_empty, &lock);
	assert(count > 0 && "consumer took from an empty buffer");
	int item = ring[head];
	head = (head + 1) % capacity;
	count--;
	pthread_cond_signal(&not_full);
	pthread_mutex_unlock(&lock);
	return item;
}

static void *producer(void *arg)
{
	int first = (int)(intptr_t)arg * items_per_producer;
	for (int i = 0; i < items_per_producer; i++)
		put(first + i);
	return NULL;
}

static void *consumer(void *arg)
{
	(void)arg;
	for (int i = 0; i < items_per_consumer; i++)
		taken[get()]++; /* each item belongs to one consumer: no race */
	return NULL;
}

static int count_arg(int argc, char **argv, int i, int fallback, int max)
{
	if (argc <= i)
		return fallback;
	char *end;
	long v = strtol(argv[i], &end, 10);
	if (*end || v < 1 || v > max) {
		fprintf(stderr, "bounded_buffer: argument %d must be a count from 1 to %d, not '%s'\n", i, max, argv[i]);
		exit(2);
	}
	return (int)v;
}

int main(int argc, char **argv)
{
	int producers = count_arg(argc, argv, 1, 1, MAX_THREADS);
	int consumers = count_arg(argc, argv, 2, 2, MAX_THREADS);
	items_per_producer = count_arg(argc, argv, 3, 2, 256);
	capacity = count_arg(argc, argv, 4, 1, MAX_CAPACITY);
	int total = producers * items_per_producer;
	if (total % consumers) {
		fprintf(stderr, "bounded_buffer: %d items do not divide among %d consumers\n", total, consumers);
		return 2;
	}
	items_per_consumer = total / consumers;

	pthread_t p[MAX_THREADS], c[MAX_THREADS];
	for (int i = 0; i < consumers; i++)
		pthread_create(&c[i], NULL, consumer, NULL);
	for (int i = 0; i < producers; i++)
		pthread_create(&p[i], NULL, producer, (void *)(intptr_t)i);
	for (int i = 0; i < producers; i++)
		pthread_join(p[i], NULL);
	for (int i = 0; i < consumers; i++)
		pthread_join(c[i], NULL);

	for (int i = 0; i < total; i++)
		if (taken[i] != 1) {
			fprintf(stderr, "bounded_buffer: item %d taken %d times\n", i, taken[i]);
			return 1;
		}
	return 0;
}
