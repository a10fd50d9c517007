/* fds.c - descriptors the program opens, and calls that may block outside
 * the runtime's control.
 *
 * Every descriptor (and FILE) opened through a wrapped call is remembered
 * and closed by the next reset.  A read, write, accept, poll, ... that
 * would block right now (poll() with a zero timeout says not ready, and the
 * descriptor is not O_NONBLOCK) ends the execution with QF_BLOCKING naming
 * the call: only the kernel or another process could unblock it, so it
 * would hang the campaign.  Calls that would not block go to the kernel.
 * Writes to stdout and stderr are captured (proc.c). */
#define _GNU_SOURCE
#include "rt.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_FD 4096
static uint8_t opened[MAX_FD];
static int fd_high; /* every tracked fd is below it: the reset looks no further */
static FILE *files[256];
static int nfiles;

void rt_capture(const char *s, size_t n); /* proc.c */

static int track(int fd)
{
	if (fd >= 0 && fd < MAX_FD && rt_on()) {
		opened[fd] = 1;
		if (fd >= fd_high)
			fd_high = fd + 1;
	}
	return fd;
}

static void untrack(int fd)
{
	if (fd >= 0 && fd < MAX_FD)
		opened[fd] = 0;
}

void rt_fds_reset(void)
{
	for (int i = 0; i < nfiles; i++)
		if (files[i]) {
			untrack(fileno(files[i]));
			fclose(files[i]);
		}
	nfiles = 0;
	for (int fd = 0; fd < fd_high; fd++)
		if (opened[fd]) {
			opened[fd] = 0;
			close(fd);
		}
	fd_high = 0;
}

static void blocking(const char *call, int fd, const void *ra) __attribute__((noreturn));
static void blocking(const char *call, int fd, const void *ra)
{
	int me = rt_op(RL_BLOCKING, 0, 0, ra);
	rt_done(me, RL_BLOCKING, fd, 0);
	qf_verdict v;
	qf_verdict_init(&v, QF_BLOCKING);
	v.thread_a = me;
	v.label_a = RL_BLOCKING;
	v.step_a = qf_step();
	v.object = fd;
	R.site_a = qf_rt_site[me];
	if (fd >= 0)
		snprintf(v.detail, sizeof v.detail, "%s(fd %d) would block outside qfuzz's control", call, fd);
	else
		snprintf(v.detail, sizeof v.detail, "%s() would block outside qfuzz's control", call);
	qf_fail(&v);
	abort();
}

/* Would an operation waiting for `events` on fd block now? */
static int would_block(int fd, short events)
{
	struct pollfd p = {fd, events, 0};
	if (poll(&p, 1, 0) != 0)
		return 0; /* ready, or an error the call itself will report */
	int fl = fcntl(fd, F_GETFL);
	return fl >= 0 && !(fl & O_NONBLOCK);
}

#define GUARD(call, fd, ev) \
	do { \
		if (rt_on() && would_block(fd, ev)) \
			blocking(call, fd, RA); \
	} while (0)

/* ---- opening and closing ------------------------------------------------- */

int __wrap_open(const char *path, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	mode_t mode = (flags & (O_CREAT | O_TMPFILE)) ? va_arg(ap, mode_t) : 0;
	va_end(ap);
	return track(open(path, flags, mode));
}

int __wrap_open64(const char *path, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	mode_t mode = (flags & (O_CREAT | O_TMPFILE)) ? va_arg(ap, mode_t) : 0;
	va_end(ap);
	return track(open(path, flags, mode));
}

int __wrap_openat(int dir, const char *path, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	mode_t mode = (flags & (O_CREAT | O_TMPFILE)) ? va_arg(ap, mode_t) : 0;
	va_end(ap);
	return track(openat(dir, path, flags, mode));
}

int __wrap_creat(const char *path, mode_t mode)
{
	return track(creat(path, mode));
}

int __wrap_close(int fd)
{
	if (rt_on() && fd >= 0 && fd <= 2)
		return 0; /* the harness's own stdin/stdout/stderr stay open */
	untrack(fd);
	return close(fd);
}

int __wrap_pipe(int fds[2])
{
	int rc = pipe(fds);
	if (!rc)
		track(fds[0]), track(fds[1]);
	return rc;
}

int __wrap_pipe2(int fds[2], int flags)
{
	int rc = pipe2(fds, flags);
	if (!rc)
		track(fds[0]), track(fds[1]);
	return rc;
}

int __wrap_socket(int domain, int type, int proto)
{
	return track(socket(domain, type, proto));
}

int __wrap_socketpair(int domain, int type, int proto, int fds[2])
{
	int rc = socketpair(domain, type, proto, fds);
	if (!rc)
		track(fds[0]), track(fds[1]);
	return rc;
}

int __wrap_dup(int fd)
{
	return track(dup(fd));
}

int __wrap_dup2(int fd, int to)
{
	if (rt_on() && to >= 0 && to <= 2) {
		errno = EBADF; /* redirecting stdin/stdout/stderr would redirect the harness's */
		return -1;
	}
	return track(dup2(fd, to));
}

int __wrap_dup3(int fd, int to, int flags)
{
	if (rt_on() && to >= 0 && to <= 2) {
		errno = EBADF;
		return -1;
	}
	return track(dup3(fd, to, flags));
}

int __wrap_eventfd(unsigned init, int flags)
{
	return track(eventfd(init, flags));
}

int __wrap_epoll_create(int size)
{
	return track(epoll_create(size));
}

int __wrap_epoll_create1(int flags)
{
	return track(epoll_create1(flags));
}

static FILE *track_file(FILE *f)
{
	if (f && rt_on() && nfiles < 256)
		files[nfiles++] = f;
	return f;
}

FILE *__wrap_fopen(const char *path, const char *mode)
{
	return track_file(fopen(path, mode));
}

FILE *__wrap_fopen64(const char *path, const char *mode)
{
	return track_file(fopen(path, mode));
}

FILE *__wrap_fdopen(int fd, const char *mode)
{
	FILE *f = fdopen(fd, mode);
	if (f && !track_file(f))
		return f;
	if (f)
		untrack(fd); /* the FILE owns it now */
	return f;
}

int __wrap_fclose(FILE *f)
{
	for (int i = 0; i < nfiles; i++)
		if (files[i] == f)
			files[i] = files[--nfiles];
	if (rt_on() && (f == stdout || f == stderr || f == stdin))
		return 0;
	return fclose(f);
}

/* ---- calls that may block ------------------------------------------------- */

ssize_t __wrap_read(int fd, void *buf, size_t n)
{
	GUARD("read", fd, POLLIN);
	return read(fd, buf, n);
}

ssize_t __wrap_write(int fd, const void *buf, size_t n)
{
	if (rt_on() && (fd == 1 || fd == 2)) {
		rt_capture(buf, n);
		return (ssize_t)n;
	}
	GUARD("write", fd, POLLOUT);
	return write(fd, buf, n);
}

ssize_t __wrap_readv(int fd, const struct iovec *iov, int n)
{
	GUARD("readv", fd, POLLIN);
	return readv(fd, iov, n);
}

ssize_t __wrap_writev(int fd, const struct iovec *iov, int n)
{
	GUARD("writev", fd, POLLOUT);
	return writev(fd, iov, n);
}

ssize_t __wrap_recv(int fd, void *buf, size_t n, int flags)
{
	if (!(flags & MSG_DONTWAIT))
		GUARD("recv", fd, POLLIN);
	return recv(fd, buf, n, flags);
}

ssize_t __wrap_recvfrom(int fd, void *buf, size_t n, int flags, struct sockaddr *a, socklen_t *al)
{
	if (!(flags & MSG_DONTWAIT))
		GUARD("recvfrom", fd, POLLIN);
	return recvfrom(fd, buf, n, flags, a, al);
}

ssize_t __wrap_recvmsg(int fd, struct msghdr *m, int flags)
{
	if (!(flags & MSG_DONTWAIT))
		GUARD("recvmsg", fd, POLLIN);
	return recvmsg(fd, m, flags);
}

ssize_t __wrap_send(int fd, const void *buf, size_t n, int flags)
{
	if (!(flags & MSG_DONTWAIT))
		GUARD("send", fd, POLLOUT);
	return send(fd, buf, n, flags);
}

ssize_t __wrap_sendto(int fd, const void *buf, size_t n, int flags, const struct sockaddr *a, socklen_t al)
{
	if (!(flags & MSG_DONTWAIT))
		GUARD("sendto", fd, POLLOUT);
	return sendto(fd, buf, n, flags, a, al);
}

ssize_t __wrap_sendmsg(int fd, const struct msghdr *m, int flags)
{
	if (!(flags & MSG_DONTWAIT))
		GUARD("sendmsg", fd, POLLOUT);
	return sendmsg(fd, m, flags);
}

int __wrap_accept(int fd, struct sockaddr *a, socklen_t *al)
{
	GUARD("accept", fd, POLLIN);
	return track(accept(fd, a, al));
}

int __wrap_accept4(int fd, struct sockaddr *a, socklen_t *al, int flags)
{
	GUARD("accept4", fd, POLLIN);
	return track(accept4(fd, a, al, flags));
}

int __wrap_connect(int fd, const struct sockaddr *a, socklen_t al)
{
	return connect(fd, a, al); /* loopback connects complete at once or fail */
}

/* A sleep written as poll/select on nothing. */
static void sleep_ms(long ms, const void *ra)
{
	int me = rt_op(RL_SLEEP, 0, 0, ra);
	rt_done(me, RL_SLEEP, (int)ms, 0);
	long long d = (long long)qf_now() + ms * 1000;
	rt_wait(me, 0, W_SLEEP, d >= RT_HORIZON ? RT_HORIZON : (uint32_t)d, 0, RL_SLEEP);
}

int __wrap_poll(struct pollfd *fds, nfds_t n, int timeout)
{
	if (!rt_on() || timeout == 0)
		return poll(fds, n, timeout);
	if (n == 0) {
		if (timeout < 0)
			blocking("poll", -1, RA);
		sleep_ms(timeout, RA);
		return 0;
	}
	int rc = poll(fds, n, 0);
	if (rc == 0)
		blocking("poll", fds[0].fd, RA);
	return rc;
}

int __wrap_ppoll(struct pollfd *fds, nfds_t n, const struct timespec *t, const sigset_t *mask)
{
	if (!rt_on() || (t && !t->tv_sec && !t->tv_nsec))
		return ppoll(fds, n, t, mask);
	struct timespec zero = {0, 0};
	int rc = ppoll(fds, n, &zero, mask);
	if (rc == 0) {
		if (n == 0 && t) {
			sleep_ms(t->tv_sec * 1000 + t->tv_nsec / 1000000, RA);
			return 0;
		}
		blocking("ppoll", n ? fds[0].fd : -1, RA);
	}
	return rc;
}

int __wrap_select(int n, fd_set *r, fd_set *w, fd_set *e, struct timeval *t)
{
	if (!rt_on() || (t && !t->tv_sec && !t->tv_usec))
		return select(n, r, w, e, t);
	if (n == 0 && t) {
		sleep_ms(t->tv_sec * 1000 + t->tv_usec / 1000, RA);
		return 0;
	}
	struct timeval zero = {0, 0};
	int rc = select(n, r, w, e, &zero);
	if (rc == 0)
		blocking("select", -1, RA);
	return rc;
}

int __wrap_pselect(int n, fd_set *r, fd_set *w, fd_set *e, const struct timespec *t, const sigset_t *mask)
{
	if (!rt_on() || (t && !t->tv_sec && !t->tv_nsec))
		return pselect(n, r, w, e, t, mask);
	struct timespec zero = {0, 0};
	int rc = pselect(n, r, w, e, &zero, mask);
	if (rc == 0)
		blocking("pselect", -1, RA);
	return rc;
}

int __wrap_epoll_wait(int ep, struct epoll_event *ev, int max, int timeout)
{
	if (!rt_on() || timeout == 0)
		return epoll_wait(ep, ev, max, timeout);
	int rc = epoll_wait(ep, ev, max, 0);
	if (rc == 0)
		blocking("epoll_wait", ep, RA);
	return rc;
}

int __wrap_epoll_pwait(int ep, struct epoll_event *ev, int max, int timeout, const sigset_t *mask)
{
	if (!rt_on() || timeout == 0)
		return epoll_pwait(ep, ev, max, timeout, mask);
	int rc = epoll_pwait(ep, ev, max, 0, mask);
	if (rc == 0)
		blocking("epoll_pwait", ep, RA);
	return rc;
}

int __wrap_pause(void)
{
	if (rt_on())
		blocking("pause", -1, RA);
	return pause();
}

int __wrap_sigwait(const sigset_t *set, int *sig)
{
	if (rt_on())
		blocking("sigwait", -1, RA);
	return sigwait(set, sig);
}

pid_t __wrap_wait(int *status)
{
	(void)status;
	errno = ECHILD; /* a program has no children here (fork is not supported) */
	return -1;
}

pid_t __wrap_waitpid(pid_t pid, int *status, int options)
{
	(void)pid, (void)status, (void)options;
	errno = ECHILD;
	return -1;
}

int __wrap_flock(int fd, int op)
{
	if (!rt_on() || (op & LOCK_NB) || (op & LOCK_UN))
		return flock(fd, op);
	int rc = flock(fd, op | LOCK_NB);
	if (rc < 0 && errno == EWOULDBLOCK)
		blocking("flock", fd, RA);
	return rc;
}

int __wrap_lockf(int fd, int cmd, off_t len)
{
	if (!rt_on() || cmd != F_LOCK)
		return lockf(fd, cmd, len);
	int rc = lockf(fd, F_TLOCK, len);
	if (rc < 0 && (errno == EACCES || errno == EAGAIN))
		blocking("lockf", fd, RA);
	return rc;
}
