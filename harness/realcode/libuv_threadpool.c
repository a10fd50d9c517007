/* Drives libuv's thread pool (src/threadpool.c and src/unix/thread.c,
 * compiled unmodified from Debian's libuv1 source) the way uv_queue_work's
 * users do, with the event loop's side played by this file.
 *
 *   usage: libuv_threadpool [THREADS [JOBS]]     (defaults 2 2)
 *
 * libuv's workers wait on a condition variable for work and hand finished
 * work back through uv_async_send(), which in libuv writes an eventfd that
 * uv_run() polls with epoll_wait.  qfuzz's runtime does not model
 * in-process file descriptors (an epoll_wait would be an uncontrolled
 * blocking call), so this driver stands in for the loop: its uv_async_send()
 * signals a condition variable, and main() waits on it and then calls
 * libuv's own uv__work_done(), which runs the after-work callbacks, exactly
 * as the loop's async handle would.  Every line of the pool itself is
 * libuv's.  main() checks that each job ran once and its after-work
 * callback once, then shuts the pool down (uv__threadpool_cleanup joins the
 * workers).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "uv.h"
#include "uv-common.h"
#include "unix/internal.h"

#define MAX_JOBS 64

/* The loop side: what uv_async_send() would wake. */
static pthread_mutex_t loop_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t loop_wakeup = PTHREAD_COND_INITIALIZER;
static int async_pending; /* under loop_lock */

int uv_async_send(uv_async_t *handle)
{
	(void)handle;
	pthread_mutex_lock(&loop_lock);
	async_pending = 1;
	pthread_cond_signal(&loop_wakeup);
	pthread_mutex_unlock(&loop_lock);
	return 0;
}

/* uv-common.c's allocator, without the replaceable-allocator machinery. */
void *uv__malloc(size_t size)
{
	return size ? malloc(size) : NULL;
}

void uv__free(void *ptr)
{
	free(ptr);
}

/* src/unix/linux-core.c's clock, for uv_cond_timedwait (unused by the pool). */
uint64_t uv__hrtime(uv_clocktype_t type)
{
	struct timespec t;
	(void)type;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* libuv reads the pool's size from the environment (UV_THREADPOOL_SIZE).
 * The build maps libuv's getenv() to this function (-Dgetenv=...), so the
 * size comes from our command line: a setenv() would outlive the execution
 * (and make qfuzz fall back to a process per execution). */
#ifndef getenv
#error "build with -Dgetenv=libuv_driver_getenv"
#endif
static char pool_size[16];

char *getenv(const char *name)
{
	return strcmp(name, "UV_THREADPOOL_SIZE") == 0 ? pool_size : NULL;
}

static uv_loop_t loop;
static uv_work_t reqs[MAX_JOBS];
static int ran[MAX_JOBS], finished[MAX_JOBS];
static int jobs_finished; /* main thread only (after-work callbacks) */

static void work_cb(uv_work_t *req)
{
	ran[req - reqs]++; /* each request runs on one worker */
}

static void after_work_cb(uv_work_t *req, int status)
{
	if (status != 0) {
		fprintf(stderr, "libuv_threadpool: job %d finished with status %d\n", (int)(req - reqs), status);
		exit(1);
	}
	finished[req - reqs]++;
	jobs_finished++;
}

static int count_arg(int argc, char **argv, int i, int fallback)
{
	if (argc <= i)
		return fallback;
	char *end;
	long v = strtol(argv[i], &end, 10);
	if (*end || v < 1 || v > MAX_JOBS) {
		fprintf(stderr, "libuv_threadpool: argument %d must be a count from 1 to %d, not '%s'\n", i, MAX_JOBS, argv[i]);
		exit(2);
	}
	return (int)v;
}

int main(int argc, char **argv)
{
	int threads = count_arg(argc, argv, 1, 2);
	int jobs = count_arg(argc, argv, 2, 2);
	snprintf(pool_size, sizeof pool_size, "%d", threads);

	/* The parts of uv_loop_init() the pool touches. */
	memset(&loop, 0, sizeof loop);
	QUEUE_INIT(&loop.wq);
	if (uv_mutex_init(&loop.wq_mutex))
		abort();

	for (int i = 0; i < jobs; i++)
		uv_queue_work(&loop, &reqs[i], work_cb, after_work_cb);

	/* The loop: wait for the async handle, then run its callback. */
	while (jobs_finished < jobs) {
		pthread_mutex_lock(&loop_lock);
		while (!async_pending)
			pthread_cond_wait(&loop_wakeup, &loop_lock);
		async_pending = 0;
		pthread_mutex_unlock(&loop_lock);
		uv__work_done(&loop.wq_async);
	}

	uv__threadpool_cleanup();
	uv_mutex_destroy(&loop.wq_mutex);
	for (int i = 0; i < jobs; i++)
		if (ran[i] != 1 || finished[i] != 1) {
			fprintf(stderr, "libuv_threadpool: job %d ran %d times, finished %d times\n", i, ran[i], finished[i]);
			return 1;
		}
	if (loop.active_reqs.count != 0) {
		fprintf(stderr, "libuv_threadpool: %u requests still active\n", loop.active_reqs.count);
		return 1;
	}
	return 0;
}
