/* coverage.c - hand the interleaving-feature counters to libFuzzer.
 *
 * qf_features (core.c) are libFuzzer-style inline 8-bit counters.  atheris
 * loads its libFuzzer with RTLD_LOCAL inside Fuzz(), after this extension,
 * so nothing here links against it: the caller names the loaded libFuzzer
 * shared object and we look the two registration hooks up in it
 * (RTLD_NOLOAD: only if it is already in the process).  libFuzzer accepts a
 * module registered after it started (on the first input).  The PC table is
 * fake but unique: one entry per counter, as libFuzzer requires.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>

#include "core.h"

static uintptr_t pc_table[2 * QF_NFEAT] __attribute__((aligned(64)));
static int registered;

typedef void (*counters_init_fn)(uint8_t *, uint8_t *);
typedef void (*pcs_init_fn)(const uintptr_t *, const uintptr_t *);

/* Register the counters with the libFuzzer in shared object `lib` (already
 * loaded).  Idempotent.  Returns 0, or -1 with a reason in err. */
int qf_cov_register(const char *lib, char *err, int errlen)
{
	if (registered)
		return 0;
	/* "" = libFuzzer is linked into the process itself (a sanitizer build) */
	void *h = dlopen(lib && *lib ? lib : NULL, RTLD_NOW | RTLD_NOLOAD);
	if (!h) {
		snprintf(err, (size_t)errlen, "libFuzzer is not loaded (%s)", dlerror());
		return -1;
	}
	counters_init_fn counters_init;
	pcs_init_fn pcs_init;
	*(void **)&counters_init = dlsym(h, "__sanitizer_cov_8bit_counters_init");
	*(void **)&pcs_init = dlsym(h, "__sanitizer_cov_pcs_init");
	if (!counters_init || !pcs_init) {
		snprintf(err, (size_t)errlen, "%s has no __sanitizer_cov_8bit_counters_init/__sanitizer_cov_pcs_init", lib);
		dlclose(h);
		return -1;
	}
	for (int i = 0; i < QF_NFEAT; i++) {
		pc_table[2 * i] = (uintptr_t)&qf_features[i]; /* unique, stable "PC" */
		pc_table[2 * i + 1] = 0;                      /* not a function entry */
	}
	counters_init(qf_features, qf_features + QF_NFEAT);
	pcs_init(pc_table, pc_table + 2 * QF_NFEAT);
	registered = 1; /* the handle stays open: libFuzzer keeps our pointers */
	return 0;
}
