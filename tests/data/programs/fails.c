/* An assertion that two unsynchronized read-modify-writes can break: the
 * increments are atomic loads and stores, not one atomic add. */
#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>

static atomic_int counter;

static void *bump(void *arg)
{
	(void)arg;
	int v = atomic_load(&counter);
	atomic_store(&counter, v + 1);
	return NULL;
}

int main(void)
{
	pthread_t a, b;

	pthread_create(&a, NULL, bump, NULL);
	pthread_create(&b, NULL, bump, NULL);
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	assert(atomic_load(&counter) == 2);
	return 0;
}
