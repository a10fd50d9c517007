/* Michael and Scott's two-lock queue: one lock for the head, one for the
 * tail, a dummy node between them so enqueuers and dequeuers never share a
 * lock.  The only thing they share is the `next` pointer of the last node,
 * hence the release/acquire pair on it.
 *
 *   usage: two_lock_queue [PRODUCERS [CONSUMERS [ITEMS]]]     (defaults 1 1 2)
 *
 * Each producer enqueues ITEMS values (producer, sequence); consumers dequeue
 * until every value has been seen and check that each value arrived whole
 * and that each producer's values arrive in order.
 *
 *   VARIANT 0 (default)  correct: the node is filled, then linked.
 *   VARIANT 1            the ordering between filling the node and
 *                        publishing it is dropped: the node is linked first
 *                        and filled after the tail lock is released ("do less
 *                        under the lock"), so a dequeuer can take a node
 *                        whose value is not written yet.
 *
 * gcc -pthread -Wall -Wextra -DVARIANT=1 two_lock_queue.c
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#ifndef VARIANT
#define VARIANT 0
#endif

#define MAX_THREADS 64

struct node {
	_Atomic(struct node *) next;
	int value; /* 0 = not written yet; values are producer * 1000 + seq + 1 */
};

struct queue {
	struct node *head; /* the dummy; under head_lock */
	struct node *tail; /* under tail_lock */
	pthread_mutex_t head_lock, tail_lock;
};

static void queue_init(struct queue *q)
{
	struct node *dummy = calloc(1, sizeof *dummy);
	if (!dummy)
		abort();
	q->head = q->tail = dummy;
	pthread_mutex_init(&q->head_lock, NULL);
	pthread_mutex_init(&q->tail_lock, NULL);
}

static void enqueue(struct queue *q, int value)
{
	struct node *node = calloc(1, sizeof *node);
	if (!node)
		abort();
#if VARIANT != 1
	node->value = value;
#endif
	pthread_mutex_lock(&q->tail_lock);
	atomic_store_explicit(&q->tail->next, node, memory_order_release);
	q->tail = node;
	pthread_mutex_unlock(&q->tail_lock);
#if VARIANT == 1
	node->value = value; /* BUG: filled after it was published */
#endif
}

static int dequeue(struct queue *q, int *value)
{
	pthread_mutex_lock(&q->head_lock);
	struct node *dummy = q->head;
	struct node *first = atomic_load_explicit(&dummy->next, memory_order_acquire);
	if (!first) {
		pthread_mutex_unlock(&q->head_lock);
		return 0;
	}
	*value = first->value;
	q->head = first; /* first becomes the new dummy */
	pthread_mutex_unlock(&q->head_lock);
	free(dummy);
	return 1;
}

static struct queue queue;
static int items;
static atomic_int remaining;

static void *producer(void *arg)
{
	int p = (int)(intptr_t)arg;
	for (int i = 0; i < items; i++)
		enqueue(&queue, p * 1000 + i + 1);
	return NULL;
}

static void *consumer(void *arg)
{
	(void)arg;
	int last[MAX_THREADS] = {0}; /* the last sequence seen from each producer */
	intptr_t bad = 0;
	while (atomic_load(&remaining) > 0) {
		int v;
		if (!dequeue(&queue, &v)) {
			sched_yield();
			continue;
		}
		atomic_fetch_sub(&remaining, 1);
		int p = (v - 1) / 1000, seq = (v - 1) % 1000 + 1;
		if (v <= 0 || p >= MAX_THREADS || seq <= last[p]) {
			fprintf(stderr, "two_lock_queue: dequeued %d after %d from producer %d\n", v, last[p < MAX_THREADS && p >= 0 ? p : 0], p);
			bad = 1;
			continue;
		}
		last[p] = seq;
	}
	return (void *)bad;
}

static int count_arg(int argc, char **argv, int i, int fallback, int max)
{
	if (argc <= i)
		return fallback;
	char *end;
	long v = strtol(argv[i], &end, 10);
	if (*end || v < 1 || v > max) {
		fprintf(stderr, "two_lock_queue: argument %d must be a count from 1 to %d, not '%s'\n", i, max, argv[i]);
		exit(2);
	}
	return (int)v;
}

int main(int argc, char **argv)
{
	int producers = count_arg(argc, argv, 1, 1, MAX_THREADS);
	int consumers = count_arg(argc, argv, 2, 1, MAX_THREADS);
	items = count_arg(argc, argv, 3, 2, 999);
	atomic_store(&remaining, producers * items);
	queue_init(&queue);

	pthread_t p[MAX_THREADS], c[MAX_THREADS];
	for (int i = 0; i < consumers; i++)
		pthread_create(&c[i], NULL, consumer, NULL);
	for (int i = 0; i < producers; i++)
		pthread_create(&p[i], NULL, producer, (void *)(intptr_t)i);
	for (int i = 0; i < producers; i++)
		pthread_join(p[i], NULL);
	int failed = 0;
	for (int i = 0; i < consumers; i++) {
		void *bad;
		pthread_join(c[i], &bad);
		failed |= bad != NULL;
	}
	free(queue.head);
	return failed;
}
