/* proc.c - how a program ends, and what it prints.
 *
 * exit(), returning from main, abort() and a failed assert() end the
 * execution (the other threads are simply not run again): status 0 is OK,
 * anything else QF_FAIL with the message.  atexit handlers run on the
 * exiting thread.  Output to stdout and stderr is captured per execution
 * (the first RT_OUT bytes, handed back as "output") instead of flooding
 * the campaign's terminal.  rand()/random() are per execution, seeded 1
 * unless the program seeds them. */
#define _GNU_SOURCE
#include "rt.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void rt_capture(const char *s, size_t n)
{
	size_t room = sizeof R.out - (size_t)R.nout;
	if (n > room)
		n = room;
	memcpy(R.out + R.nout, s, n);
	R.nout += (int)n;
}

static int captured(FILE *f)
{
	return rt_on() && (f == stdout || f == stderr);
}

static int capture_v(const char *fmt, va_list ap)
{
	char buf[1024];
	int n = vsnprintf(buf, sizeof buf, fmt, ap);
	if (n > 0)
		rt_capture(buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
	return n;
}

void __wrap_exit(int status)
{
	if (!rt_on())
		exit(status);
	int me = qf_self();
	qf_rt_site[me] = (uint64_t)((uintptr_t)RA - R.prog->base - 1);
	rt_frame[me] = rt_caller_frame;
	rt_proc_exit(me, status);
}

void __wrap__exit(int status)
{
	if (!rt_on())
		_exit(status);
	int me = qf_self();
	qf_rt_site[me] = (uint64_t)((uintptr_t)RA - R.prog->base - 1);
	rt_frame[me] = rt_caller_frame;
	R.exiting = 1; /* no atexit handlers */
	rt_proc_exit(me, status);
}

void __wrap__Exit(int status)
{
	__wrap__exit(status);
}

void __wrap_abort(void)
{
	if (!rt_on())
		abort();
	int me = rt_op(RL_PROC_EXIT, 0, 1, RA);
	rt_fail(me, QF_FAIL, RL_PROC_EXIT, "the program called abort()");
}

void __wrap___assert_fail(const char *expr, const char *file, unsigned line, const char *func)
{
	if (!rt_on()) {
		fprintf(stderr, "%s:%u: %s: Assertion `%s' failed.\n", file, line, func, expr);
		abort();
	}
	int me = rt_op(RL_PROC_EXIT, 0, 1, RA);
	rt_fail(me, QF_FAIL, RL_PROC_EXIT, "assertion failed: %s (%s:%u, %s)", expr, file, line, func);
}

void __wrap___assert_perror_fail(int err, const char *file, unsigned line, const char *func)
{
	if (!rt_on())
		abort();
	int me = rt_op(RL_PROC_EXIT, 0, 1, RA);
	rt_fail(me, QF_FAIL, RL_PROC_EXIT, "assertion failed: %s (%s:%u, %s)", strerror(err), file, line, func);
}

int __wrap_atexit(void (*fn)(void))
{
	if (!rt_on())
		return 0; /* a constructor's handler: the process's exit is not the program's */
	if (R.natexit >= 32)
		return -1;
	R.atexit_fn[R.natexit++] = fn;
	return 0;
}

pid_t __wrap_fork(void)
{
	errno = ENOSYS; /* the program is not its own process here (README.md) */
	return -1;
}

/* Accepted and dropped: the program's fork() never succeeds here, so its
 * handlers have no fork to run at; registered with glibc they would run at
 * qfuzz's own forks (the fork reset, crash isolation), outside any
 * execution, in qfuzz's process. */
int __wrap_pthread_atfork(void (*prepare)(void), void (*parent)(void), void (*child)(void))
{
	(void)prepare;
	(void)parent;
	(void)child;
	return 0;
}

/* ---- rand: one stream per execution --------------------------------------- */

static uint64_t rand_state = 1;

void rt_rand_reset(void)
{
	rand_state = 1;
}

static int next_rand(void)
{
	rand_state = rand_state * 6364136223846793005ULL + 1442695040888963407ULL;
	return (int)((rand_state >> 33) & 0x7fffffff);
}

int __wrap_rand(void) { return next_rand(); }
long __wrap_random(void) { return next_rand(); }
void __wrap_srand(unsigned s) { rand_state = s; }
void __wrap_srandom(unsigned s) { rand_state = s; }

/* ---- output ---------------------------------------------------------------- */

int __wrap_vprintf(const char *fmt, va_list ap)
{
	if (!rt_on())
		return vprintf(fmt, ap);
	return capture_v(fmt, ap);
}

int __wrap_printf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = __wrap_vprintf(fmt, ap);
	va_end(ap);
	return n;
}

int __wrap_vfprintf(FILE *f, const char *fmt, va_list ap)
{
	if (!captured(f))
		return vfprintf(f, fmt, ap);
	return capture_v(fmt, ap);
}

int __wrap_fprintf(FILE *f, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = __wrap_vfprintf(f, fmt, ap);
	va_end(ap);
	return n;
}

int __wrap___printf_chk(int flag, const char *fmt, ...)
{
	(void)flag;
	va_list ap;
	va_start(ap, fmt);
	int n = __wrap_vprintf(fmt, ap);
	va_end(ap);
	return n;
}

int __wrap___fprintf_chk(FILE *f, int flag, const char *fmt, ...)
{
	(void)flag;
	va_list ap;
	va_start(ap, fmt);
	int n = __wrap_vfprintf(f, fmt, ap);
	va_end(ap);
	return n;
}

int __wrap___vfprintf_chk(FILE *f, int flag, const char *fmt, va_list ap)
{
	(void)flag;
	return __wrap_vfprintf(f, fmt, ap);
}

int __wrap___vprintf_chk(int flag, const char *fmt, va_list ap)
{
	(void)flag;
	return __wrap_vprintf(fmt, ap);
}

int __wrap_puts(const char *s)
{
	if (!rt_on())
		return puts(s);
	rt_capture(s, strlen(s));
	rt_capture("\n", 1);
	return 1;
}

int __wrap_fputs(const char *s, FILE *f)
{
	if (!captured(f))
		return fputs(s, f);
	rt_capture(s, strlen(s));
	return 1;
}

int __wrap_fputc(int c, FILE *f)
{
	if (!captured(f))
		return fputc(c, f);
	char ch = (char)c;
	rt_capture(&ch, 1);
	return (unsigned char)c;
}

int __wrap_putc(int c, FILE *f)
{
	return __wrap_fputc(c, f);
}

int __wrap_putchar(int c)
{
	return __wrap_fputc(c, stdout);
}

size_t __wrap_fwrite(const void *p, size_t size, size_t n, FILE *f)
{
	if (!captured(f))
		return fwrite(p, size, n, f);
	rt_capture(p, size * n);
	return n;
}

void __wrap_perror(const char *s)
{
	if (!rt_on()) {
		perror(s);
		return;
	}
	char buf[300];
	int n = snprintf(buf, sizeof buf, "%s%s%s\n", s && *s ? s : "", s && *s ? ": " : "", strerror(errno));
	rt_capture(buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}
