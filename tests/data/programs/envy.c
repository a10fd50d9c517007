/* Sets an environment variable, which outlives an execution: qfuzz must run
 * each execution of this program in a forked child, and say so. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static void *check(void *arg)
{
	(void)arg;
	const char *v = getenv("QFUZZ_ENVY");
	return (void *)(v != NULL && strcmp(v, "1") == 0 ? (void *)0 : (void *)1);
}

int main(void)
{
	pthread_t t;
	void *bad;

	setenv("QFUZZ_ENVY", "1", 1);
	pthread_create(&t, NULL, check, NULL);
	pthread_join(t, &bad);
	return bad != NULL;
}
