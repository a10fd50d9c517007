/* Two hand-offs, each with its own condition variable and its own
 * lost wake-up: the waiter checks the flag before it takes the lock, so a
 * signal sent between the check and the wait is lost.  The argument picks
 * which hand-off runs ("config" or "data"): two different bugs of one
 * program, in two different functions.  main() waits (correctly) for the
 * waiter to finish, so when the waiter is stranded main waits too, later. */
#include <pthread.h>
#include <string.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t config_set = PTHREAD_COND_INITIALIZER;
static pthread_cond_t data_set = PTHREAD_COND_INITIALIZER;
static pthread_cond_t finished_set = PTHREAD_COND_INITIALIZER;
static int config, data, finished;

static void publish(int *flag, pthread_cond_t *cv)
{
	pthread_mutex_lock(&lock);
	*flag = 1;
	pthread_cond_signal(cv);
	pthread_mutex_unlock(&lock);
}

static void *set_config(void *arg)
{
	(void)arg;
	publish(&config, &config_set);
	return NULL;
}

static void *set_data(void *arg)
{
	(void)arg;
	publish(&data, &data_set);
	return NULL;
}

static void wait_for_config(void)
{
	if (!config) { /* BUG: checked outside the lock */
		pthread_mutex_lock(&lock);
		pthread_cond_wait(&config_set, &lock);
		pthread_mutex_unlock(&lock);
	}
}

static void wait_for_data(void)
{
	if (!data) { /* BUG: checked outside the lock */
		pthread_mutex_lock(&lock);
		pthread_cond_wait(&data_set, &lock);
		pthread_mutex_unlock(&lock);
	}
}

static void *waiter(void *arg)
{
	if (arg)
		wait_for_data();
	else
		wait_for_config();
	publish(&finished, &finished_set);
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t setter, w;
	int use_data = argc > 1 && !strcmp(argv[1], "data");

	pthread_create(&w, NULL, waiter, use_data ? &data : NULL);
	pthread_create(&setter, NULL, use_data ? set_data : set_config, NULL);
	pthread_mutex_lock(&lock);
	while (!finished)
		pthread_cond_wait(&finished_set, &lock);
	pthread_mutex_unlock(&lock);
	pthread_join(setter, NULL);
	pthread_join(w, NULL);
	return 0;
}
