/* stress.h - the free-running implementation of qf.h, as the Python
 * binding (module_stress.c) sees it.
 *
 * The same target C code as in harness._native runs here on real pthreads
 * that are not scheduled by anything: schedule points only record an event
 * (and, as noise, sometimes spin a little), locks and atomics are real, and
 * time is the wall clock.  One *round* runs one workload from setup() until
 * every task is finished (or a verdict, or the watchdog, stops it); see
 * docs/stress.md. */
#ifndef QF_STRESS_H
#define QF_STRESS_H

#include <stdint.h>
#include "qf.h"

#define QFS_RING 2048 /* events kept per thread (a power of two) */

/* One recorded event: a schedule point that took effect, a note, a timer. */
typedef struct qfs_event {
	int64_t ns;      /* since the round began */
	int32_t label;   /* target label, or a core label (core.h: QF_L_*) */
	int32_t value;   /* value read / written / lock id / task */
	int16_t request; /* request of the task being run, -1 none */
	uint8_t thread;
	uint8_t kind;    /* QF_EV_* (core.h) */
	uint32_t pad;
} qfs_event;

typedef struct qfs_args {
	const qf_target *target;
	uint32_t variant;
	const int32_t *workload;
	int nworkload;
	int64_t unit_ns;  /* real nanoseconds per unit of the workload's time */
	double noise;     /* probability that a schedule point spins first */
	int64_t noise_ns; /* the longest such spin */
	uint64_t seed;    /* noise generator */
	int64_t hang_ns;  /* CPU time one task (or an oracle hook) may use: beyond, DEADLOCK or LIVELOCK */
	int64_t limit_ns; /* a round still running after this long: LIVELOCK */
} qfs_args;

typedef struct qfs_result {
	qf_verdict verdict;
	int nthreads;
	int64_t ns;        /* how long the round ran */
	int64_t detect_ns; /* when the verdict was given (-1: none) */
	uint32_t end_time; /* the workload clock at the end */
	int64_t steps;     /* schedule points, all threads */
	int wedged;        /* a thread did not stop: the process cannot run more rounds */
	char error[200];   /* setup error (invalid workload); empty when fine */
} qfs_result;

/* Run one round.  Returns 0, or -1 with result->error set.  One round at a
 * time per process (callers are serialized). */
int qfs_round(const qfs_args *args, qfs_result *result);

/* The last round's events in time order, from the point where every
 * thread's ring still holds its events.  Writes at most `max`; returns how
 * many. */
int qfs_events(qfs_event *out, int max);

#endif
