/* module.c - the Python binding: one call into C per execution. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "core.h"

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

static PyObject *py_run(PyObject *self, PyObject *args, PyObject *kw)
{
	(void)self;
	static char *names[] = {"target", "variant", "workload", "scheduler", "seed", "depth", "k", "data",
				"fallback_random", "budget", "cpu", "trace", "features", "jitter", NULL};
	int target, sched, depth = 3, k = 100, fallback = 1, budget = 20000, cpu = -1, trace = 1, features = 1, jitter = 0;
	unsigned int variant;
	unsigned long long seed = 0;
	Py_buffer wl = {0}, data = {0};
	if (!PyArg_ParseTupleAndKeywords(args, kw, "iIy*i|Kiiy*iiiiii", names, &target, &variant, &wl, &sched, &seed,
					 &depth, &k, &data, &fallback, &budget, &cpu, &trace, &features, &jitter))
		return NULL;
	PyObject *ret = NULL;
	if (target < 0 || target >= NTARGETS) {
		PyErr_Format(PyExc_ValueError, "unknown target index %d", target);
		goto out;
	}
	if (wl.len % 4) {
		PyErr_SetString(PyExc_ValueError, "workload must be packed int32");
		goto out;
	}
	qf_run_args a = {
		.target = TARGETS[target],
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
	};
	qf_run_result r;
	int rc;
	Py_BEGIN_ALLOW_THREADS rc = qf_run(&a, &r);
	Py_END_ALLOW_THREADS if (rc < 0)
	{
		PyErr_SetString(PyExc_ValueError, r.error);
		goto out;
	}
	const qf_verdict *v = &r.verdict;
	ret = Py_BuildValue("{s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:I,s:I,s:s,s:y#,s:y#,s:i,s:i,s:i,s:i,s:i,s:I,s:i,s:i}",
			    "kind", v->kind, "path", v->path, "request", v->request, "object", v->object, "label_a",
			    v->label_a, "label_b", v->label_b, "step_a", v->step_a, "step_b", v->step_b, "thread_a",
			    v->thread_a, "thread_b", v->thread_b, "t_from", v->t_from, "t_at", v->t_at, "detail", v->detail,
			    "decisions", (const char *)r.decisions, (Py_ssize_t)r.ndecisions, "trace",
			    (const char *)r.trace, (Py_ssize_t)r.trace_bytes, "stride", r.trace_stride, "ncounters",
			    r.ncounters, "steps", r.steps, "switches", r.switches, "preemptions", r.preemptions, "end_time", r.end_time, "nthreads",
			    r.nthreads, "truncated", r.trace_truncated);
out:
	PyBuffer_Release(&wl);
	if (data.buf)
		PyBuffer_Release(&data);
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

static PyMethodDef methods[] = {
	{"futex_pingpong", py_futex_pingpong, METH_VARARGS, "ns per one-way hand-off between two bare pinned threads (bench)"},
	{"targets", py_targets, METH_NOARGS, "[(name, [(label id, description)])] of the compiled-in targets"},
	{"run", (PyCFunction)(void (*)(void))py_run, METH_VARARGS | METH_KEYWORDS, "run one controlled execution"},
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
