/* module_stress.c - the Python binding of the free-running core: one call
 * per round, and the last round's events on request. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdlib.h>

#include "stress.h"

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
	for (int i = 0; i < NTARGETS; i++)
		PyList_SET_ITEM(out, i, PyUnicode_FromString(TARGETS[i]->name));
	return out;
}

static PyObject *py_round(PyObject *self, PyObject *args, PyObject *kw)
{
	(void)self;
	static char *names[] = {"target", "variant", "workload", "unit_ns", "noise", "noise_ns", "seed", "hang_ns",
				"limit_ns", NULL};
	int target;
	unsigned int variant;
	long long unit_ns = 100000, noise_ns = 20000, hang_ns = 1000000000LL, limit_ns = 60000000000LL;
	double noise = 0.0;
	unsigned long long seed = 0;
	Py_buffer wl = {0};
	if (!PyArg_ParseTupleAndKeywords(args, kw, "iIy*|LdLKLL", names, &target, &variant, &wl, &unit_ns, &noise,
					 &noise_ns, &seed, &hang_ns, &limit_ns))
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
	qfs_args a = {
		.target = TARGETS[target],
		.variant = variant,
		.workload = wl.buf,
		.nworkload = (int)(wl.len / 4),
		.unit_ns = unit_ns,
		.noise = noise,
		.noise_ns = noise_ns,
		.seed = seed,
		.hang_ns = hang_ns,
		.limit_ns = limit_ns,
	};
	qfs_result r;
	int rc;
	Py_BEGIN_ALLOW_THREADS rc = qfs_round(&a, &r);
	Py_END_ALLOW_THREADS if (rc < 0)
	{
		PyErr_SetString(r.wedged ? PyExc_RuntimeError : PyExc_ValueError, r.error);
		goto out;
	}
	const qf_verdict *v = &r.verdict;
	ret = Py_BuildValue("{s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:I,s:I,s:s,s:i,s:L,s:L,s:I,s:L,s:i,s:s}", "kind",
			    v->kind, "path", v->path, "request", v->request, "object", v->object, "label_a", v->label_a,
			    "label_b", v->label_b, "step_a", v->step_a, "step_b", v->step_b, "thread_a", v->thread_a,
			    "thread_b", v->thread_b, "t_from", v->t_from, "t_at", v->t_at, "detail", v->detail, "nthreads",
			    r.nthreads, "ns", (long long)r.ns, "detect_ns", (long long)r.detect_ns, "end_time", r.end_time,
			    "steps", (long long)r.steps, "wedged", r.wedged, "error", r.error);
out:
	PyBuffer_Release(&wl);
	return ret;
}

static PyObject *py_events(PyObject *self, PyObject *noargs)
{
	(void)self;
	(void)noargs;
	int max = QF_MAX_THREADS * QFS_RING;
	qfs_event *buf = malloc(sizeof *buf * (size_t)max);
	if (!buf)
		return PyErr_NoMemory();
	int n;
	Py_BEGIN_ALLOW_THREADS n = qfs_events(buf, max);
	Py_END_ALLOW_THREADS PyObject *ret = PyBytes_FromStringAndSize((const char *)buf, (Py_ssize_t)sizeof *buf * n);
	free(buf);
	return ret;
}

static PyMethodDef methods[] = {
	{"targets", py_targets, METH_NOARGS, "names of the compiled-in targets, in index order"},
	{"round", (PyCFunction)(void (*)(void))py_round, METH_VARARGS | METH_KEYWORDS,
	 "run one workload on free-running threads until it ends or fails"},
	{"events", py_events, METH_NOARGS, "the last round's events in time order (packed, see EVENT_FORMAT)"},
	{NULL, NULL, 0, NULL},
};

static struct PyModuleDef moddef = {
	PyModuleDef_HEAD_INIT, "harness._stress", "qfuzz free-running stress core", -1, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__stress(void)
{
	PyObject *m = PyModule_Create(&moddef);
	if (!m)
		return NULL;
	/* qfs_event: ns, label, value, request, thread, kind, pad */
	PyModule_AddStringConstant(m, "EVENT_FORMAT", "<qiihBBI");
	PyModule_AddIntConstant(m, "EVENT_SIZE", (int)sizeof(qfs_event));
	PyModule_AddIntConstant(m, "RING", QFS_RING);
	PyModule_AddIntConstant(m, "MAX_THREADS", QF_MAX_THREADS);
	return m;
}
