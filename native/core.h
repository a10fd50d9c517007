/* core.h - what the Python binding (module.c) needs from the runtime. */
#ifndef QF_CORE_H
#define QF_CORE_H

#include <stdint.h>
#include "qf.h"
#include "qf_sched.h"

/* Labels the core itself writes into traces; target labels are 0..n_labels-1. */
enum {
	QF_L_CORE = 1000,
	QF_L_RUN = QF_L_CORE,  /* a thread picks its next task */
	QF_L_CLOCK,            /* the clock jumps to the next timer */
	QF_L_TIMER,            /* a task's timer fires */
	QF_L_BLOCK,            /* a thread waits for a lock */
	QF_L_IDLE,             /* a thread has nothing to do */
	QF_L_FAIL,             /* the verdict */
	QF_L_YIELD,
	QF_L_BUDGET,           /* the step budget ran out outside any spin loop */
	QF_L_JITTER,           /* a due timer waits for a later one (value: its new due time) */
	QF_L_END
};

/* Trace record kinds */
enum { QF_EV_OP = 0, QF_EV_NOTE = 1, QF_EV_CLOCK = 2, QF_EV_TIMER = 3, QF_EV_BLOCK = 4, QF_EV_FAIL = 5 };

/* One trace record: this header, then ncounters int32 counter values. */
typedef struct qf_trace_head {
	uint32_t step;
	uint32_t time;
	int16_t label;
	uint8_t thread; /* 255: the core */
	uint8_t kind;
	int16_t request;
	int16_t pad;
	int32_t value;
} qf_trace_head;

#define QF_NFEAT (1 << 14)
extern uint8_t qf_features[QF_NFEAT];

typedef struct qf_run_args {
	const qf_target *target;
	uint32_t variant;
	const int32_t *workload;
	int nworkload;
	int sched_kind;
	uint64_t seed;
	int depth, k;
	const uint8_t *data;
	int ndata;
	int fallback_random;
	int budget;       /* step budget (LIVELOCK beyond) */
	int cpu;          /* pin the execution to this CPU, -1: do not pin */
	int trace;        /* record the event trace */
	int features;     /* update the coverage feature counters */
	int jitter;       /* timer window in virtual time (core.c, timer jitter); 0: off */
	int sites;        /* programs (native/rt): record each trace record's call site */
} qf_run_args;

typedef struct qf_run_result {
	qf_verdict verdict;
	int steps;
	int switches;
	int preemptions;
	int rare_hits;    /* hits on features hit fewer than QF_RARE (core.c) times before */
	uint32_t end_time;
	int nthreads;
	const uint8_t *decisions;
	int ndecisions;
	const uint8_t *trace;
	int trace_bytes;
	int trace_stride;
	int ncounters;
	int trace_truncated;
	char error[200];  /* setup error (invalid workload); empty when fine */
	const uint64_t *sites; /* with args.sites: one call site per trace record, else NULL */
} qf_run_result;

/* Run one execution.  Returns 0, or -1 with result->error set. */
int qf_run(const qf_run_args *args, qf_run_result *result);

/* Hooks for the runtime of unmodified programs (native/rt, core.c's end). */
extern uint64_t qf_rt_site[QF_MAX_THREADS];
void qf_rt_point(int label, const void *obj, int write);
void qf_rt_done(int label, int value);
void qf_rt_feature(uint32_t a, uint32_t b);
int qf_rt_thread_new(void);
void qf_rt_wait(uint32_t deadline);
void qf_rt_unpark(int tid);
int qf_rt_clock_jump(uint32_t quantum, int to_timer);
void qf_rt_progress(void);
uint32_t qf_rt_next_timer(void);
int qf_rt_nthreads(void);
void qf_rt_end(void) __attribute__((noreturn));
void qf_rt_pool_forget(void);

#endif
