/* build_info.c - how harness/program/build.py must compile and link a
 * program for this runtime (core.rt_build_info()): an installed qfuzz
 * builds programs from these, never from a source checkout. */
#include "rt.h"

/* Bump when a change here or in the wrap list makes old prog.so files
 * unusable (part of build.py's cache key). */
const int qf_rt_abi = 1;

/* -fsanitize=thread: atomics become __tsan_atomic* calls (atomics.c);
 * no function entry/exit hooks; -O1 -g keeps call sites symbolizable;
 * QFUZZ=1 turns qfuzz.h's annotations on. */
const char *const qf_rt_cflags[] = {
	"-fsanitize=thread", "--param=tsan-instrument-func-entry-exit=0", "-fPIC", "-g", "-O1",
	"-fno-omit-frame-pointer", "-DQFUZZ=1", 0,
};

/* No -fsanitize at link time (no libtsan); -z now: every relocation at
 * load, so restoring the writable segments never undoes a binding.
 * -nodefaultlibs, then qf_rt_ldlibs after the objects: libgcc.a defines a
 * __wrap_pthread_create of its own (split-stack support) that would
 * otherwise be linked in instead of the runtime's; the shared libgcc_s
 * has the arithmetic helpers without it (the libgcc_s.so linker script
 * would bring libgcc.a back, hence -l:libgcc_s.so.1). */
const char *const qf_rt_ldflags[] = {"-shared", "-nodefaultlibs", "-Wl,-z,now", "-Wl,-z,relro", 0};
const char *const qf_rt_ldlibs[] = {"-Wl,--as-needed", "-l:libgcc_s.so.1", "-Wl,--no-as-needed", "-lc", 0};
