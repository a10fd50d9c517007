/* oracle.c - what counts as a bug in the haproxy_queue model.
 *
 * STUCK: at a quiescent point (no thread can run) a queued request is
 * *stranded* when a server able to serve it has a free slot: for a server
 * queue that server, for the backend queue any server allowed to take from
 * it.  Nothing but a timer can then change the state, so unless a later event
 * rescues it the request waits out `timeout queue`.  A stranded request that
 * reaches its timeout is STUCK.  Requests that time out while every eligible
 * server stayed busy were never stranded: legitimate overload, not flagged.
 *
 * SAFETY: counters and queues agree with each other at quiescent points, and
 * everything is released at the end.
 */
#include "model.h"

#include <stdio.h>

static void fail_inv(int label, int object, const char *detail)
{
	qf_verdict v;
	qf_verdict_init(&v, QF_SAFETY);
	v.label_a = label;
	v.object = object;
	snprintf(v.detail, sizeof v.detail, "%s", detail);
	qf_fail(&v);
}

/* -1 if the list does not end: a corrupt queue (an entry linked twice) must
 * give a verdict, not an oracle that never returns */
static int count_linked(const struct hq_queue *q)
{
	int n = 0;
	for (int i = q->head; i >= 0; i = W.pc[i].next)
		if (++n > HQ_MAX_PC)
			return -1;
	return n;
}

static void check_invariants(void)
{
	char buf[200];
	long sum_served = 0, sum_len = 0;
	for (int i = 0; i < W.nsrv; i++) {
		const struct hq_server *s = &W.srv[i];
		if (s->served < 0) {
			snprintf(buf, sizeof buf, "server %d: served is %ld", i, s->served);
			fail_inv(L_INV_SERVED_NEG, i, buf);
		}
		if (s->over_val) {
			snprintf(buf, sizeof buf, "server %d: served reached %ld above the limit %ld it was checked against", i,
				 s->over_val, s->over_lim);
			fail_inv(L_INV_SERVED_MAX, i, buf);
		}
		if (s->cur_sess < 0 || (s->maxconn_peak && s->cur_sess > s->maxconn_peak)) {
			snprintf(buf, sizeof buf, "server %d: cur_sess %ld outside 0..maxconn %ld", i, s->cur_sess,
				 s->maxconn_peak);
			fail_inv(L_INV_CURSESS, i, buf);
		}
		for (int g = 0; g < W.ntgrp; g++) { /* each thread group's queue */
			const struct hq_queue *q = HQ_TGQ(s, g);
			int linked = count_linked(q);
			if (linked < 0)
				fail_inv(L_INV_QLEN, i, "server queue: the linked list has a cycle");
			if (q->length != linked) {
				snprintf(buf, sizeof buf, "server %d: queue.length %ld but %d entries linked", i, q->length,
					 linked);
				fail_inv(L_INV_QLEN, i, buf);
			}
		}
		if (s->queueslength != HQ_QLEN(s)) {
			snprintf(buf, sizeof buf, "server %d: queueslength %ld but queue.length %ld", i, s->queueslength,
				 HQ_QLEN(s));
			fail_inv(L_INV_QUEUESLENGTH, i, buf);
		}
		sum_served += s->served;
		sum_len += HQ_QLEN(s);
	}
	for (int g = 0; g < W.ntgrp; g++) {
		const struct hq_queue *q = HQ_TGQ(&W.px, g);
		int linked = count_linked(q);
		if (linked < 0)
			fail_inv(L_INV_QLEN, -1, "backend queue: the linked list has a cycle");
		if (q->length != linked) {
			snprintf(buf, sizeof buf, "backend: queue.length %ld but %d entries linked", q->length, linked);
			fail_inv(L_INV_QLEN, -1, buf);
		}
	}
	if (W.px.queueslength != HQ_QLEN(&W.px)) {
		snprintf(buf, sizeof buf, "backend: queueslength %ld but queue.length %ld", W.px.queueslength,
			 HQ_QLEN(&W.px));
		fail_inv(L_INV_QUEUESLENGTH, -1, buf);
	}
	sum_len += HQ_QLEN(&W.px);
	if (W.px.served != sum_served) {
		snprintf(buf, sizeof buf, "px.served %ld but servers hold %ld", W.px.served, sum_served);
		fail_inv(L_INV_PXSERVED, -1, buf);
	}
	if (W.px.totpend != sum_len) {
		snprintf(buf, sizeof buf, "px.totpend %ld but queues hold %ld", W.px.totpend, sum_len);
		fail_inv(L_INV_TOTPEND, -1, buf);
	}
	long live = 0;
	for (int i = 0; i < W.nreq; i++)
		live += W.strm[i].state != ST_INI && W.strm[i].state != ST_CLO;
	if (W.px.beconn != live) {
		snprintf(buf, sizeof buf, "px.beconn %ld but %ld streams alive", W.px.beconn, live);
		fail_inv(L_INV_BECONN, -1, buf);
	}
}

static int has_free_slot(const struct hq_server *s)
{
	return !s->maxconn || s->served < hq_dyn_maxconn(s);
}

static void mark_stranded(struct hq_stream *s, int path, int srv, const struct hq_server *rel)
{
	if (s->stranded_since != QF_ETERNITY) {
		/* stranded with no release decision on record: the first decision made
		 * since that leaves it stranded is the release side (e.g. F2's disable,
		 * which makes a backup eligible and offers it nothing) */
		if (s->strand_rel_label < 0 && rel && rel->nodeq_step >= 0) {
			s->strand_srv = srv;
			s->strand_rel_step = rel->nodeq_step;
			s->strand_rel_label = rel->nodeq_label;
			s->strand_rel_thread = rel->nodeq_thread;
		}
		return;
	}
	s->stranded_since = qf_now();
	s->strand_path = path;
	s->strand_srv = srv;
	s->strand_rel_step = rel ? rel->nodeq_step : -1;
	s->strand_rel_label = rel ? rel->nodeq_label : -1;
	s->strand_rel_thread = rel ? rel->nodeq_thread : -1;
	/* pre-111ea83ed: no release decision on record, but a grab from the
	 * backend queue handed out slots that `served` does not count, so the
	 * free slot seen here is held by a grabbed stream */
	if (rel && rel->nodeq_step < 0 && rel->grab_step >= 0) {
		s->strand_rel_step = rel->grab_step;
		s->strand_rel_label = L_GR_UNCOUNTED;
		s->strand_rel_thread = rel->grab_thread;
	}
	/* pre-111ea83ed: the slot is one the slowstart ramp added at a warmup tick
	 * after the last decision on record, and that tick only grabbed from the
	 * backend queue: the server's own queue was never offered it (where a grab
	 * handed out uncounted slots, the free slot is not real: GR_UNCOUNTED) */
	if (path == PATH_SERVER && rel && rel->wu_grab_step > rel->nodeq_step && rel->grab_step < 0) {
		s->strand_rel_step = rel->wu_grab_step;
		s->strand_rel_label = L_WU_GRAB_ONLY;
		s->strand_rel_thread = rel->wu_grab_thread;
	}
	/* the 2026 tree: a backend-queued request with no slot held anywhere and
	 * no ready server announced has nobody at all to dequeue it (F5); with a
	 * slot held elsewhere it is F1's case (that holder's release rescues it) */
	if (path == PATH_BACKEND && rel && !BUG(HQ_BUG_SEED_PX) && !BUG(HQ_PRE_READY_SRV) && !W.px.served &&
	    !W.px.ready_srv && (rel->nodeq_label == L_MD_PXQLEN || rel->nodeq_label == L_PNS_EMPTY))
		s->strand_rel_label = L_RS_UNARMED;
	/* slowstart: the limit rose by time since the warmup last looked, and its
	 * next tick (a timer, which may run late) is the one that will look (F7) */
	if (srv >= 0 && W.srv[srv].slowstart && hq_ramp_ratio(&W.srv[srv]) > W.srv[srv].wu_ratio) {
		s->strand_rel_label = L_WU_PENDING;
		s->strand_rel_step = s->strand_rel_thread = -1;
	}
}

static void find_stranded(void)
{
	for (int i = 0; i < W.nsrv; i++) {
		struct hq_server *s = &W.srv[i];
		if (!hq_usable(s) || !has_free_slot(s))
			continue;
		for (int g = 0; g < W.ntgrp; g++)
			for (int e = HQ_TGQ(s, g)->head; e >= 0; e = W.pc[e].next)
				mark_stranded(&W.strm[W.pc[e].strm], PATH_SERVER, i, s);
	}
	int px_linked = 0;
	for (int g = 0; g < W.ntgrp; g++)
		px_linked |= HQ_TGQ(&W.px, g)->head >= 0;
	if (!px_linked)
		return;
	/* pre-53f52e67a: left behind when the last server went down; only
	 * `timeout queue` (or a server coming back) ends them */
	int any_usable = 0;
	for (int i = 0; i < W.nsrv; i++)
		any_usable |= hq_usable(&W.srv[i]);
	if (!any_usable && W.px.orphan_before) {
		for (int g = 0; g < W.ntgrp; g++)
			for (int e = HQ_TGQ(&W.px, g)->head; e >= 0; e = W.pc[e].next) {
				struct hq_stream *o = &W.strm[W.pc[e].strm];
				if (W.pc[e].key >= W.px.orphan_before)
					continue;
				/* stranded earlier with no release decision on record (e.g. a
				 * free slot made by an uncounted 111ea83ed grab): from here on
				 * its timeout is decided by the queue being left behind, which
				 * the 53f52e67a fix turns into a 503 at once */
				if (o->stranded_since != QF_ETERNITY &&
				    (o->strand_path != PATH_BACKEND ||
				     (o->strand_rel_label >= 0 && o->strand_rel_label != L_GR_UNCOUNTED)))
					continue;
				mark_stranded(o, PATH_BACKEND, W.px.orphan_srv, 0);
				o->strand_rel_step = W.px.orphan_step;
				o->strand_rel_label = L_RD_SKIP_PX;
				o->strand_rel_thread = W.px.orphan_thread;
			}
		return;
	}
	/* any server allowed to take from the backend queue with a free slot;
	 * its last decision not to dequeue is the releaser's critical event */
	const struct hq_server *best = 0;
	for (int i = 0; i < W.nsrv; i++) {
		const struct hq_server *s = &W.srv[i];
		if (hq_px_ok(s) && has_free_slot(s) && (!best || s->nodeq_step > best->nodeq_step))
			best = s;
	}
	if (!best)
		return;
	for (int g = 0; g < W.ntgrp; g++)
		for (int e = HQ_TGQ(&W.px, g)->head; e >= 0; e = W.pc[e].next)
			mark_stranded(&W.strm[W.pc[e].strm], PATH_BACKEND, best->id, best);
}

void hq_oracle_quiescent(void)
{
	check_invariants();
	find_stranded();
}

void hq_oracle_queue_timeout(struct hq_stream *s)
{
	if (s->stranded_since == QF_ETERNITY)
		return; /* every server it could use stayed busy: a legitimate timeout */
	/* Requests that queued behind a stranded one are stranded too; report
	 * the first one queued, whose check-then-act lost the race. */
	for (int i = 0; i < W.nreq; i++) {
		struct hq_stream *o = &W.strm[i];
		if (o->state == ST_QUE && o->stranded_since != QF_ETERNITY &&
		    (o->queued_at < s->queued_at || (o->queued_at == s->queued_at && o->full_step < s->full_step)))
			s = o;
	}
	qf_verdict v;
	qf_verdict_init(&v, QF_STUCK);
	v.path = s->strand_path;
	v.request = s->id;
	v.object = s->strand_srv;
	v.label_a = s->full_label;
	v.step_a = s->full_step;
	v.thread_a = s->full_thread;
	v.label_b = s->strand_rel_label;
	v.step_b = s->strand_rel_step;
	v.thread_b = s->strand_rel_thread;
	v.t_from = s->stranded_since;
	v.t_at = qf_now();
	char why[100];
	if (s->strand_rel_label == L_RD_SKIP_PX)
		snprintf(why, sizeof why, ": server %d, the last one up, went into maintenance and left it there",
			 s->strand_srv);
	else if (s->strand_rel_label == L_GR_UNCOUNTED)
		snprintf(why, sizeof why, " while server %d had a free slot by its served count (a grabbed stream "
			 "held it uncounted)", s->strand_srv);
	else
		snprintf(why, sizeof why, " while server %d had a free slot", s->strand_srv);
	snprintf(v.detail, sizeof v.detail, "request %d waited in the %s queue from t=%u to its timeout at t=%u%s", s->id,
		 s->strand_path == PATH_SERVER ? "server" : "backend", s->queued_at, qf_now(), why);
	qf_fail(&v);
}

/* 13c344516: a dequeued stream dropped its wake-up (it came with a timer)
 * and slept on the slot it was handed until `timeout queue` */
void hq_oracle_slept(struct hq_stream *s)
{
	qf_verdict v;
	qf_verdict_init(&v, QF_STUCK);
	v.path = s->full_label == L_ASQ_QLEN || s->full_label == L_ASQ_SERVED ? PATH_SERVER : PATH_BACKEND;
	v.request = s->id;
	v.object = s->target;
	v.label_a = s->full_label;
	v.step_a = s->full_step;
	v.thread_a = s->full_thread;
	v.label_b = L_STRM_TIMER_ONLY;
	v.step_b = s->slept_step;
	v.thread_b = s->slept_thread;
	v.t_from = s->slept_since;
	v.t_at = qf_now();
	snprintf(v.detail, sizeof v.detail,
		 "request %d was handed a slot on server %d at t<=%u but slept on it until its queue timeout at t=%u",
		 s->id, s->target, s->slept_since, qf_now());
	qf_fail(&v);
}

void hq_oracle_finish(void)
{
	char buf[200];
	for (int i = 0; i < W.nreq; i++)
		if (W.strm[i].state != ST_CLO) {
			qf_verdict v;
			qf_verdict_init(&v, QF_DEADLOCK);
			v.request = i;
			v.label_a = L_INV_UNFINISHED;
			snprintf(v.detail, sizeof v.detail, "request %d never finished and nothing is left to run", i);
			qf_fail(&v);
		}
	check_invariants();
	for (int i = 0; i < W.nsrv; i++)
		if (W.srv[i].served || W.srv[i].cur_sess || HQ_QLEN(&W.srv[i])) {
			snprintf(buf, sizeof buf, "server %d ends with served %ld, cur_sess %ld, queue %ld", i,
				 W.srv[i].served, W.srv[i].cur_sess, HQ_QLEN(&W.srv[i]));
			fail_inv(L_INV_LEAK, i, buf);
		}
	if (W.px.served || W.px.beconn || HQ_QLEN(&W.px) || W.px.totpend) {
		snprintf(buf, sizeof buf, "backend ends with served %ld, beconn %ld, queue %ld, totpend %ld", W.px.served,
			 W.px.beconn, HQ_QLEN(&W.px), W.px.totpend);
		fail_inv(L_INV_LEAK, -1, buf);
	}
}

/* key counters for each trace entry: px.served, px.qlen, beconn, totpend,
 * then served, cur_sess, qlen of every server (the Python descriptor names them) */
int hq_snapshot(int32_t *out)
{
	int n = 0;
	out[n++] = (int32_t)W.px.served;
	out[n++] = (int32_t)HQ_QLEN(&W.px);
	out[n++] = (int32_t)W.px.beconn;
	out[n++] = (int32_t)W.px.totpend;
	for (int i = 0; i < W.nsrv && n + 3 <= QF_MAX_COUNTERS; i++) {
		out[n++] = (int32_t)W.srv[i].served;
		out[n++] = (int32_t)W.srv[i].cur_sess;
		out[n++] = (int32_t)HQ_QLEN(&W.srv[i]);
	}
	return n;
}

static uint32_t bucket(long v)
{
	return v <= 0 ? 0 : v == 1 ? 1 : v <= 3 ? 2 : 3;
}

/* coverage feedback: a bucketed picture of the queues at a quiescent point */
uint32_t hq_abstract_state(void)
{
	uint32_t h = bucket(W.px.served) | bucket(HQ_QLEN(&W.px)) << 2;
	int stranded = 0;
	for (int i = 0; i < W.nreq; i++)
		stranded |= W.strm[i].stranded_since != QF_ETERNITY;
	for (int i = 0; i < W.nsrv && i < 4; i++)
		h |= (bucket(W.srv[i].served) | bucket(HQ_QLEN(&W.srv[i])) << 2) << (4 + 4 * i);
	return h << 1 | (uint32_t)stranded;
}
