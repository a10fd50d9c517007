/* Drives liburcu's call_rcu worker (src/urcu.c of the "mb" flavor with its
 * urcu-call-rcu-impl.h, src/wfcqueue.c, src/compat_futex.c,
 * src/compat_arch.c, src/urcu-pointer.c, compiled unmodified from Debian's
 * liburcu source) the way its users do.
 *
 *   usage: liburcu_call_rcu [THREADS [CALLBACKS]]     (defaults 2 2)
 *
 * THREADS registered RCU threads each queue CALLBACKS callbacks with
 * call_rcu().  liburcu's call_rcu worker thread sleeps on a futex while its
 * wait-free callback queue is empty; call_rcu() enqueues and wakes it, the
 * worker waits for a grace period (synchronize_rcu) and runs the callbacks.
 * main() waits until every callback has run once (a lost wake-up of the
 * worker leaves main waiting for good), then returns; the worker is
 * liburcu's daemon and is not joined, as in any program using call_rcu.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <urcu/urcu-mb.h>

#define MAX_THREADS 16
#define MAX_CALLBACKS 64

struct item {
	struct rcu_head head;
	int id;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t all_ran = PTHREAD_COND_INITIALIZER;
static int ran[MAX_THREADS * MAX_CALLBACKS]; /* under lock */
static int callbacks_ran, total;             /* under lock */
static int callbacks_per_thread;

static void reclaim(struct rcu_head *head)
{
	struct item *item = caa_container_of(head, struct item, head);
	pthread_mutex_lock(&lock);
	ran[item->id]++;
	if (++callbacks_ran == total)
		pthread_cond_signal(&all_ran);
	pthread_mutex_unlock(&lock);
	free(item);
}

static void *updater(void *arg)
{
	int first = (int)(intptr_t)arg * callbacks_per_thread;
	urcu_mb_register_thread();
	for (int i = 0; i < callbacks_per_thread; i++) {
		struct item *item = malloc(sizeof *item);
		if (!item)
			abort();
		item->id = first + i;
		urcu_mb_call_rcu(&item->head, reclaim);
	}
	urcu_mb_unregister_thread();
	return NULL;
}

static int count_arg(int argc, char **argv, int i, int fallback, int max)
{
	if (argc <= i)
		return fallback;
	char *end;
	long v = strtol(argv[i], &end, 10);
	if (*end || v < 1 || v > max) {
		fprintf(stderr, "liburcu_call_rcu: argument %d must be a count from 1 to %d, not '%s'\n", i, max, argv[i]);
		exit(2);
	}
	return (int)v;
}

int main(int argc, char **argv)
{
	int threads = count_arg(argc, argv, 1, 2, MAX_THREADS);
	callbacks_per_thread = count_arg(argc, argv, 2, 2, MAX_CALLBACKS);
	total = threads * callbacks_per_thread;

	pthread_t t[MAX_THREADS];
	for (int i = 0; i < threads; i++)
		pthread_create(&t[i], NULL, updater, (void *)(intptr_t)i);
	for (int i = 0; i < threads; i++)
		pthread_join(t[i], NULL);

	pthread_mutex_lock(&lock);
	while (callbacks_ran < total)
		pthread_cond_wait(&all_ran, &lock);
	pthread_mutex_unlock(&lock);

	for (int i = 0; i < total; i++)
		if (ran[i] != 1) {
			fprintf(stderr, "liburcu_call_rcu: callback %d ran %d times\n", i, ran[i]);
			return 1;
		}
	return 0;
}
