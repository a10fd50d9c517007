/* Bugs behind argument lists: "crash" makes a NULL store once the hand-off
 * is done, "hang" spins forever there, outside any schedule point (only the
 * worker's watchdog sees it); anything else keeps the hand-off's lost
 * wake-up (the flag checked before the lock: a signal between the check and
 * the wait is lost).  A search must survive the first two to find the last. */
#include <pthread.h>
#include <string.h>

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

int main(int argc, char **argv)
{
	pthread_t t;

	pthread_create(&t, NULL, producer, NULL);
	if (!ready) {
		pthread_mutex_lock(&lock);
		pthread_cond_wait(&changed, &lock);
		pthread_mutex_unlock(&lock);
	}
	pthread_join(t, NULL);
	if (argc > 1 && strcmp(argv[1], "crash") == 0) {
		volatile int *nowhere = NULL;
		*nowhere = ready;
	}
	if (argc > 1 && strcmp(argv[1], "hang") == 0)
		for (volatile int spin = 1; spin;)
			;
	return 0;
}
