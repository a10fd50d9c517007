/* annotate.c - qfuzz.h's annotations, as the runtime sees them. */
#include "rt.h"

#include <string.h>

void qf_request_begin(long id, unsigned long deadline_us)
{
	if (!rt_on())
		return;
	int me = rt_op(RL_REQUEST, 0, 0, RA);
	unsigned long long d = (unsigned long long)qf_now() + deadline_us;
	int slot = -1;
	for (int i = 0; i < R.nreq; i++)
		if (R.req[i].open && R.req[i].id == id)
			slot = i;
	if (slot < 0) {
		for (int i = 0; i < R.nreq && slot < 0; i++)
			if (!R.req[i].open)
				slot = i;
		if (slot < 0 && R.nreq < 64)
			slot = R.nreq++;
	}
	if (slot >= 0) {
		R.req[slot].id = id;
		R.req[slot].deadline = d >= RT_HORIZON ? RT_HORIZON : (uint32_t)d;
		R.req[slot].open = 1;
	}
	rt_done(me, RL_REQUEST, (int)id, 0);
}

void qf_request_end(long id)
{
	if (!rt_on())
		return;
	int me = rt_op(RL_REQUEST, 0, 0, RA);
	for (int i = 0; i < R.nreq; i++)
		if (R.req[i].open && R.req[i].id == id)
			R.req[i].open = 0;
	rt_done(me, RL_REQUEST, (int)-id - 1, 0);
}

void qf_state(const char *name, long value)
{
	if (!rt_on())
		return;
	uint32_t h = 2166136261u;
	for (const char *c = name; *c; c++)
		h = (h ^ (uint8_t)*c) * 16777619u;
	qf_rt_feature(h, (uint32_t)value);
	int me = qf_self();
	qf_rt_site[me] = (uint64_t)((uintptr_t)RA - R.prog->base - 1);
	qf_note(RL_STATE, (int)value);
}
