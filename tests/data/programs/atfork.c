/* Registers fork handlers, as libraries do, and tries to fork.  Under qfuzz
 * fork() fails (ENOSYS), so the handlers must never run, least of all at
 * qfuzz's own forks: prepare() aborts if it ever does.  setenv() makes qfuzz
 * run each execution in a forked child. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void prepare(void)
{
	abort(); /* a handler that takes the program's locks would hang here */
}

static void *work(void *arg)
{
	return arg;
}

int main(void)
{
	pthread_t t;

	if (pthread_atfork(prepare, NULL, NULL) != 0)
		return 3;
	setenv("ATFORK_TEST", "1", 1);
	pthread_create(&t, NULL, work, NULL);
	pthread_join(t, NULL);
	if (fork() != -1 || errno != ENOSYS)
		return 4;
	return 0;
}
