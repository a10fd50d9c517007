/* Crashes (a NULL store) when its first argument is "crash", otherwise a
 * clean two-thread counter: the campaign must survive the crash. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int counter;

static void *work(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&lock);
	counter++;
	pthread_mutex_unlock(&lock);
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t t;

	pthread_create(&t, NULL, work, NULL);
	work(NULL);
	pthread_join(t, NULL);
	if (argc > 1 && strcmp(argv[1], "crash") == 0) {
		volatile int *nowhere = NULL;
		*nowhere = counter;
	}
	return counter == 2 ? 0 : 1;
}
