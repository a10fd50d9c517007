/* atomic_counter.c - targets/pingpong's logic as an unmodified program: two
 * threads (main and one it creates) each add 1 to a shared counter argv[1]
 * times with an atomic fetch-add (bench/bench_runtime.py compares their
 * schedule points). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

static atomic_long counter;
static long rounds;

static void *adder(void *arg)
{
	for (long i = 0; i < rounds; i++)
		atomic_fetch_add(&counter, 1);
	return arg;
}

int main(int argc, char **argv)
{
	rounds = argc > 1 ? atol(argv[1]) : 10;
	pthread_t t;
	pthread_create(&t, NULL, adder, NULL);
	adder(NULL);
	pthread_join(t, NULL);
	return atomic_load(&counter) == 2 * rounds ? 0 : 1;
}
