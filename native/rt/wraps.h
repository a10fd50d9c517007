/* wraps.h - every call the runtime wraps: build.py links prog.so with
 * -Wl,--wrap=<name> for each (through core.rt_build_info()), and the runtime
 * defines __wrap_<name> for each (tests/test_runtime.py checks both).  One
 * list, one place. */
#define RT_WRAPS(X)                                                                                       \
	/* threads (threads.c) */                                                                         \
	X(pthread_create) X(pthread_join) X(pthread_exit) X(pthread_detach) X(pthread_self)              \
	X(pthread_equal) X(pthread_once) X(pthread_key_create) X(pthread_key_delete)                     \
	X(pthread_getspecific) X(pthread_setspecific) X(pthread_setname_np) X(pthread_getname_np)        \
	X(pthread_setaffinity_np) X(pthread_cancel) X(pthread_kill) X(pthread_tryjoin_np)                \
	X(pthread_timedjoin_np)                                                                           \
	/* locks and condition variables (sync.c) */                                                      \
	X(pthread_mutex_init) X(pthread_mutex_destroy) X(pthread_mutex_lock) X(pthread_mutex_trylock)    \
	X(pthread_mutex_timedlock) X(pthread_mutex_clocklock) X(pthread_mutex_unlock)                    \
	X(pthread_cond_init) X(pthread_cond_destroy) X(pthread_cond_wait) X(pthread_cond_timedwait)      \
	X(pthread_cond_clockwait) X(pthread_cond_signal) X(pthread_cond_broadcast)                       \
	X(pthread_rwlock_init) X(pthread_rwlock_destroy) X(pthread_rwlock_rdlock)                        \
	X(pthread_rwlock_tryrdlock) X(pthread_rwlock_timedrdlock) X(pthread_rwlock_wrlock)               \
	X(pthread_rwlock_trywrlock) X(pthread_rwlock_timedwrlock) X(pthread_rwlock_unlock)               \
	X(pthread_spin_init) X(pthread_spin_destroy) X(pthread_spin_lock) X(pthread_spin_trylock)        \
	X(pthread_spin_unlock) X(pthread_barrier_init) X(pthread_barrier_destroy)                        \
	X(pthread_barrier_wait)                                                                           \
	X(sem_init) X(sem_destroy) X(sem_wait) X(sem_trywait) X(sem_timedwait) X(sem_clockwait)          \
	X(sem_post) X(sem_getvalue)                                                                       \
	/* futexes and other system calls (futex.c) */                                                    \
	X(syscall)                                                                                        \
	/* time (time.c) */                                                                               \
	X(clock_gettime) X(gettimeofday) X(time) X(clock) X(nanosleep) X(clock_nanosleep) X(usleep)      \
	X(sleep) X(sched_yield) X(pthread_yield)                                                          \
	/* heap (heap.c) */                                                                               \
	X(malloc) X(calloc) X(realloc) X(reallocarray) X(free) X(posix_memalign) X(aligned_alloc)        \
	X(memalign) X(valloc) X(malloc_usable_size) X(strdup) X(strndup)                                  \
	/* files and blocking calls (fds.c) */                                                            \
	X(open) X(open64) X(openat) X(creat) X(close) X(pipe) X(pipe2) X(socket) X(socketpair) X(dup)   \
	X(dup2) X(dup3) X(eventfd) X(epoll_create) X(epoll_create1) X(fopen) X(fopen64) X(fdopen)        \
	X(fclose) X(read) X(write) X(readv) X(writev) X(recv) X(recvfrom) X(recvmsg) X(send) X(sendto)  \
	X(sendmsg) X(accept) X(accept4) X(connect) X(poll) X(ppoll) X(select) X(pselect) X(epoll_wait)  \
	X(epoll_pwait) X(pause) X(sigwait) X(wait) X(waitpid) X(flock) X(lockf)                           \
	/* the process (proc.c) */                                                                        \
	X(exit) X(_exit) X(_Exit) X(abort) X(__assert_fail) X(__assert_perror_fail) X(atexit)            \
	X(fork) X(pthread_atfork) X(rand) X(srand) X(random) X(srandom)                                  \
	X(printf) X(vprintf) X(fprintf) X(vfprintf) X(puts) X(fputs) X(putchar) X(fputc) X(putc)        \
	X(fwrite) X(perror) X(__printf_chk) X(__fprintf_chk) X(__vfprintf_chk) X(__vprintf_chk)
