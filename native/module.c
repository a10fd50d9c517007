/* module.c - the Python binding: one call into C per execution (run), or per
 * run of a workload's schedules (run_batch). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <time.h>

#include "core.h"
#include "rt/rt.h"

int qf_cov_register(const char *lib, char *err, int errlen); /* coverage.c */

/* setup.py defines QF_TARGET_LIST as X(name) X(name2) ... from targets/ */
#ifndef QF_TARGET_LIST
#error "QF_TARGET_LIST must be defined by the build"
#endif
#define X(n) extern const qf_target qf_target_##n;
QF_TARGET_LIST
#undef X
#define X(n) &qf_target_##n,
static const qf_target *const TARGETS[] = {QF_TARGET_LIST};
#undef X
#define NTARGETS ((int)(sizeof TARGETS / sizeof TARGETS[0]))

static PyObject *py_targets(PyObject *self, PyObject *noargs)
{
	(void)self;
	(void)noargs;
	PyObject *out = PyList_New(NTARGETS);
	for (int i = 0; i < NTARGETS; i++) {
		const qf_target *t = TARGETS[i];
		PyObject *labels = PyList_New(t->n_labels);
		for (int j = 0; j < t->n_labels; j++)
			PyList_SET_ITEM(labels, j,
					Py_BuildValue("(ss)", t->label_ids[j] ? t->label_ids[j] : "?",
						      t->labels[j] ? t->labels[j] : "?"));
		PyList_SET_ITEM(out, i, Py_BuildValue("(sN)", t->name, labels));
	}
	return out;
}

/* One execution's result as run() and run_batch() hand it to Python. */
static PyObject *result_dict(const qf_run_result *r)
{
	const qf_verdict *v = &r->verdict;
	return Py_BuildValue("{s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:I,s:I,s:s,s:y#,s:y#,s:i,s:i,s:i,s:i,s:i,s:I,s:i,s:i,s:i}",
			     "kind", v->kind, "path", v->path, "request", v->request, "object", v->object, "label_a",
			     v->label_a, "label_b", v->label_b, "step_a", v->step_a, "step_b", v->step_b, "thread_a",
			     v->thread_a, "thread_b", v->thread_b, "t_from", v->t_from, "t_at", v->t_at, "detail", v->detail,
			     "decisions", (const char *)r->decisions, (Py_ssize_t)r->ndecisions, "trace",
			     (const char *)r->trace, (Py_ssize_t)r->trace_bytes, "stride", r->trace_stride, "ncounters",
			     r->ncounters, "steps", r->steps, "switches", r->switches, "preemptions", r->preemptions,
			     "end_time", r->end_time, "nthreads", r->nthreads, "truncated", r->trace_truncated, "rare_hits",
			     r->rare_hits);
}

static PyObject *py_run(PyObject *self, PyObject *args, PyObject *kw)
{
	(void)self;
	static char *names[] = {"target", "variant", "workload", "scheduler", "seed", "depth", "k", "data",
				"fallback_random", "budget", "cpu", "trace", "features", "jitter", "fork", NULL};
	int target, sched, depth = 3, k = 100, fallback = 1, budget = 20000, cpu = -1, trace = 1, features = 1, jitter = 0;
	int fork = 0;
	unsigned int variant;
	unsigned long long seed = 0;
	Py_buffer wl = {0}, data = {0};
	if (!PyArg_ParseTupleAndKeywords(args, kw, "iIy*i|Kiiy*iiiiiii", names, &target, &variant, &wl, &sched, &seed,
					 &depth, &k, &data, &fallback, &budget, &cpu, &trace, &features, &jitter, &fork))
		return NULL;
	PyObject *ret = NULL;
	const qf_target *program = target >= NTARGETS ? qf_rt_target(target - NTARGETS) : NULL;
	if (target < 0 || (target >= NTARGETS && !program)) {
		PyErr_Format(PyExc_ValueError, "unknown target index %d", target);
		goto out;
	}
	if (wl.len % 4) {
		PyErr_SetString(PyExc_ValueError, "workload must be packed int32");
		goto out;
	}
	qf_run_args a = {
		.target = program ? program : TARGETS[target],
		.variant = variant,
		.workload = wl.buf,
		.nworkload = (int)(wl.len / 4),
		.sched_kind = sched,
		.seed = seed,
		.depth = depth,
		.k = k,
		.data = data.buf,
		.ndata = data.buf ? (int)data.len : 0,
		.fallback_random = fallback,
		.budget = budget,
		.cpu = cpu,
		.trace = trace,
		.features = features,
		.jitter = jitter,
		.sites = program != NULL,
	};
	qf_run_result r;
	int rc;
	const char *why = "";
	if (program && (qf_rt_reset_kind(target - NTARGETS, &why) || fork))
		fork = 1;
	else
		fork = 0;
	Py_BEGIN_ALLOW_THREADS rc = fork ? qf_rt_run_forked(&a, &r) : qf_run(&a, &r);
	Py_END_ALLOW_THREADS if (rc < 0)
	{
		PyErr_SetString(PyExc_ValueError, r.error);
		goto out;
	}
	const qf_verdict *v = &r.verdict;
	ret = result_dict(&r);
	if (ret && program) {
		const char *out = "";
		int nout = qf_rt_output(&out);
		uint64_t site_a = 0, site_b = 0, caller_a = 0, caller_b = 0;
		if (v->kind != QF_OK)
			qf_rt_critical_sites(&site_a, &site_b, &caller_a, &caller_b);
		PyObject *extra = Py_BuildValue("{s:y#,s:y#,s:s,s:K,s:K,s:K,s:K}", "sites", r.sites ? (const char *)r.sites : "",
						(Py_ssize_t)(r.sites ? r.trace_bytes / r.trace_stride * 8 : 0), "output", out,
						(Py_ssize_t)nout, "reset", fork ? "fork" : "segments", "site_a",
						(unsigned long long)site_a, "site_b", (unsigned long long)site_b, "caller_a",
						(unsigned long long)caller_a, "caller_b", (unsigned long long)caller_b);
		if (!extra || PyDict_Update(ret, extra) < 0)
			Py_CLEAR(ret);
		Py_XDECREF(extra);
	}
out:
	PyBuffer_Release(&wl);
	if (data.buf)
		PyBuffer_Release(&data);
	return ret;
}

static double monotonic_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts); /* the clock of Python's time.monotonic() */
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* A seeded campaign's schedules of one workload, without a trip through
 * Python for each: seeds seed, seed+1, ... (mod 2^63, as
 * harness.engines.campaign.schedule_seed numbers them), untraced, until
 * `count` have run, one has failed, or `deadline` (time.monotonic()) has
 * passed (checked before every execution but the first).  `before(j, k)` is
 * called before execution j runs, with PCT's k for it (a worker notes its
 * input, in case it dies).  `longest` >= 0: PCT's k is the longest execution of this workload
 * so far (Shuttle's rule; `k` only while that is 0), updated as they run.
 * Returns (rare-hit counts of the executions run, clipped to 255, as bytes;
 * the failing one's result dict, with the k it ran with, or None; longest).  The Python side of an
 * execution cost about 40 us, a third of a PCT execution (docs/engines.md). */
static PyObject *py_run_batch(PyObject *self, PyObject *args, PyObject *kw)
{
	(void)self;
	static char *names[] = {"target", "variant", "workload", "scheduler", "seed", "count", "depth", "k",
				"budget", "cpu", "features", "jitter", "deadline", "before", "longest", NULL};
	int target, sched, count, depth = 3, k = 100, budget = 20000, cpu = -1, features = 1, jitter = 0, longest = -1;
	unsigned int variant;
	unsigned long long seed;
	double deadline = 0;
	PyObject *before = Py_None;
	Py_buffer wl = {0};
	if (!PyArg_ParseTupleAndKeywords(args, kw, "iIy*iKi|iiiiiidOi", names, &target, &variant, &wl, &sched, &seed,
					 &count, &depth, &k, &budget, &cpu, &features, &jitter, &deadline, &before, &longest))
		return NULL;
	PyObject *ret = NULL, *rare = NULL, *failed = NULL;
	if (target < 0 || target >= NTARGETS) { /* programs run one execution per call (forks, resets) */
		PyErr_Format(PyExc_ValueError, "run_batch: %d is not a compiled-in target", target);
		goto out;
	}
	if (wl.len % 4 || count < 1) {
		PyErr_SetString(PyExc_ValueError, wl.len % 4 ? "workload must be packed int32" : "count must be 1 or more");
		goto out;
	}
	qf_run_args a = {
		.target = TARGETS[target],
		.variant = variant,
		.workload = wl.buf,
		.nworkload = (int)(wl.len / 4),
		.sched_kind = sched,
		.depth = depth,
		.k = k,
		.fallback_random = 1,
		.budget = budget,
		.cpu = cpu,
		.trace = 0,
		.features = features,
		.jitter = jitter,
	};
	if (!(rare = PyBytes_FromStringAndSize(NULL, count)))
		goto out;
	uint8_t *hits = (uint8_t *)PyBytes_AS_STRING(rare);
	int ran = 0;
	qf_run_result r;
	while (ran < count) {
		if (ran && deadline > 0 && monotonic_now() >= deadline)
			break;
		a.seed = (seed + (unsigned long long)ran) & 0x7FFFFFFFFFFFFFFFULL;
		if (longest > 0)
			a.k = longest;
		if (before != Py_None) {
			PyObject *x = PyObject_CallFunction(before, "ii", ran, a.k);
			if (!x)
				goto out;
			Py_DECREF(x);
		}
		int rc;
		Py_BEGIN_ALLOW_THREADS rc = qf_run(&a, &r);
		Py_END_ALLOW_THREADS if (rc < 0)
		{
			PyErr_SetString(PyExc_ValueError, r.error);
			goto out;
		}
		hits[ran++] = r.rare_hits > 255 ? 255 : (uint8_t)r.rare_hits;
		if (longest >= 0 && r.steps > longest)
			longest = r.steps;
		if (r.verdict.kind != QF_OK) {
			PyObject *k_used = PyLong_FromLong(a.k);
			int bad = !k_used || !(failed = result_dict(&r)) || PyDict_SetItemString(failed, "k", k_used) < 0;
			Py_XDECREF(k_used);
			if (bad)
				goto out;
			break;
		}
		if (PyErr_CheckSignals() < 0) /* Ctrl-C reaches the campaign between executions */
			goto out;
	}
	if (_PyBytes_Resize(&rare, ran) < 0)
		goto out;
	ret = Py_BuildValue("(OOi)", rare, failed ? failed : Py_None, longest);
out:
	Py_XDECREF(rare);
	Py_XDECREF(failed);
	PyBuffer_Release(&wl);
	return ret;
}

static PyObject *py_features(PyObject *self, PyObject *noargs)
{
	(void)self;
	(void)noargs;
	return PyMemoryView_FromMemory((char *)qf_features, QF_NFEAT, PyBUF_WRITE);
}

double qf_bench_futex_pingpong(long rounds, int cpu); /* bench_pingpong.c */

static PyObject *py_futex_pingpong(PyObject *self, PyObject *args)
{
	(void)self;
	long rounds;
	int cpu;
	if (!PyArg_ParseTuple(args, "li", &rounds, &cpu))
		return NULL;
	double ns;
	Py_BEGIN_ALLOW_THREADS ns = qf_bench_futex_pingpong(rounds, cpu);
	Py_END_ALLOW_THREADS return PyFloat_FromDouble(ns);
}

static PyObject *py_register_coverage(PyObject *self, PyObject *args)
{
	(void)self;
	const char *lib;
	char err[300] = "";
	if (!PyArg_ParseTuple(args, "s", &lib))
		return NULL;
	if (qf_cov_register(lib, err, sizeof err) < 0) {
		PyErr_SetString(PyExc_RuntimeError, err);
		return NULL;
	}
	Py_RETURN_NONE;
}

static PyObject *py_load_program(PyObject *self, PyObject *args, PyObject *kw)
{
	(void)self;
	static char *names[] = {"so_path", "race", NULL};
	const char *path;
	int race = 0;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "s|p", names, &path, &race))
		return NULL;
	char err[600] = "";
	int idx = qf_rt_load(path, race, err, sizeof err);
	if (idx < 0) {
		PyErr_SetString(PyExc_RuntimeError, err);
		return NULL;
	}
	const qf_target *t = qf_rt_target(idx);
	PyObject *labels = PyList_New(t->n_labels);
	for (int j = 0; j < t->n_labels; j++)
		PyList_SET_ITEM(labels, j, Py_BuildValue("(ss)", t->label_ids[j], t->labels[j]));
	const char *why = "";
	int fork = qf_rt_reset_kind(idx, &why);
	return Py_BuildValue("{s:i,s:s,s:N,s:s,s:s}", "index", NTARGETS + idx, "name", t->name, "labels", labels, "reset",
			     fork ? "fork" : "segments", "reset_why", why);
}

static PyObject *strings(const char *const *v)
{
	PyObject *l = PyList_New(0);
	for (; *v; v++) {
		PyObject *s = PyUnicode_FromString(*v);
		PyList_Append(l, s);
		Py_DECREF(s);
	}
	return l;
}

static PyObject *py_rt_build_info(PyObject *self, PyObject *noargs)
{
	(void)self;
	(void)noargs;
	int n;
	const char *const *wraps = qf_rt_wraps(&n);
	PyObject *w = PyList_New(n);
	for (int i = 0; i < n; i++)
		PyList_SET_ITEM(w, i, PyUnicode_FromString(wraps[i]));
	return Py_BuildValue("{s:i,s:N,s:N,s:N,s:N,s:i,s:i}", "abi", qf_rt_abi, "cflags", strings(qf_rt_cflags), "ldflags",
			     strings(qf_rt_ldflags), "ldlibs", strings(qf_rt_ldlibs), "wrap", w, "path_lost_wakeup", RT_PATH_LOST_WAKEUP, "path_deadline",
			     RT_PATH_DEADLINE);
}

static PyMethodDef methods[] = {
	{"load_program", (PyCFunction)(void (*)(void))py_load_program, METH_VARARGS | METH_KEYWORDS,
	 "load_program(so_path, race=False): load a program built by harness.program.build; a dict with its target index"},
	{"rt_build_info", py_rt_build_info, METH_NOARGS, "how to compile and link a program for the runtime (native/rt)"},
	{"futex_pingpong", py_futex_pingpong, METH_VARARGS, "ns per one-way hand-off between two bare pinned threads (bench)"},
	{"targets", py_targets, METH_NOARGS, "[(name, [(label id, description)])] of the compiled-in targets"},
	{"run", (PyCFunction)(void (*)(void))py_run, METH_VARARGS | METH_KEYWORDS, "run one controlled execution"},
	{"run_batch", (PyCFunction)(void (*)(void))py_run_batch, METH_VARARGS | METH_KEYWORDS,
	 "run a workload's seeded schedules until one fails: (rare-hit counts, the failing result or None)"},
	{"features", py_features, METH_NOARGS, "the interleaving-feature counters (a writable memoryview)"},
	{"register_coverage", py_register_coverage, METH_VARARGS,
	 "register_coverage(lib): hand the feature counters to the libFuzzer loaded from shared object lib"},
	{NULL, NULL, 0, NULL},
};

static struct PyModuleDef moddef = {PyModuleDef_HEAD_INIT, "harness._native", "qfuzz native core", -1, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__native(void)
{
	PyObject *m = PyModule_Create(&moddef);
	if (!m)
		return NULL;
	PyModule_AddIntConstant(m, "LABEL_CORE", QF_L_CORE);
	PyModule_AddIntConstant(m, "TRACE_HEAD", (int)sizeof(qf_trace_head));
	PyModule_AddIntConstant(m, "MAX_THREADS", QF_MAX_THREADS);
	PyModule_AddIntConstant(m, "MAX_TASKS", QF_MAX_TASKS);
	return m;
}
