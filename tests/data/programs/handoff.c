/* A one-shot hand-off between two threads.  BUGGY=1 checks the flag before
 * taking the lock: if the producer publishes and signals between the check
 * and the wait, the signal is lost and main() waits forever. */
#include <pthread.h>
#include <stdio.h>

#ifndef BUGGY
#define BUGGY 0
#endif

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed = PTHREAD_COND_INITIALIZER;
static int ready;

static void *producer(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&lock);
	ready = 1;
	pthread_cond_signal(&changed);
	pthread_mutex_unlock(&lock);
	return NULL;
}

int main(void)
{
	pthread_t t;

	pthread_create(&t, NULL, producer, NULL);
#if BUGGY
	if (!ready) {
		pthread_mutex_lock(&lock);
		pthread_cond_wait(&changed, &lock);
		pthread_mutex_unlock(&lock);
	}
#else
	pthread_mutex_lock(&lock);
	while (!ready)
		pthread_cond_wait(&changed, &lock);
	pthread_mutex_unlock(&lock);
#endif
	pthread_join(t, NULL);
	printf("handed off\n");
	return 0;
}
