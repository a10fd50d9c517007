/* fork.c - the fallback reset: each execution in a forked child.
 *
 * For programs whose state cannot be restored in place (program.c,
 * reset_blockers) or on request (core.run(..., fork=1), the bench).  The
 * child starts from the state right after loading, creates its own pool
 * threads, runs the execution and pipes the result back: the fixed part of
 * the result, then decisions, trace, sites, output, the feature counters and
 * the critical events' call sites. */
#define _GNU_SOURCE
#include "rt.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static int put(int fd, const void *p, size_t n)
{
	const char *c = p;
	while (n) {
		ssize_t w = write(fd, c, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

static int get(int fd, void *p, size_t n)
{
	char *c = p;
	while (n) {
		ssize_t r = read(fd, c, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		c += r;
		n -= (size_t)r;
	}
	return 0;
}

/* The parent's copies of what the child sent (valid until the next run). */
static struct {
	uint8_t *dec, *trace;
	uint64_t *sites;
	size_t dec_cap, trace_cap, sites_cap;
} B;

static void *room(void *p, size_t *cap, size_t n)
{
	if (n <= *cap)
		return p;
	void *q = realloc(p, n);
	if (q)
		*cap = n;
	return q;
}

static int receive(int fd, qf_run_result *r)
{
	int rc;
	if (get(fd, &rc, sizeof rc) || get(fd, r, sizeof *r))
		return -2;
	if (rc < 0)
		return -1;
	size_t nsites = r->sites ? (size_t)r->trace_bytes / (size_t)r->trace_stride : 0;
	B.dec = room(B.dec, &B.dec_cap, (size_t)r->ndecisions + 1);
	B.trace = room(B.trace, &B.trace_cap, (size_t)r->trace_bytes + 1);
	B.sites = room(B.sites, &B.sites_cap, (nsites + 1) * sizeof(uint64_t));
	if (!B.dec || !B.trace || !B.sites)
		return -2;
	if (get(fd, B.dec, (size_t)r->ndecisions) || get(fd, B.trace, (size_t)r->trace_bytes) ||
	    get(fd, B.sites, nsites * sizeof(uint64_t)) || get(fd, &R.nout, sizeof R.nout) ||
	    get(fd, R.out, (size_t)R.nout) || get(fd, qf_features, QF_NFEAT) ||
	    get(fd, &R.site_a, sizeof R.site_a) || get(fd, &R.site_b, sizeof R.site_b) ||
	    get(fd, &R.caller_a, sizeof R.caller_a) || get(fd, &R.caller_b, sizeof R.caller_b))
		return -2;
	r->decisions = B.dec;
	r->trace = B.trace;
	r->sites = r->sites ? B.sites : 0;
	return 0;
}

static void child(int fd, const qf_run_args *a) __attribute__((noreturn));
static void child(int fd, const qf_run_args *a)
{
	/* a crash ends the child by its signal, quietly: not through a handler the
	 * parent installed (Python's faulthandler would print the parent's stack) */
	static const int CRASHES[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
	for (size_t i = 0; i < sizeof CRASHES / sizeof CRASHES[0]; i++)
		signal(CRASHES[i], SIG_DFL);
	qf_rt_pool_forget();
	qf_run_result r;
	int rc = qf_run(a, &r);
	size_t nsites = r.sites ? (size_t)r.trace_bytes / (size_t)r.trace_stride : 0;
	if (put(fd, &rc, sizeof rc) || put(fd, &r, sizeof r))
		_exit(1);
	if (rc == 0 && (put(fd, r.decisions, (size_t)r.ndecisions) || put(fd, r.trace, (size_t)r.trace_bytes) ||
			put(fd, r.sites, nsites * sizeof(uint64_t)) || put(fd, &R.nout, sizeof R.nout) ||
			put(fd, R.out, (size_t)R.nout) || put(fd, qf_features, QF_NFEAT) ||
			put(fd, &R.site_a, sizeof R.site_a) || put(fd, &R.site_b, sizeof R.site_b) ||
			put(fd, &R.caller_a, sizeof R.caller_a) || put(fd, &R.caller_b, sizeof R.caller_b)))
		_exit(1);
	_exit(0);
}

int qf_rt_run_forked(const qf_run_args *a, qf_run_result *r)
{
	int p[2];
	memset(r, 0, sizeof *r);
	if (pipe2(p, O_CLOEXEC) < 0) {
		snprintf(r->error, sizeof r->error, "cannot fork the program: %s", strerror(errno));
		return -1;
	}
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		snprintf(r->error, sizeof r->error, "cannot fork the program: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		/* dies with the thread that waits for it: a worker killed for hanging
		 * (hypothesis, the nightly job) must not leave a spinning program behind */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
			_exit(1);
		close(p[0]);
		child(p[1], a);
	}
	close(p[1]);
	int rc = receive(p[0], r);
	close(p[0]);
	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (rc == -2) {
		memset(r, 0, sizeof *r);
		if (WIFSIGNALED(status))
			snprintf(r->error, sizeof r->error, "the program's child process died of signal %d (%s)",
				 WTERMSIG(status), strsignal(WTERMSIG(status)));
		else
			snprintf(r->error, sizeof r->error, "the program's child process ended without a result (status %d)",
				 WEXITSTATUS(status));
		return -1;
	}
	return rc;
}
