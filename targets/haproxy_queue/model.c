/* model.c - streams, queues, load balancing and the release path.
 *
 * Each HAProxy worker thread is a qfuzz thread running an event loop over the
 * tasks pinned to it: one task per request (stream) and one per admin event.
 * A stream's task runs process_stream(), which walks the back side through
 * SC_ST_REQ -> (SC_ST_QUE) -> SC_ST_ASS -> established -> SC_ST_DIS -> closed.
 * Functions are named after the upstream ones they model and perform the
 * same steps in the same order; see ../shared/reference/haproxy-queue.md §3.
 */
#include "model.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

struct hq_world W;

#define X(e, s) s,
static const char *const LABEL_NAMES[] = {HQ_LABELS(X)};
#undef X
#define X(e, s) #e + 2, /* drop the L_ prefix */
static const char *const LABEL_IDS[] = {HQ_LABELS(X)};
#undef X

enum { SRV_OK, SRV_FULL, SRV_QUEUED, SRV_NOSRV, SRV_INTERNAL };

/* lock ranks: SERVER_LOCK -> server queue -> proxy queue -> del_lock */
enum { RANK_SERVER = 1, RANK_SRVQ = 2, RANK_PXQ = 3, RANK_DEL = 4 };
/* lock ids as shown in traces: 0 big, 1 lbprm, 2 px queue, 10+i server i queue
 * (thread group 0's; other groups: 40+g px, 3000+16i+g server i),
 * 20+i server i lock, 100+n del_lock of pendconn n */

/* ---- helpers ------------------------------------------------------------ */

struct hq_pendconn *hq_pc(int idx)
{
	struct hq_pendconn *p = &W.pc[idx];
	if (p->freed) {
		qf_verdict v;
		qf_verdict_init(&v, QF_SAFETY);
		v.request = p->strm;
		v.label_a = L_INV_UAF;
		v.thread_a = qf_self();
		v.step_a = qf_step();
		snprintf(v.detail, sizeof v.detail, "pendconn of request %d used after it was freed", p->strm);
		qf_fail(&v);
	}
	return p;
}

long hq_qlen_sum(const struct hq_queue *q0, const struct hq_queue *more)
{
	long n = q0->length;
	for (int g = 1; g < W.ntgrp; g++)
		n += more[g - 1].length;
	return n;
}

/* the calling thread's group (tgid - 1) */
static int my_tgrp(void)
{
	return W.tgrp_of[qf_self()];
}

int hq_usable(const struct hq_server *s)
{
	return !s->down && s->weight > 0;
}

static int any_active_usable(void)
{
	for (int i = 0; i < W.nsrv; i++)
		if (!W.srv[i].backup && hq_usable(&W.srv[i]))
			return 1;
	return 0;
}

static int first_usable_backup(void)
{
	for (int i = 0; i < W.nsrv; i++)
		if (W.srv[i].backup && hq_usable(&W.srv[i]))
			return i;
	return -1;
}

/* may this server take from the backend queue (px_ok in process_srv_queue) */
int hq_px_ok(const struct hq_server *s)
{
	if (!hq_usable(s))
		return 0;
	if (!s->backup)
		return 1;
	return !any_active_usable() && s->id == first_usable_backup();
}

/* the servers the LB may choose from: actives, or the first backup */
static int lb_eligible(const struct hq_server *s)
{
	return hq_px_ok(s);
}

long hq_dyn_maxconn(const struct hq_server *s)
{
	long max;
	if (W.px.beconn >= W.px.fullconn || s->minconn >= s->maxconn)
		max = s->maxconn;
	else {
		max = W.px.beconn * s->maxconn / W.px.fullconn;
		if (max < s->minconn)
			max = s->minconn;
	}
	/* slowstart (srv_dynamic_maxconn): while STARTING, the limit is scaled by
	 * the share of the ramp elapsed, at least 1.  The share moves in steps of
	 * one warmup period, so the limit rises exactly when a warmup tick runs
	 * (upstream counts whole seconds and ticks every second or slowstart/20). */
	long ratio = hq_ramp_ratio(s);
	if (ratio < 100) {
		max = max * ratio / 100;
		if (max < 1)
			max = 1;
	}
	return max;
}

/* the share of the slowstart ramp in effect now, in percent (100: none) */
long hq_ramp_ratio(const struct hq_server *s)
{
	if (!s->starting || qf_now() >= s->last_change + s->slowstart)
		return 100;
	uint32_t period = hq_warmup_period(s);
	return 100 * (long)((qf_now() - s->last_change) / period * period) / (long)s->slowstart;
}

uint32_t hq_warmup_period(const struct hq_server *s)
{
	return s->slowstart / 5 ? s->slowstart / 5 : 1;
}

static void note_nodeq(struct hq_server *s, int label)
{
	s->nodeq_step = qf_step();
	s->nodeq_label = label;
	s->nodeq_thread = qf_self();
}

static void note_full(struct hq_stream *s, int label)
{
	s->full_step = qf_step();
	s->full_label = label;
	s->full_thread = qf_self();
}

/* a queue's list is only ever changed under its lock (99f5be563's corruption
 * is a pick without it): the lockset check that stands for that corruption */
static void check_locked(struct hq_queue *q, int idx)
{
	if (q->lock.owner == qf_self() || q->lock.owner == QF_MAX_THREADS)
		return;
	qf_verdict v;
	qf_verdict_init(&v, QF_SAFETY);
	v.label_a = L_INV_UNLOCKED;
	v.object = q->sv;
	v.request = W.pc[idx].strm;
	v.thread_a = qf_self();
	v.step_a = qf_step();
	snprintf(v.detail, sizeof v.detail, "the %s queue's list is changed without its lock (request %d's entry)",
		 q->sv >= 0 ? "server" : "backend", W.pc[idx].strm);
	qf_fail(&v);
}

static void q_link(struct hq_queue *q, int idx)
{
	struct hq_pendconn *p = &W.pc[idx];
	check_locked(q, idx);
	p->prev = q->tail;
	p->next = -1;
	if (q->tail >= 0)
		W.pc[q->tail].next = idx;
	else
		q->head = idx;
	q->tail = idx;
	p->linked = 1;
}

static void q_unlink(struct hq_queue *q, int idx)
{
	struct hq_pendconn *p = &W.pc[idx];
	if (!p->linked)
		return; /* the tree delete is idempotent */
	check_locked(q, idx);
	if (p->prev >= 0)
		W.pc[p->prev].next = p->next;
	else
		q->head = p->next;
	if (p->next >= 0)
		W.pc[p->next].prev = p->prev;
	else
		q->tail = p->prev;
	p->prev = p->next = -1;
	p->linked = 0;
}

/* q->length and the 3.2 total queueslength move together (adjacent atomics
 * upstream: one schedule point here); `total` 0 is 099c1b244's missed one */
static void qlen_add(struct hq_queue *q, long delta, int label, int total)
{
	qf_add(&q->length, delta, label);
	if (total)
		__atomic_add_fetch(q->total, delta, __ATOMIC_SEQ_CST);
}

static int task_of(int strm)
{
	return W.strm[strm].task;
}

/* task_wakeup(..., TASK_WOKEN_RES): a resource (a slot, a new LB chance) */
static void wake_res(int strm, int label)
{
	__atomic_store_n(&W.strm[strm].res, 1, __ATOMIC_SEQ_CST);
	qf_wake(task_of(strm), label);
}

/* the stream task's one timer */
static void arm(struct hq_stream *s, uint32_t when)
{
	s->task_exp = when;
	qf_task_schedule(s->task, when);
}

/* ---- the lbprm lock: a reader-writer lock ---------------------------------- */

/* Upstream's LBPRM_LOCK is an rwlock: leastconn and first pick under the read
 * lock (fwlc_get_next_server, fas_get_next_server), leastconn repositions a
 * server under it too (fwlc_srv_reposition; its rare upgrade to the write lock
 * is left out), random draws under it (chash_get_server_hash); first
 * repositions and roundrobin picks under the write lock.  Built on the core's
 * one mutex: the first reader takes the mutex; a reader arriving while a
 * reader holds it joins without it (lb_readers counts both); the writer takes
 * the mutex and waits for lb_readers to drop to 0.  A thread that finds the
 * lock free or idle follows exactly the steps of a plain mutex, so traces
 * without overlapping pickers are the exclusive lock's. */
static int lb_rdlock(int label)
{
	qf_lock_t *l = &W.px.lb_lock;
	int owner = __atomic_load_n(&l->owner, __ATOMIC_SEQ_CST);
	if (owner >= 0 && owner != qf_self() && __atomic_load_n(&W.px.lb_rmode, __ATOMIC_SEQ_CST)) {
		qf_point(L_LB_RDLOCK_SHARE, l);
		/* still no writer in there: share it */
		if (__atomic_load_n(&l->owner, __ATOMIC_SEQ_CST) < 0 || __atomic_load_n(&W.px.lb_rmode, __ATOMIC_SEQ_CST)) {
			__atomic_add_fetch(&W.px.lb_readers, 1, __ATOMIC_SEQ_CST);
			return 1;
		}
	}
	qf_lock(l, label);
	__atomic_store_n(&W.px.lb_rmode, 1, __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&W.px.lb_readers, 1, __ATOMIC_SEQ_CST);
	return 0;
}

static void lb_rdunlock(int shared, int label)
{
	if (shared) {
		qf_point(L_LB_RDUNLOCK_SHARE, &W.px.lb_lock);
		__atomic_add_fetch(&W.px.lb_readers, -1, __ATOMIC_SEQ_CST);
		return;
	}
	__atomic_add_fetch(&W.px.lb_readers, -1, __ATOMIC_SEQ_CST);
	qf_unlock(&W.px.lb_lock, label);
	__atomic_store_n(&W.px.lb_rmode, 0, __ATOMIC_SEQ_CST); /* free now; joined readers may still be in */
}

static void lb_wrlock(int label)
{
	qf_lock(&W.px.lb_lock, label);
	__atomic_store_n(&W.px.lb_rmode, 0, __ATOMIC_SEQ_CST);
	while (__atomic_load_n(&W.px.lb_readers, __ATOMIC_SEQ_CST))
		qf_yield(L_LB_WAIT_READERS); /* readers that joined before it are still in */
}

/* ---- sess_change_server and the LB hooks --------------------------------- */

static void lb_hook(void)
{
	/* leastconn repositions the server under the lbprm read lock, first
	 * under the write lock */
	if (W.px.balance == LB_LEASTCONN) {
		int shared = lb_rdlock(L_LB_HOOK_LOCK);
		lb_rdunlock(shared, L_LB_HOOK_UNLOCK);
	} else if (W.px.balance == LB_FIRST) {
		lb_wrlock(L_LB_HOOK_LOCK);
		qf_unlock(&W.px.lb_lock, L_LB_HOOK_UNLOCK);
	}
}

/* srv.served++ by a path that checked served against `limit` first (0: no
 * limit): going above that limit is the 3372a2ea0 overshoot.  The oracle
 * reports it at the next quiescent point (INV_SERVED_MAX).  The bound is
 * the dynamic limit the code itself used, not the static maxconn: with
 * minconn/fullconn or slowstart the two differ. */
static void served_inc(struct hq_server *srv, long limit, int label)
{
	long v = qf_add(&srv->served, 1, label);
	if (limit > 0 && v > limit && !srv->over_val) {
		srv->over_val = v;
		srv->over_lim = limit;
	}
}

/* `reserved`: the caller already counted the slot in srv.served (CAS fix);
 * otherwise `limit` is the limit it checked served against (0: none) */
static void sess_change_server(struct hq_stream *s, int newsrv, int reserved, long limit)
{
	if (s->srv_conn == newsrv)
		return;
	if (s->srv_conn >= 0) {
		struct hq_server *old = &W.srv[s->srv_conn];
		qf_add(&old->served, -1, L_SERVED_DEC);
		qf_add(&W.px.served, -1, L_PXSERVED_DEC);
		lb_hook();
		s->srv_conn = -1;
	}
	if (newsrv >= 0) {
		struct hq_server *n = &W.srv[newsrv];
		if (!reserved)
			served_inc(n, limit, L_SERVED_INC);
		qf_add(&W.px.served, 1, L_PXSERVED_INC);
		lb_hook();
		s->srv_conn = newsrv;
	}
}

/* ---- may_dequeue_tasks / process_srv_queue ------------------------------ */

static int may_dequeue_tasks(struct hq_server *s)
{
	if (!qf_load(&s->queueslength, L_MD_SRVQLEN)) {
		if (!qf_load(&W.px.queueslength, L_MD_PXQLEN) || !hq_usable(s)) {
			note_nodeq(s, L_MD_PXQLEN);
			return 0;
		}
	}
	if (!s->maxconn)
		return 1;
	if (qf_load(&s->cur_sess, L_MD_CURSESS) >= hq_dyn_maxconn(s)) {
		note_nodeq(s, L_MD_CURSESS);
		return 0;
	}
	return 1;
}

/* Called with the server queue lock held.  Picks the oldest entry of the
 * server queue or (if px_ok) of the backend queue, hands it the slot and
 * wakes its stream.  Returns 1 if it picked one, 0 if there was none. */
static void backup_drains(struct hq_server *srv)
{
	qf_verdict v;
	qf_verdict_init(&v, QF_SAFETY);
	v.label_a = L_INV_BACKUP;
	v.object = srv->id;
	v.thread_a = qf_self();
	v.step_a = qf_step();
	snprintf(v.detail, sizeof v.detail, "backup server %d takes from the backend queue while an active server is up",
		 srv->id);
	qf_fail(&v);
}

/* `drain`: this is a backup server and actives were up when the dequeue
 * began, so taking from the backend queue is the a8694654b bug. */
static int pendconn_process_next_strm(struct hq_server *srv, int px_ok, int drain, int tg)
{
	/* thread group tg's queues of the server and of the proxy */
	struct hq_queue *sq = HQ_TGQ(srv, tg), *pq = HQ_TGQ(&W.px, tg);
	int p = -1, pp = -1, px_locked = 0;
	if (qf_load(&sq->length, L_PNS_SRVQLEN))
		p = sq->head;
	if (px_ok && qf_load(&pq->length, L_PNS_PXQLEN)) {
		qf_lock(&pq->lock, L_PNS_PXLOCK);
		px_locked = 1;
		pp = pq->head;
		if (pp < 0) {
			qf_unlock(&pq->lock, L_PNS_PXUNLOCK);
			px_locked = 0;
		}
	}
	if (p < 0 && pp < 0) {
		note_nodeq(srv, L_PNS_EMPTY);
		qf_note(L_PNS_EMPTY, srv->id);
		return 0;
	}
	if (pp >= 0 && (p < 0 || W.pc[pp].key < W.pc[p].key)) {
		/* from the backend queue */
		if (drain)
			backup_drains(srv);
		int del = !BUG(HQ_BUG_NO_DEL_LOCK);
		if (del)
			qf_lock(&hq_pc(pp)->del_lock, L_PNS_DEL_LOCK);
		qf_point(L_PNS_UNLINK, pq);
		q_unlink(pq, pp);
		qf_unlock(&pq->lock, L_PNS_PXUNLOCK);
		/* without del_lock the owner may free the entry from here on (87154e301) */
		hq_pc(pp)->strm_flags |= SF_ASSIGNED;
		if (!del)
			qf_point(L_PNS_TARGET, &W.pc[pp]);
		hq_pc(pp)->target = srv->id;
		int strm = hq_pc(pp)->strm;
		W.strm[strm].srv_conn = srv->id; /* stream_add_srv_conn */
		wake_res(strm, L_PNS_WAKE);
		if (del)
			qf_unlock(&W.pc[pp].del_lock, L_PNS_DEL_UNLOCK);
		qlen_add(pq, -1, L_PNS_PXLEN_DEC, 1);
		return 1;
	}
	/* from the server queue */
	if (px_locked)
		qf_unlock(&pq->lock, L_PNS_PXUNLOCK);
	struct hq_pendconn *e = hq_pc(p);
	e->strm_flags |= SF_ASSIGNED;
	e->target = srv->id;
	W.strm[e->strm].srv_conn = srv->id;
	wake_res(e->strm, L_PNS_WAKE);
	qf_point(L_PNS_UNLINK, sq);
	q_unlink(sq, p);
	qlen_add(sq, -1, L_PNS_SRVLEN_DEC, 1);
	return 1;
}

/* 3372a2ea0: take a slot only while below the limit, atomically.
 * Known gap (docs/findings.md, "Open: the model reserves a slot before it
 * looks at the queues"): process_srv_queue calls this before
 * pendconn_process_next_strm and gives the slot back when nothing is queued;
 * upstream reserves inside pendconn_process_next_strm, after finding an
 * entry, so no queuer ever sees that transient slot. */
static int reserve_slot(struct hq_server *s, long maxconn, int label)
{
	for (;;) {
		long cur = qf_load(&s->served, label == L_PSQ_RESERVE ? L_PSQ_SERVED : L_ASQ_SERVED);
		if (cur >= maxconn)
			return 0;
		if (qf_cas(&s->served, cur, cur + 1, label))
			return 1;
	}
}

/* cda7275ef: the end of process_srv_queue.  Only when nothing at all runs
 * (this server's served and px.served both 0) does the server announce itself
 * in px.ready_srv, then it tries one more pick for a request that queued
 * between its scan and the announcement.  A server that sees px.served > 0
 * announces nothing (docs/findings.md F1, F4). */
static void arm_ready_srv(struct hq_server *s, int px_ok, int drain, int gave_up)
{
	/* oracle bookkeeping: a dequeuer that gave up (trylock, dequeuing flag)
	 * made its decision there; these checks do not replace it */
	if (qf_load(&s->served, L_RS_SERVED)) {
		if (!gave_up)
			note_nodeq(s, L_RS_SERVED);
		return;
	}
	if (qf_load(&W.px.served, L_RS_PXSERVED)) {
		if (!gave_up)
			note_nodeq(s, L_RS_PXSERVED);
		return;
	}
	if (qf_load(&W.px.ready_srv, L_RS_LOAD)) {
		if (!gave_up)
			note_nodeq(s, L_RS_LOAD);
		return;
	}
	qf_store(&W.px.ready_srv, s->id + 1, L_RS_STORE);
	int locked = !BUG(HQ_BUG_RS_NOLOCK);
	int got = 0;
	/* one pick, from each thread group's queues in turn until one gives */
	for (int g = 0; g < W.ntgrp && !got; g++) {
		struct hq_queue *q = HQ_TGQ(s, g);
		if (locked)
			qf_lock(&q->lock, L_RS_LOCK);
		else
			qf_note(L_RS_NOLOCK, s->id);
		if (reserve_slot(s, hq_dyn_maxconn(s), L_PSQ_RESERVE)) {
			got = pendconn_process_next_strm(s, px_ok, drain, g);
			if (!got)
				qf_add(&s->served, -1, L_PSQ_UNRESERVE);
		}
		if (locked)
			qf_unlock(&q->lock, L_RS_UNLOCK);
	}
	if (got && !BUG(HQ_BUG_RS_COUNTERS)) {
		qf_add(&W.px.totpend, -1, L_RS_TOTPEND);
		qf_add(&W.px.served, 1, L_RS_PXSERVED_INC);
	}
}

/* ---- thread groups: process_srv_queue's non_empty_tgids --------------------- */

#define TG_WORDS (HQ_MAX_TGRP / HQ_LONGBITS + 1)

static int tg_test(const unsigned *w, int g)
{
	return (w[g / HQ_LONGBITS] >> (g % HQ_LONGBITS)) & 1u;
}

/* a verdict whose critical event is the running thread's step now */
static void verdict_here(qf_verdict *v, int kind, int label, int object)
{
	qf_verdict_init(v, kind);
	v->label_a = label;
	v->object = object;
	v->thread_a = qf_self();
	v->step_a = qf_step();
}

/* a write past non_empty_tgids (nbtgroups / LONGBITS + 1 words on the stack) */
static void tg_oob(int idx, int words)
{
	qf_verdict v;
	verdict_here(&v, QF_SAFETY, L_INV_TG_OOB, -1);
	snprintf(v.detail, sizeof v.detail,
		 "process_srv_queue writes non_empty_tgids[%d], past its %d words (%d thread groups, %d bits a word)", idx,
		 words, W.ntgrp, HQ_LONGBITS);
	qf_fail(&v);
}

/* The prefill at the top of process_srv_queue: every group's bit set, whole
 * words first, then bit by bit.  624969884: the whole-word index was
 * nbtgroups - i instead of (nbtgroups - i) / LONGBITS, so from the second
 * whole word on it writes the wrong word (or past the array) and leaves its
 * own word unwritten.  That word is stack garbage upstream; the model reads
 * it as 0: its groups look empty. */
static void tg_prefill(unsigned *w)
{
	int n = W.ntgrp, words = n / HQ_LONGBITS + 1, i = n;
	memset(w, 0, TG_WORDS * sizeof *w);
	while (i >= HQ_LONGBITS) {
		int idx = BUG(HQ_BUG_TGID_WORD) ? n - i : (n - i) / HQ_LONGBITS;
		if (idx >= words)
			tg_oob(idx, words);
		w[idx] = (1u << HQ_LONGBITS) - 1;
		i -= HQ_LONGBITS;
	}
	for (; i > 0; i--)
		w[(n - i) / HQ_LONGBITS] |= 1u << ((n - i) % HQ_LONGBITS);
}

/* Group g gave nothing (empty, or another thread is dequeuing it): clear its
 * bit.  Returns 1 once no group is left (curgrpnb 0), as the one group does. */
static int tg_drop(unsigned *w, int g, int *curgrpnb)
{
	if (W.ntgrp == 1)
		return 1;
	w[g / HQ_LONGBITS] &= ~(1u << (g % HQ_LONGBITS));
	return --*curgrpnb == 0;
}

/* The search for another group found no bit set but its own while
 * curgrpnb still counts some: upstream's loop never ends (the watchdog's
 * case).  In the fixed tree curgrpnb is the number of bits set, so it
 * cannot happen there. */
static void tg_spin(struct hq_server *s, int curgrpnb)
{
	qf_verdict v;
	verdict_here(&v, QF_LIVELOCK, L_PSQ_TG_SPIN, s->id);
	snprintf(v.detail, sizeof v.detail,
		 "process_srv_queue on server %d: %d thread groups still counted, no other group's bit set: the search "
		 "for one loops forever", s->id, curgrpnb);
	qf_fail(&v);
}

/* Which group's queues this round takes from (3.2+): its own group's, up to
 * MAX_SELF_USE_QUEUE picks (self_served counts them, modulo one more), then
 * one from the next group whose bit is set after the last other one served
 * (last_other_tgrp_served, 1-based).  *to_dequeue: how many it may take. */
static int tg_pick(struct hq_server *s, const unsigned *w, int curgrpnb, int tgid, int *to_dequeue)
{
	struct hq_queue *own = HQ_TGQ(s, tgid);
	long self = qf_load(&own->self_served, L_PSQ_SELF_SERVED) % (HQ_MAX_SELF_USE_QUEUE + 1);
	int own_bit = tg_test(w, tgid);
	if ((self == HQ_MAX_SELF_USE_QUEUE && (curgrpnb > 1 || !own_bit)) || !own_bit) {
		long old = qf_load(&own->last_other, L_PSQ_LAST_OTHER);
		for (;;) {
			int next = (int)old + 1, turns = 0;
			while (next == tgid + 1 || next == W.ntgrp + 1 || !tg_test(w, next - 1)) {
				next = next == W.ntgrp + 1 ? 1 : next + 1;
				if (++turns > 2 * (W.ntgrp + 1))
					tg_spin(s, curgrpnb);
			}
			if (qf_cas(&own->last_other, old, next, L_PSQ_LAST_OTHER_CAS)) {
				*to_dequeue = 1;
				return next - 1;
			}
			old = __atomic_load_n(&own->last_other, __ATOMIC_SEQ_CST); /* what the failed CAS saw */
		}
	}
	if (self == HQ_MAX_SELF_USE_QUEUE)
		self = 0;
	*to_dequeue = HQ_MAX_SELF_USE_QUEUE - (int)self;
	return tgid;
}

/* One thread group: every round takes from its queues, with no bound but
 * maxpollevents (upstream's split of a round after MAX_SELF_USE_QUEUE picks
 * only adds an unlock and a lock there, and is left out so that one-group
 * traces are those of the model before groups).  Several groups: the rounds
 * follow tg_pick, and a group that gives nothing leaves the bitmap. */
static void process_srv_queue(struct hq_server *s)
{
	int actives = any_active_usable();
	int px_ok = BUG(HQ_BUG_BACKUP_DRAIN) ? hq_usable(s) : hq_px_ok(s);
	int drain = s->backup && actives && px_ok;
	int stop = 0, done = 0, gave_up = 0;
	int groups = W.ntgrp > 1, tgid = my_tgrp(), curgrpnb = W.ntgrp;
	unsigned tgids[TG_WORDS];
	long maxconn;
	if (groups)
		tg_prefill(tgids);
	for (;;) {
		if (groups && stop && !BUG(HQ_BUG_NO_STOP))
			break; /* curgrpnb 0, before reading served */
		long served = qf_load(&s->served, L_PSQ_SERVED);
		/* 19c5581b4: without `stop`, a free slot and an empty queue loop forever */
		if ((stop && !BUG(HQ_BUG_NO_STOP)) || !(done < W.px.maxpollevents || served == 0))
			break;
		maxconn = hq_dyn_maxconn(s);
		if (served >= maxconn)
			break;
		int cur = 0, to_dequeue = -1; /* -1: no bound */
		if (groups)
			cur = tg_pick(s, tgids, curgrpnb, tgid, &to_dequeue);
		struct hq_queue *q = HQ_TGQ(s, cur);
		if (BUG(HQ_BUG_TRYLOCK)) {
			if (!qf_trylock(&q->lock, L_PSQ_TRYLOCK)) {
				note_nodeq(s, L_PSQ_TRYLOCK);
				gave_up = 1;
				break; /* gives up if anybody holds the lock */
			}
		} else {
			if (qf_xchg(&q->dequeuing, 1, L_PSQ_DEQ_XCHG)) {
				note_nodeq(s, L_PSQ_DEQ_XCHG);
				gave_up = 1;
				/* someone else is dequeuing this group: on to the others */
				if (tg_drop(tgids, cur, &curgrpnb))
					break;
				continue;
			}
			if (BUG(HQ_BUG_LOCK_ORDER))
				qf_lock(&HQ_TGQ(&W.px, cur)->lock, L_PSQ_PXLOCK_FIRST); /* proxy, then server: AB/BA */
			qf_lock(&q->lock, L_PSQ_LOCK);
			if (BUG(HQ_BUG_LOCK_ORDER))
				qf_unlock(&HQ_TGQ(&W.px, cur)->lock, L_PNS_PXUNLOCK);
		}
		while (to_dequeue != 0) {
			int got;
			if (BUG(HQ_BUG_SERVED_CHECK)) {
				if (qf_load(&s->served, L_PSQ_SERVED) >= maxconn)
					break;
				got = pendconn_process_next_strm(s, px_ok, drain, cur);
				if (got)
					served_inc(s, maxconn, L_PSQ_SERVED_INC);
			} else {
				if (!reserve_slot(s, maxconn, L_PSQ_RESERVE))
					break;
				got = pendconn_process_next_strm(s, px_ok, drain, cur);
				if (!got)
					qf_add(&s->served, -1, L_PSQ_UNRESERVE);
			}
			if (!got) {
				stop = tg_drop(tgids, cur, &curgrpnb);
				break;
			}
			if (groups) {
				to_dequeue--;
				if (cur == tgid)
					qf_add(&q->self_served, 1, L_PSQ_SELF_INC);
			}
			done++;
			if (done >= W.px.maxpollevents)
				break;
		}
		if (!BUG(HQ_BUG_TRYLOCK))
			qf_store(&q->dequeuing, 0, L_PSQ_DEQ_CLR);
		qf_unlock(&q->lock, L_PSQ_UNLOCK);
	}
	if (done) {
		qf_add(&W.px.totpend, -done, L_PSQ_TOTPEND);
		qf_add(&W.px.served, done, L_PSQ_PXSERVED);
		lb_hook();
	}
	if (!BUG(HQ_BUG_SEED_PX) && !BUG(HQ_PRE_READY_SRV))
		arm_ready_srv(s, px_ok, drain, gave_up);
}

/* ---- queueing ----------------------------------------------------------- */

static int pendconn_add(struct hq_stream *s)
{
	/* atomic: free-running stress mode builds this file too, where two
	 * threads can queue at once (one at a time under the controlled core) */
	int idx = s->spare_pc;
	if (idx >= 0)
		s->spare_pc = -1; /* the pool recycles: a long balance_again spin stays a LIVELOCK */
	else
		idx = __atomic_fetch_add(&W.npc, 1, __ATOMIC_RELAXED);
	if (idx >= HQ_MAX_PC)
		return -1;
	struct hq_pendconn *p = &W.pc[idx];
	memset(p, 0, sizeof *p);
	p->target = -1;
	p->strm = s->id;
	p->strm_flags = s->flags;
	p->prev = p->next = -1;
	p->key = __atomic_fetch_add(&W.seq, 1, __ATOMIC_RELAXED); /* time order: the clock never goes back */
	qf_lock_init(&p->del_lock, 100 + idx, RANK_DEL);
	s->pend_pos = idx;
	/* the queue of the calling thread's group */
	int tg = my_tgrp();
	struct hq_queue *q = (s->flags & SF_ASSIGNED) ? HQ_TGQ(&W.srv[s->target], tg) : HQ_TGQ(&W.px, tg);
	p->queue = q;
	/* the length is published before the entry exists in the queue */
	qlen_add(q, 1, L_PADD_LENGTH, 1);
	qf_lock(&q->lock, L_PADD_LOCK);
	qf_point(L_PADD_INSERT, q);
	q_link(q, idx);
	qf_unlock(&q->lock, L_PADD_UNLOCK);
	qf_add(&W.px.totpend, 1, L_PADD_TOTPEND);
	return idx;
}

/* Returns 1 (and frees the entry) if the caller was queued on the backend
 * queue while no server holds a slot any more: it must balance again. */
static int pendconn_must_try_again(struct hq_stream *s, int idx)
{
	struct hq_pendconn *p = hq_pc(idx);
	qf_point(L_MTA_LINKED, &p->linked);
	if (!p->linked)
		return 0;
	if (p->queue->sv >= 0) {
		if (qf_load(&W.srv[p->queue->sv].served, L_MTA_SERVED) > 0)
			return 0;
	} else if (qf_load(&W.px.served, L_MTA_SERVED) > 0)
		return 0;
	int removed = 0;
	qf_lock(&p->queue->lock, L_MTA_LOCK);
	qf_lock(&p->del_lock, L_MTA_DEL_LOCK);
	if (p->linked) {
		qf_point(L_MTA_UNLINK, p->queue);
		q_unlink(p->queue, idx);
		removed = 1;
	}
	qf_unlock(&p->del_lock, L_MTA_DEL_UNLOCK);
	qf_unlock(&p->queue->lock, L_MTA_UNLOCK);
	if (removed) {
		qlen_add(p->queue, -1, L_MTA_LENGTH, 1);
		qf_add(&W.px.totpend, -1, L_MTA_TOTPEND);
		s->pend_pos = -1;
		p->freed = 1;
		/* nobody else can reach it: it was unlinked before any picker saw it */
		s->spare_pc = idx;
	}
	return removed;
}

/* cda7275ef: just queued on the backend; if a server announced itself idle
 * (px.ready_srv), take its slot and leave the queue at once.  Returns
 * SRV_OK with the slot, or SRV_QUEUED. */
/* #3177: a server handed out after `del server` is a use after free */
static void srv_gone_check(struct hq_server *srv)
{
	if (!srv->deleted)
		return;
	qf_verdict v;
	qf_verdict_init(&v, QF_SAFETY);
	v.label_a = L_INV_SRV_UAF;
	v.object = srv->id;
	v.thread_a = qf_self();
	v.step_a = qf_step();
	snprintf(v.detail, sizeof v.detail, "px.ready_srv hands out server %d after it was deleted", srv->id);
	qf_fail(&v);
}

static int take_ready_srv(struct hq_stream *s, int idx)
{
	if (!qf_load(&W.px.ready_srv, L_ASQ_RS_LOAD)) {
		qf_note(L_ASQ_RS_EMPTY, s->id);
		return SRV_QUEUED;
	}
	long rs = qf_xchg(&W.px.ready_srv, 0, L_ASQ_RS_XCHG);
	if (!rs) {
		qf_note(L_ASQ_RS_EMPTY, s->id);
		return SRV_QUEUED;
	}
	struct hq_server *ns = &W.srv[rs - 1];
	srv_gone_check(ns);
	int got = 0;
	while (qf_load(&ns->served, L_ASQ_RS_SERVED) == 0)
		if (qf_cas(&ns->served, 0, 1, L_ASQ_RS_CAS)) {
			got = 1;
			break;
		}
	if (!got)
		return SRV_QUEUED; /* somebody runs there now: it will dequeue us */
	struct hq_pendconn *p = hq_pc(idx);
	struct hq_queue *q = p->queue;
	qf_lock(&q->lock, L_ASQ_RS_LOCK);
	if (!p->linked) {
		/* a dequeuer was faster and gave us a slot: give this one back
		 * (e9d34f991: the lock too) */
		if (!BUG(HQ_BUG_RS_UNLOCK))
			qf_unlock(&q->lock, L_ASQ_RS_UNLOCK);
		qf_add(&ns->served, -1, L_ASQ_RS_GIVEBACK);
		note_nodeq(ns, L_ASQ_RS_GIVEBACK);
		return SRV_QUEUED;
	}
	qf_point(L_ASQ_RS_UNLINK, q);
	q_unlink(q, idx);
	qf_unlock(&q->lock, L_ASQ_RS_UNLOCK);
	qlen_add(q, -1, L_ASQ_RS_LENGTH, !BUG(HQ_BUG_QUEUESLENGTH));
	qf_add(&W.px.totpend, -1, L_ASQ_RS_TOTPEND);
	p->freed = 1;
	s->spare_pc = idx;
	s->pend_pos = -1;
	s->flags |= SF_ASSIGNED;
	s->target = ns->id;
	qf_note(L_ASQ_RS_TAKEN, ns->id);
	sess_change_server(s, ns->id, 1, 0);
	return SRV_OK;
}

/* ---- load balancing --------------------------------------------------- */

/* RR, first and leastconn skip a server that has a queue or no free slot */
static int lb_has_room(struct hq_server *sv)
{
	if (!sv->maxconn)
		return 1;
	if (qf_load(&sv->queueslength, L_LB_QLEN))
		return 0;
	return qf_load(&sv->served, L_LB_SERVED) < hq_dyn_maxconn(sv);
}

/* our own integer mixer: the random LB's draws are a function of the
 * workload (the request's key, how many draws it made before), so a
 * reproducer replays them exactly and shrinking the key changes them */
static uint32_t rnd_draw(uint32_t key, uint32_t n)
{
	uint32_t h = key * 0x9e3779b1u ^ (n + 1) * 0x85ebca77u;
	h ^= h >> 15;
	h *= 0x2c1b3c6du;
	h ^= h >> 12;
	h *= 0x297a2d39u;
	h ^= h >> 15;
	return h;
}

/* chash_get_server_hash: one draw on the ring of eligible servers, under the
 * lbprm read lock */
static int rnd_one(struct hq_stream *s)
{
	int cands[HQ_MAX_SRV], nc = 0;
	int shared = lb_rdlock(L_LB_LOCK);
	qf_point(L_RND_DRAW, &W.px.lb_lock);
	for (int i = 0; i < W.nsrv; i++)
		if (lb_eligible(&W.srv[i]))
			cands[nc++] = i;
	int pick = nc ? cands[rnd_draw(s->key, s->lb_calls++) % (uint32_t)nc] : -1;
	lb_rdunlock(shared, L_LB_UNLOCK);
	return pick;
}

/* get_server_rnd: `draws` draws, keep the one serving fewer (weights are
 * equal in the model), then a full server or one with a queue counts as
 * none, so that the request goes to the backend queue */
static int lb_pick_random(struct hq_stream *s)
{
	int curr = -1;
	for (int d = 0; d < W.px.draws; d++) {
		int prev = curr;
		curr = rnd_one(s);
		if (curr < 0)
			break;
		if (prev >= 0 && prev != curr &&
		    qf_load(&W.srv[curr].served, L_RND_SERVED) > qf_load(&W.srv[prev].served, L_RND_SERVED))
			curr = prev;
	}
	if (curr >= 0 && !lb_has_room(&W.srv[curr]))
		curr = -1;
	return curr;
}

static int lb_pick(struct hq_stream *s)
{
	int n = W.nsrv, pick = -1;
	struct hq_proxy *px = &W.px;
	if (px->balance == LB_HASH) {
		/* map-based hash: the key alone chooses, whatever the load */
		int cands[HQ_MAX_SRV], nc = 0;
		for (int i = 0; i < n; i++)
			if (lb_eligible(&W.srv[i]))
				cands[nc++] = i;
		return nc ? cands[s->key % nc] : -1;
	}
	if (px->balance == LB_RANDOM)
		return lb_pick_random(s);
	int shared = 0;
	if (px->balance == LB_ROUNDROBIN)
		lb_wrlock(L_LB_LOCK);
	else
		shared = lb_rdlock(L_LB_LOCK);
	if (px->balance == LB_ROUNDROBIN) {
		for (int i = 0; i < n && pick < 0; i++) {
			int sv = (px->rr_next + i) % n;
			if (lb_eligible(&W.srv[sv]) && lb_has_room(&W.srv[sv]))
				pick = sv;
		}
		if (pick >= 0)
			px->rr_next = (pick + 1) % n;
	} else if (px->balance == LB_FIRST) {
		for (int sv = 0; sv < n && pick < 0; sv++)
			if (lb_eligible(&W.srv[sv]) && lb_has_room(&W.srv[sv]))
				pick = sv;
	} else { /* leastconn: fewest served + queued, full ones only with maxqueue */
		long best = 0;
		for (int sv = 0; sv < n; sv++) {
			struct hq_server *v = &W.srv[sv];
			if (!lb_eligible(v))
				continue;
			long load = qf_load(&v->served, L_LB_SERVED) + qf_load(&v->queueslength, L_LB_QLEN);
			if (v->maxconn && load >= hq_dyn_maxconn(v) + v->maxqueue)
				continue;
			if (pick < 0 || load < best) {
				pick = sv;
				best = load;
			}
		}
	}
	if (px->balance == LB_ROUNDROBIN)
		qf_unlock(&px->lb_lock, L_LB_UNLOCK);
	else
		lb_rdunlock(shared, L_LB_UNLOCK);
	return pick;
}

static int assign_server(struct hq_stream *s)
{
	if (s->pend_pos >= 0 || (s->flags & SF_ASSIGNED))
		return SRV_INTERNAL;
	int conn_slot = s->srv_conn;
	if (conn_slot >= 0)
		sess_change_server(s, -1, 0, 0);
	s->target = -1;
	int err = SRV_OK;
	int usable = 0;
	for (int i = 0; i < W.nsrv; i++)
		usable |= lb_eligible(&W.srv[i]);
	if (!usable) {
		err = SRV_NOSRV;
		goto out;
	}
	if (W.px.balance == LB_ROUNDROBIN || W.px.balance == LB_FIRST) {
		/* skip-LB shortcut: others are queued, join them without looking */
		long qlen = qf_load(&W.px.queueslength, L_AS_SKIP_PXQLEN);
		if (qlen && qlen != qf_load(&W.px.beconn, L_AS_SKIP_BECONN) &&
		    (BUG(HQ_BUG_SKIPLB_SERVED) || qf_load(&W.px.served, L_AS_SKIP_PXSERVED))) {
			/* oracle bookkeeping: the case ca275d99c rules out, named as such */
			/* (the 2024 trees show it as balance_again's LIVELOCK instead) */
			int label = BUG(HQ_BUG_SKIPLB_SERVED) && !BUG(HQ_PRE_READY_SRV) && !W.px.served ? L_AS_SKIPLB_NOSERVED
													 : L_AS_SKIPLB_FULL;
			note_full(s, label);
			qf_note(label, 0);
			err = SRV_FULL;
			goto out;
		}
	}
	int srv = lb_pick(s);
	if (srv < 0) {
		/* random: only the drawn servers were looked at (docs/findings.md F6) */
		int label = W.px.balance == LB_RANDOM ? L_RND_FULL : L_LB_FULL;
		note_full(s, label);
		qf_note(label, 0);
		err = SRV_FULL;
		goto out;
	}
	qf_note(L_LB_PICK, srv);
	s->target = srv;
	s->flags |= SF_ASSIGNED;
out:
	if (conn_slot >= 0 && conn_slot != s->target) {
		if (may_dequeue_tasks(&W.srv[conn_slot]))
			process_srv_queue(&W.srv[conn_slot]);
	}
	return err;
}

static int assign_server_and_queue(struct hq_stream *s)
{
balance_again:
	if (s->pend_pos >= 0)
		return SRV_INTERNAL;
	int err = SRV_OK;
	if (!(s->flags & SF_ASSIGNED))
		err = assign_server(s);
	if (err == SRV_OK) {
		if (s->target < 0)
			return SRV_OK;
		struct hq_server *srv = &W.srv[s->target];
		if (s->srv_conn == s->target)
			return SRV_OK;
		if (srv->maxconn) {
			int reserved = 0, full;
			long limit = 0;
			if (qf_load(&HQ_TGQ(srv, my_tgrp())->length, L_ASQ_QLEN)) {
				full = 1;
				note_full(s, L_ASQ_QLEN);
			} else if (BUG(HQ_BUG_SERVED_CHECK)) {
				limit = hq_dyn_maxconn(srv);
				full = qf_load(&srv->served, L_ASQ_SERVED) >= limit;
				if (full)
					note_full(s, L_ASQ_SERVED);
			} else {
				reserved = reserve_slot(srv, hq_dyn_maxconn(srv), L_ASQ_CAS);
				full = !reserved;
				if (full)
					note_full(s, L_ASQ_SERVED);
			}
			if (full) {
				qf_note(L_ASQ_FULL, srv->id);
				if (srv->maxqueue > 0 && qf_load(&srv->queueslength, L_ASQ_MAXQUEUE) >= srv->maxqueue)
					return SRV_FULL;
				return pendconn_add(s) >= 0 ? SRV_QUEUED : SRV_INTERNAL;
			}
			sess_change_server(s, srv->id, reserved, limit);
			return SRV_OK;
		}
		sess_change_server(s, srv->id, 0, 0);
		return SRV_OK;
	}
	if (err == SRV_FULL) {
		int p = pendconn_add(s);
		if (p < 0)
			return SRV_INTERNAL;
		if (BUG(HQ_BUG_SEED_PX))
			return SRV_QUEUED;
		if (BUG(HQ_PRE_READY_SRV)) {
			if (pendconn_must_try_again(s, p)) {
				qf_yield(L_BALANCE_AGAIN);
				goto balance_again;
			}
			return SRV_QUEUED;
		}
		return take_ready_srv(s, p);
	}
	return err;
}

/* ---- the stream's life --------------------------------------------------- */

static void stream_free(struct hq_stream *s);

/* sess_change_server(s, NULL), then offer the slot to the queues; with the
 * variant bit `skip` set the dequeue is missing (recorded as `label`) */
static void release_slot(struct hq_stream *s, struct hq_server *srv, uint32_t skip, int label)
{
	sess_change_server(s, -1, 0, 0);
	if (BUG(skip)) {
		note_nodeq(srv, label);
		qf_note(label, srv->id);
	} else if (may_dequeue_tasks(srv))
		process_srv_queue(srv);
}

static void close_with(struct hq_stream *s, int result)
{
	s->result = result;
	qf_note(result, s->id);
	stream_free(s);
}

/* back_handle_st_req -> srv_redispatch_connect.  Returns 1 when the stream
 * must wait (queued) or is over, 0 when it got a slot (SC_ST_ASS). */
static int srv_redispatch_connect(struct hq_stream *s)
{
	int err = assign_server_and_queue(s);
	int srv = s->target;
	switch (err) {
	case SRV_OK:
		return 0;
	case SRV_FULL:
		if ((s->flags & SF_DIRECT) && W.px.redispatch) {
			/* maxqueue reached on the persistent server: balance instead */
			s->flags &= ~(SF_DIRECT | SF_ASSIGNED);
			return srv_redispatch_connect(s);
		}
		close_with(s, L_RESP_SQ);
		return 1;
	case SRV_NOSRV:
		close_with(s, L_RESP_NOSRV);
		return 1;
	case SRV_QUEUED:
		s->conn_exp = qf_now() + W.px.timeout_queue;
		/* another of its timeouts (client, http-request) may fire first */
		arm(s, s->tick > qf_now() && s->tick < s->conn_exp ? s->tick : s->conn_exp);
		s->state = ST_QUE;
		s->queued_at = qf_now();
		qf_note(L_QUEUED, s->id);
		/* 5541d4995: we may have queued just after the last slot holder
		 * left; look again and dequeue ourselves if so */
		if (!BUG(HQ_BUG_SEED_SRV) && srv >= 0 && (s->flags & SF_ASSIGNED) &&
		    may_dequeue_tasks(&W.srv[srv]))
			process_srv_queue(&W.srv[srv]);
		return 1;
	default:
		close_with(s, L_RESP_INTERNAL);
		if (srv >= 0 && may_dequeue_tasks(&W.srv[srv]))
			process_srv_queue(&W.srv[srv]);
		return 1;
	}
}

/* the owner takes its entry out of the queue (timeout, abort, free) */
static void pendconn_unlink(int idx)
{
	struct hq_pendconn *p = hq_pc(idx);
	struct hq_queue *q = p->queue;
	int done = 0;
	if (BUG(HQ_BUG_UNLINK_RACE) || BUG(HQ_BUG_STALE_LINKED)) {
		/* the old pendconn_cond_unlink: test "linked" without the lock */
		qf_point(L_PU_CHECK, &p->linked);
		int seen = (int)p->linked;
		/* fac0f645d: the tree pointer read can be caught mid-rewrite by a
		 * thread that holds the queue lock to insert or remove a neighbour */
		if (BUG(HQ_BUG_STALE_LINKED) && q->lock.owner >= 0 && q->lock.owner != qf_self())
			seen = 0;
		if (!seen)
			return;
	}
	qf_lock(&q->lock, L_PU_LOCK);
	int del = !BUG(HQ_BUG_NO_DEL_LOCK);
	if (del)
		qf_lock(&p->del_lock, L_PU_DEL_LOCK);
	if (p->linked || BUG(HQ_BUG_UNLINK_RACE)) {
		/* 9ada03069: unlinks (idempotent) and counts it, even if a picker was faster */
		qf_point(L_PU_UNLINK, q);
		q_unlink(q, idx);
		done = 1;
	}
	if (del)
		qf_unlock(&p->del_lock, L_PU_DEL_UNLOCK);
	qf_unlock(&q->lock, L_PU_UNLOCK);
	if (done) {
		qlen_add(q, -1, L_PU_LENGTH, !BUG(HQ_BUG_QUEUESLENGTH));
		qf_add(&W.px.totpend, -1, L_PU_TOTPEND);
	}
}

/* Returns 1 while still queued, 0 once picked (or redistributed). */
static int pendconn_dequeue(struct hq_stream *s)
{
	int idx = s->pend_pos;
	struct hq_pendconn *p = hq_pc(idx);
	qf_lock(&p->queue->lock, L_PD_LOCK);
	int linked = (int)p->linked;
	qf_unlock(&p->queue->lock, L_PD_UNLOCK);
	/* waits for a picker still holding the entry */
	if (!BUG(HQ_BUG_NO_DEL_LOCK)) {
		qf_lock(&p->del_lock, L_PD_DEL_LOCK);
		qf_unlock(&p->del_lock, L_PD_DEL_UNLOCK);
	}
	if (linked)
		return 1;
	s->flags = (s->flags & ~(SF_DIRECT | SF_ASSIGNED)) | (p->strm_flags & (SF_DIRECT | SF_ASSIGNED));
	if (p->target >= 0) {
		s->target = p->target;
		s->flags |= SF_ASSIGNED;
	}
	s->pend_pos = -1;
	p->freed = 1;
	return 0;
}

static void stream_free(struct hq_stream *s)
{
	if (s->pend_pos >= 0) {
		pendconn_unlink(s->pend_pos);
		W.pc[s->pend_pos].freed = 1;
		s->pend_pos = -1;
	}
	if (s->target >= 0) {
		struct hq_server *srv = &W.srv[s->target];
		if (s->flags & SF_CURR_SESS) {
			s->flags &= ~SF_CURR_SESS;
			qf_add(&srv->cur_sess, -1, L_CUR_SESS_DEC);
		}
		if (may_dequeue_tasks(srv))
			process_srv_queue(srv);
	}
	if (s->srv_conn >= 0) {
		/* the late release; dc9ce9c26 made it kick the queue */
		release_slot(s, &W.srv[s->srv_conn], HQ_BUG_FREE_NODEQ, L_FREE_NODEQ);
	}
	qf_add(&W.px.beconn, -1, L_BECONN_DEC);
	s->state = ST_CLO;
}

/* stream_map_task_state + the "only a timer refresh" shortcut of
 * process_stream: woken by its own timer alone, before `timeout queue`, a
 * queued stream refreshes its timer and leaves without looking at its queue
 * entry.  Before 13c344516 TASK_WOKEN_RES was not mapped to a stream event,
 * so a dequeue's wake-up that arrived together with a timer was dropped and
 * the stream slept on its new slot until `timeout queue`.  Returns 1 if the
 * stream must be processed. */
static int stream_events(struct hq_stream *s)
{
	int timer = s->task_exp != QF_ETERNITY && qf_now() >= s->task_exp;
	int res = (int)__atomic_exchange_n(&s->res, 0, __ATOMIC_SEQ_CST);
	int msg = s->msg;
	s->msg = 0;
	if (timer)
		s->task_exp = QF_ETERNITY; /* it fired */
	if (BUG(HQ_BUG_WOKEN_RES))
		res = 0;
	if (!timer || res || msg || qf_now() >= s->conn_exp)
		return 1;
	qf_note(L_STRM_TIMER_ONLY, s->id);
	arm(s, s->conn_exp);
	if (s->pend_pos >= 0 && !W.pc[s->pend_pos].linked && s->slept_since == QF_ETERNITY) {
		/* oracle bookkeeping: it was handed a slot and sleeps on it */
		s->slept_since = qf_now();
		s->slept_step = qf_step();
		s->slept_thread = qf_self();
	}
	return 0;
}

/* the release after a connect error must offer the slot to the queues */
static void cer_release(struct hq_stream *s, struct hq_server *srv)
{
	release_slot(s, srv, HQ_ABLATE_CER_DEQ, L_CER_NODEQ);
}

static int active_usable_count(void)
{
	int n = 0;
	for (int i = 0; i < W.nsrv; i++)
		n += !W.srv[i].backup && hq_usable(&W.srv[i]);
	return n;
}

/* back_handle_st_cer + stream_choose_redispatch.  Returns 1 when the stream
 * is over or waits (turn-around), 0 to go on in its new state. */
static int back_handle_st_cer(struct hq_stream *s)
{
	struct hq_server *srv = &W.srv[s->target];
	if (s->flags & SF_CURR_SESS) {
		s->flags &= ~SF_CURR_SESS;
		qf_add(&srv->cur_sess, -1, L_CER_CUR_SESS_DEC);
	}
	if (s->conn_retries >= W.px.retries) {
		qf_note(L_CER_GIVEUP, srv->id);
		cer_release(s, srv);
		close_with(s, L_RESP_CONNERR);
		return 1;
	}
	s->conn_retries++;
	/* redispatch: on the last retry (redispatch_after -1), at once when the
	 * server is not running at full speed, or when another active server
	 * can take it and the algorithm is not a hash */
	if (W.px.redispatch && (!hq_usable(srv) || srv->starting || s->conn_retries % W.px.retries == 0 ||
				(!(s->flags & SF_DIRECT) && active_usable_count() > 1 && W.px.balance != LB_HASH))) {
		qf_note(L_CER_REDISPATCH, srv->id);
		cer_release(s, srv);
		s->flags &= ~(SF_DIRECT | SF_ASSIGNED);
		s->state = ST_REQ;
		return 0;
	}
	/* retry on the same server, keeping its slot, after a turn-around of
	 * one time unit (upstream: min(1 s, timeout connect)) */
	qf_note(L_CER_RETRY, srv->id);
	s->state = ST_TAR;
	s->end_at = qf_now() + 1;
	arm(s, s->end_at);
	return 1;
}

static void process_stream(struct hq_stream *s)
{
	for (;;) {
		switch (s->state) {
		case ST_INI:
			if (qf_now() < s->arrival)
				return;
			qf_note(L_ARRIVE, s->id);
			{
				long before[HQ_MAX_SRV];
				for (int i = 0; i < W.nsrv; i++)
					before[i] = hq_dyn_maxconn(&W.srv[i]);
				qf_add(&W.px.beconn, 1, L_BECONN_INC);
				/* with minconn/fullconn the limit grows with beconn, and
				 * nobody looks at the queues when it does (findings F3) */
				for (int i = 0; i < W.nsrv; i++)
					if (hq_dyn_maxconn(&W.srv[i]) > before[i])
						note_nodeq(&W.srv[i], L_BECONN_INC);
			}
			if (s->cookie >= 0 && hq_usable(&W.srv[s->cookie])) {
				/* a persistence cookie names a server that is up: no LB */
				s->target = s->cookie;
				s->flags |= SF_ASSIGNED | SF_DIRECT;
				qf_note(L_PERSIST, s->cookie);
			}
			s->state = ST_REQ;
			continue;
		case ST_REQ:
			if (srv_redispatch_connect(s))
				return;
			s->state = ST_ASS;
			continue;
		case ST_QUE:
			if (!stream_events(s))
				return; /* 13c344516: only a timer to refresh, it thinks */
			if (pendconn_dequeue(s) == 0) {
				if (s->slept_since != QF_ETERNITY && qf_now() >= s->conn_exp)
					hq_oracle_slept(s);
				s->conn_exp = QF_ETERNITY;
				arm(s, QF_ETERNITY);
				if (s->flags & SF_ASSIGNED) {
					qf_note(L_PICKED, s->target);
					s->state = ST_ASS;
				} else {
					qf_note(L_REDISPATCHED, s->id);
					s->state = ST_REQ;
				}
				continue;
			}
			if (qf_now() < s->conn_exp) {
				if (s->task_exp == QF_ETERNITY)
					arm(s, s->conn_exp); /* its other timer fired: the queue timeout still runs */
				return; /* still queued, woken for nothing */
			}
			hq_oracle_queue_timeout(s);
			close_with(s, L_TIMEOUT);
			return;
		case ST_ASS: {
			/* connect_server: the slot becomes a live session.  With no
			 * target (87154e301's race: the entry was unlinked by a picker
			 * that has not handed it a server yet) the count goes to a
			 * scratch cell, at the same schedule point: the real stream
			 * would use a server it was never given, and the model must
			 * not index W.srv[-1] */
			static long no_target_cur_sess;
			long *cur_sess = s->target >= 0 ? &W.srv[s->target].cur_sess : &no_target_cur_sess;
			if (s->target < 0)
				no_target_cur_sess = 0;
			qf_add(cur_sess, 1, L_CUR_SESS_INC);
			s->flags |= SF_CURR_SESS;
			if (s->fails > 0) {
				/* the workload's pattern: this attempt fails; the error
				 * comes back one time unit later */
				s->fails--;
				s->state = ST_CER;
				s->end_at = qf_now() + 1;
				arm(s, s->end_at);
				return;
			}
			s->state = ST_EST;
			s->end_at = qf_now() + s->duration;
			arm(s, s->end_at);
			qf_note(L_CONNECTED, s->target);
			return;
		}
		case ST_CER:
			if (qf_now() < s->end_at)
				return;
			qf_note(L_CONN_FAIL, s->target);
			if (back_handle_st_cer(s))
				return;
			continue;
		case ST_TAR:
			if (qf_now() < s->end_at)
				return;
			/* turn-around over: the same server while still assigned */
			s->state = (s->flags & SF_ASSIGNED) ? ST_ASS : ST_REQ;
			continue;
		case ST_EST: {
			if (qf_now() < s->end_at && !s->killed)
				return;
			/* SC_ST_DIS: the server closed; release the slot, kick the queue */
			struct hq_server *srv = &W.srv[s->target];
			if (s->flags & SF_CURR_SESS) {
				s->flags &= ~SF_CURR_SESS;
				qf_add(&srv->cur_sess, -1, L_CUR_SESS_DEC);
			}
			sess_change_server(s, -1, 0, 0);
			if (may_dequeue_tasks(srv))
				process_srv_queue(srv);
			close_with(s, L_RESP_200);
			return;
		}
		default:
			return;
		}
	}
}

/* ---- admin events --------------------------------------------------------- */

static void pendconn_redistribute_px(struct hq_server *s);

/* pendconn_redistribute's loop: every thread group's queue (q0, then more[])
 * emptied, each entry's stream woken to go back to LB (`unassign`: no longer
 * bound to the server); labels: lock, unlink, wake, unlock, length */
static void redistribute_queues(struct hq_queue *q0, struct hq_queue *more, const int *labels, int unassign)
{
	int n = 0;
	for (int g = 0; g < W.ntgrp; g++) {
		struct hq_queue *q = g ? &more[g - 1] : q0;
		int local = 0;
		qf_lock(&q->lock, labels[0]);
		for (int idx = q->head; idx >= 0;) {
			struct hq_pendconn *p = hq_pc(idx);
			int next = p->next;
			qf_point(labels[1], q);
			q_unlink(q, idx);
			if (unassign)
				p->strm_flags &= ~(SF_DIRECT | SF_ASSIGNED);
			wake_res(p->strm, labels[2]);
			local++;
			idx = next;
		}
		qf_unlock(&q->lock, labels[3]);
		if (local)
			qlen_add(q, -local, labels[4], 1);
		n += local;
	}
	if (n)
		qf_add(&W.px.totpend, -n, labels[4]);
}

static void pendconn_redistribute(struct hq_server *s)
{
	if (!W.px.redispatch) {
		pendconn_redistribute_px(s);
		return;
	}
	static const int labels[] = {L_RD_LOCK, L_RD_UNLINK, L_RD_WAKE, L_RD_UNLOCK, L_RD_LENGTH};
	redistribute_queues(&s->queue, s->tgq, labels, 1);
	pendconn_redistribute_px(s);
}

/* 53f52e67a: once no server of the backend is usable (tot_wact and tot_wbck
 * both 0), nobody will ever take from the backend queue: send its entries
 * back to LB, where they get a 503 at once instead of at `timeout queue`. */
static void pendconn_redistribute_px(struct hq_server *s)
{
	for (int i = 0; i < W.nsrv; i++)
		if (hq_usable(&W.srv[i]))
			return;
	if (BUG(HQ_BUG_REDIST_PX)) {
		W.px.orphan_before = W.seq;
		W.px.orphan_srv = s->id;
		W.px.orphan_step = qf_step();
		W.px.orphan_thread = qf_self();
		qf_note(L_RD_SKIP_PX, s->id);
		return;
	}
	static const int labels[] = {L_RD_PX_LOCK, L_RD_PX_UNLINK, L_RD_PX_WAKE, L_RD_PX_UNLOCK, L_RD_PX_LENGTH};
	redistribute_queues(&W.px.queue, W.px.tgq, labels, 0);
}

static void pendconn_grab_from_px(struct hq_server *s)
{
	if (!hq_px_ok(s))
		return;
	/* (older than thread groups: the model takes each group's queue in turn) */
	int n = 0;
	for (int g = 0; g < W.ntgrp; g++) {
		struct hq_queue *q = HQ_TGQ(&W.px, g);
		int local = 0;
		qf_lock(&q->lock, L_GR_LOCK);
		long maxconn = hq_dyn_maxconn(s);
		for (int idx = q->head; idx >= 0;) {
			if (s->maxconn && s->served + n + local >= maxconn)
				break;
			struct hq_pendconn *p = hq_pc(idx);
			int next = p->next;
			qf_point(L_GR_UNLINK, q);
			q_unlink(q, idx);
			p->target = s->id; /* no slot reserved: the 111ea83ed problem */
			wake_res(p->strm, L_GR_WAKE);
			local++;
			idx = next;
		}
		qf_unlock(&q->lock, L_GR_UNLOCK);
		if (local)
			qlen_add(q, -local, L_GR_LENGTH, 1);
		n += local;
	}
	if (n) {
		qf_add(&W.px.totpend, -n, L_GR_LENGTH);
		s->grab_step = qf_step();
		s->grab_thread = qf_self();
	}
}

/* srv_update_status (the server no longer runs) and srv_detach (deleted):
 * px.ready_srv must not keep naming it.  0144426df: a CAS from this server
 * to NULL, in both places; before it, a load-then-store on status change
 * (which can wipe another server's announcement made in between) and
 * nothing at all on delete. */
static void ready_srv_reset(struct hq_server *s, int detach)
{
	if (BUG(HQ_BUG_SEED_PX) || BUG(HQ_PRE_READY_SRV))
		return; /* no ready_srv in those trees */
	if (!BUG(HQ_BUG_RS_DELETE)) {
		qf_cas(&W.px.ready_srv, s->id + 1, 0, L_RS_RESET_CAS);
		return;
	}
	if (detach)
		return;
	if (qf_load(&W.px.ready_srv, L_RS_RESET_LOAD) == s->id + 1) {
		long now = W.px.ready_srv; /* oracle bookkeeping, not a read of the model */
		if (now && now != s->id + 1)
			note_nodeq(&W.srv[now - 1], L_RS_RESET_STORE); /* its announcement is wiped */
		qf_store(&W.px.ready_srv, 0, L_RS_RESET_STORE);
	}
}

/* del server: only a server in maintenance that nothing uses any more */
static void delete_server(struct hq_server *s)
{
	qf_point(L_ADM_DELETE, s);
	/* the CLI isolates the thread (thread_isolate_full): no task runs while
	 * the server is detached, so a warmup tick already under way ends first */
	while (__atomic_load_n(&s->in_warmup, __ATOMIC_SEQ_CST))
		qf_yield(L_ADM_DELETE_WAIT);
	int busy = !s->down || s->deleted || s->served || s->cur_sess || HQ_QLEN(s);
	for (int i = 0; i < W.nreq && !busy; i++)
		busy = W.strm[i].state != ST_INI && W.strm[i].state != ST_CLO &&
		       (W.strm[i].target == s->id || W.strm[i].srv_conn == s->id);
	if (busy) {
		qf_note(L_ADM_DELETE_REFUSED, s->id);
		return;
	}
	s->deleted = 1;
	ready_srv_reset(s, 1);
}

/* ---- slowstart ------------------------------------------------------------ */

/* the server comes up (at start, or enabled): SRV_ST_STARTING, and the warmup
 * task is armed for the end of the first ramp step */
static void warmup_start(struct hq_server *s)
{
	if (!s->slowstart)
		return;
	s->last_change = qf_now();
	__atomic_store_n(&s->starting, 1, __ATOMIC_SEQ_CST); /* under the server lock, before down = 0 is published */
	s->wu_ratio = 0;
	qf_task_schedule(s->warmup_task, s->last_change + hq_warmup_period(s));
}

/* server_warmup(): under the server lock, recalculate (the ramp ends once
 * `slowstart` has elapsed), then process the queue, since the limit just rose:
 * requests queued under the lower limit are offered it.  Before 111ea83ed
 * this was pendconn_grab_from_px. */
static void server_warmup(struct hq_server *s)
{
	if (s->down || !s->starting || s->deleted)
		return; /* in maintenance, or running at full limit: the task stops */
	__atomic_store_n(&s->in_warmup, 1, __ATOMIC_SEQ_CST);
	qf_note(L_WU_TICK, s->id);
	qf_lock(&s->lock, L_WU_LOCK);
	int rose = hq_ramp_ratio(s) > s->wu_ratio;
	s->wu_ratio = hq_ramp_ratio(s);
	if (qf_now() >= s->last_change + s->slowstart)
		qf_store(&s->starting, 0, L_WU_RECALC);
	if (BUG(HQ_BUG_GRAB_PX)) {
		pendconn_grab_from_px(s);
		if (rose) { /* the server's own queue is not offered the higher limit (the oracle's WU_GRAB_ONLY) */
			s->wu_grab_step = qf_step();
			s->wu_grab_thread = qf_self();
		}
		qf_unlock(&s->lock, L_WU_UNLOCK);
	} else {
		qf_unlock(&s->lock, L_WU_UNLOCK);
		if (BUG(HQ_ABLATE_WARMUP_DEQ)) {
			note_nodeq(s, L_WU_NODEQ);
			qf_note(L_WU_NODEQ, s->id);
		} else
			process_srv_queue(s);
	}
	if (s->starting) {
		/* the next step boundary of the ramp (upstream: now + max(1 s, slowstart/20)) */
		uint32_t period = hq_warmup_period(s);
		uint32_t next = s->last_change + ((qf_now() - s->last_change) / period + 1) * period;
		if (next > s->last_change + s->slowstart)
			next = s->last_change + s->slowstart; /* the ramp's end is a step of its own */
		qf_task_schedule(s->warmup_task, next);
	}
	__atomic_store_n(&s->in_warmup, 0, __ATOMIC_SEQ_CST);
}

static void run_event(struct hq_event *e)
{
	struct hq_server *s = &W.srv[e->server];
	if (s->deleted)
		return; /* the CLI: no such server */
	switch (e->action) {
	case ADM_DISABLE: {
		int was_ok[HQ_MAX_SRV];
		for (int i = 0; i < W.nsrv; i++)
			was_ok[i] = hq_px_ok(&W.srv[i]);
		qf_lock(&s->lock, L_ADM_SRV_LOCK);
		qf_store(&s->down, 1, L_ADM_DISABLE);
		if (s->starting)
			qf_store(&s->starting, 0, L_ADM_DISABLE); /* stopped: no warmup any more */
		ready_srv_reset(s, 0);
		pendconn_redistribute(s);
		qf_unlock(&s->lock, L_ADM_SRV_UNLOCK);
		/* upstream only redistributes this server's own queue: a backup that
		 * now may serve the backend queue is not offered it (docs/findings.md F2) */
		for (int i = 0; i < W.nsrv; i++)
			if (!was_ok[i] && hq_px_ok(&W.srv[i]))
				note_nodeq(&W.srv[i], L_ADM_DISABLE);
		break;
	}
	case ADM_ENABLE:
		qf_lock(&s->lock, L_ADM_SRV_LOCK);
		if (s->down)
			warmup_start(s); /* it comes up: slowstart begins */
		qf_store(&s->down, 0, L_ADM_ENABLE);
		if (BUG(HQ_BUG_ENABLE_NOCHECK)) {
			qf_unlock(&s->lock, L_ADM_SRV_UNLOCK); /* 6a78e6169: nobody looks at the queues */
			note_nodeq(s, L_ADM_ENABLE_NOCHECK);
			qf_note(L_ADM_ENABLE_NOCHECK, s->id);
			break;
		} else if (BUG(HQ_BUG_GRAB_PX)) {
			pendconn_grab_from_px(s);
			qf_unlock(&s->lock, L_ADM_SRV_UNLOCK);
		} else {
			qf_unlock(&s->lock, L_ADM_SRV_UNLOCK);
			if (may_dequeue_tasks(s))
				process_srv_queue(s);
		}
		/* the server's one look at the queues when it comes up: a request
		 * that judged every server full just before, and queues just after,
		 * is not seen (docs/findings.md F4) */
		note_nodeq(s, L_ADM_ENABLE);
		break;
	case ADM_SHUTDOWN:
		/* kill the server's live sessions: each ends on its own thread */
		qf_point(L_ADM_SHUTDOWN, s);
		for (int i = 0; i < W.nreq; i++) {
			struct hq_stream *k = &W.strm[i];
			if (k->state == ST_EST && k->target == s->id && !k->killed) {
				k->killed = 1;
				qf_wake(k->task, L_KILLED);
			}
		}
		break;
	case ADM_DELETE:
		delete_server(s);
		break;
	case ADM_MAXCONN:
		qf_store(&s->maxconn, e->value, L_ADM_MAXCONN);
		if (e->value > s->maxconn_peak || !e->value)
			s->maxconn_peak = e->value;
		if (may_dequeue_tasks(s))
			process_srv_queue(s);
		break;
	}
}

/* ---- the qf_target glue ----------------------------------------------------- */

static void hq_thread_main(int tid)
{
	(void)tid;
	int task;
	while ((task = qf_task_next()) >= 0) {
		int k = W.task_kind[task];
		if (BUG(HQ_COARSE))
			qf_lock(&W.px.big, L_BIG_LOCK);
		if (k >= 0)
			process_stream(&W.strm[k]);
		else if (k <= WARMUP_BASE)
			server_warmup(&W.srv[WARMUP_BASE - k]);
		else if (k <= POKE_BASE) {
			/* the client side wakes the stream (more data, a check): while
			 * queued, that stream then peeks at its queue entry under the
			 * queue lock, and does not look at the queue again after */
			struct hq_stream *ps = &W.strm[POKE_BASE - k];
			if (ps->state == ST_QUE) {
				ps->msg = 1; /* TASK_WOKEN_MSG */
				qf_wake(ps->task, L_POKE);
			}
		} else
			run_event(&W.ev[-1 - k]);
		if (BUG(HQ_COARSE)) {
			/* correct by construction: still under the giant lock, offer
			 * every free slot to the queues before anyone else runs */
			for (int i = 0; i < W.nsrv; i++)
				if (may_dequeue_tasks(&W.srv[i]))
					process_srv_queue(&W.srv[i]);
			qf_unlock(&W.px.big, L_BIG_UNLOCK);
		}
	}
}

static void queue_init(struct hq_queue *q, int sv, int tgrp, int lock_id, int rank, long *total)
{
	memset(q, 0, sizeof *q);
	qf_lock_init(&q->lock, lock_id, rank);
	q->head = q->tail = -1;
	q->sv = sv;
	q->tgrp = tgrp;
	q->total = total;
}

#define FAIL(...)                                          \
	do {                                               \
		snprintf(err, (size_t)errlen, __VA_ARGS__); \
		return -1;                                 \
	} while (0)

static int hq_setup(const int32_t *wl, int n, uint32_t variant, char *err, int errlen)
{
	if (n < HQ_H_SIZE || wl[HQ_H_LAYOUT] != HQ_LAYOUT)
		FAIL("workload is not packed for layout %d", HQ_LAYOUT);
	int nth = wl[HQ_H_THREADS], nsrv = wl[HQ_H_NSRV], nreq = wl[HQ_H_NREQ], nev = wl[HQ_H_NEV];
	if (nth < 1 || nth > QF_MAX_THREADS)
		FAIL("threads must be 1..%d", QF_MAX_THREADS);
	if (nsrv < 1 || nsrv > HQ_MAX_SRV)
		FAIL("servers must be 1..%d", HQ_MAX_SRV);
	if (nreq < 0 || nreq > HQ_MAX_REQ)
		FAIL("requests must be 0..%d", HQ_MAX_REQ);
	if (nev < 0 || nev > HQ_MAX_EV)
		FAIL("events must be 0..%d", HQ_MAX_EV);
	if (n != HQ_H_SIZE + nsrv * HQ_SRV_INTS + nreq * HQ_REQ_INTS + nev * HQ_EV_INTS)
		FAIL("packed workload has %d ints, layout needs %d", n,
		     HQ_H_SIZE + nsrv * HQ_SRV_INTS + nreq * HQ_REQ_INTS + nev * HQ_EV_INTS);
	if (wl[HQ_H_BALANCE] < LB_ROUNDROBIN || wl[HQ_H_BALANCE] > LB_RANDOM)
		FAIL("unknown balance %d", wl[HQ_H_BALANCE]);
	if (wl[HQ_H_TQUEUE] < 1)
		FAIL("timeout_queue must be >= 1");

	/* thread groups: thread t in group t / threads_per_group (0: one group) */
	int per_group = wl[HQ_H_TPG];
	if (per_group < 0 || per_group > QF_MAX_THREADS)
		FAIL("threads_per_group must be 0..%d", QF_MAX_THREADS);
	int ntg = per_group ? (nth + per_group - 1) / per_group : 1;

	memset(&W, 0, offsetof(struct hq_world, pc));
	W.variant = variant;
	W.nthreads = nth;
	W.ntgrp = ntg;
	for (int t = 0; t < nth; t++)
		W.tgrp_of[t] = per_group ? t / per_group : 0;
	W.nsrv = nsrv;
	W.nreq = nreq;
	W.nev = nev;
	struct hq_proxy *px = &W.px;
	px->balance = wl[HQ_H_BALANCE];
	px->timeout_queue = (uint32_t)wl[HQ_H_TQUEUE];
	px->redispatch = wl[HQ_H_REDISP] != 0;
	px->maxpollevents = wl[HQ_H_MAXPOLL] > 0 ? wl[HQ_H_MAXPOLL] : 64;
	px->fullconn = wl[HQ_H_FULLCONN] > 0 ? wl[HQ_H_FULLCONN] : 1;
	px->retries = wl[HQ_H_RETRIES];
	px->draws = wl[HQ_H_DRAWS];
	if (px->retries < 0 || px->draws < 1)
		FAIL("retries must be >= 0 and draws >= 1");
	for (int g = 0; g < ntg; g++) /* lock ids: group 0's as before groups, 40 + g for the others */
		queue_init(HQ_TGQ(px, g), -1, g, g ? 40 + g : 2, RANK_PXQ, &px->queueslength);
	qf_lock_init(&px->lb_lock, 1, 0);
	qf_lock_init(&px->big, 0, 0);

	const int32_t *p = wl + HQ_H_SIZE;
	for (int i = 0; i < nsrv; i++, p += HQ_SRV_INTS) {
		struct hq_server *s = &W.srv[i];
		s->id = i;
		s->maxconn = s->maxconn_peak = p[0];
		s->minconn = p[1] > 0 ? p[1] : p[0];
		s->maxqueue = p[2];
		s->weight = p[3];
		s->backup = p[4] != 0;
		s->down = p[5] != 0;
		if (s->maxconn < 0 || s->maxqueue < 0 || s->weight < 0 || p[6] < 0)
			FAIL("server %d: negative setting", i);
		qf_lock_init(&s->lock, 20 + i, RANK_SERVER);
		for (int g = 0; g < ntg; g++) /* lock ids: group 0's as before groups, 3000 + 16 i + g for the others */
			queue_init(HQ_TGQ(s, g), i, g, g ? 3000 + 16 * i + g : 10 + i, RANK_SRVQ, &s->queueslength);
		s->nodeq_step = s->nodeq_label = s->nodeq_thread = -1;
		s->grab_step = s->grab_thread = -1;
		s->wu_grab_step = s->wu_grab_thread = -1;
		s->slowstart = (uint32_t)p[6];
		s->warmup_task = -1;
		if (s->slowstart) {
			/* task_new_anywhere: pinned to a thread chosen by its index */
			s->warmup_task = qf_task_new(i % nth, -1);
			W.task_kind[s->warmup_task] = WARMUP_BASE - i;
			if (!s->down) {
				/* up when the workload starts: as if it had just come up */
				s->starting = 1;
				s->last_change = 0;
				s->wu_ratio = 0;
				qf_task_schedule(s->warmup_task, hq_warmup_period(s));
			}
		}
	}
	for (int i = 0; i < nreq; i++, p += HQ_REQ_INTS) {
		struct hq_stream *s = &W.strm[i];
		if (p[0] < 0 || p[1] < 0 || p[1] >= nth || p[2] < 0)
			FAIL("request %d: bad arrival, thread or duration", i);
		s->id = i;
		s->arrival = (uint32_t)p[0];
		s->thread = p[1];
		s->duration = (uint32_t)p[2];
		s->key = (uint32_t)p[3];
		s->cookie = p[4];
		if (s->cookie < -1 || s->cookie >= nsrv)
			FAIL("request %d: cookie names no server", i);
		if (p[5] >= 0) {
			int poke = qf_task_new(s->thread, i);
			W.task_kind[poke] = POKE_BASE - i;
			qf_task_schedule(poke, (uint32_t)p[5]);
		}
		if (p[6] < -1)
			FAIL("request %d: bad tick", i);
		s->tick = p[6] >= 0 ? (uint32_t)p[6] : QF_ETERNITY;
		if (p[7] < 0)
			FAIL("request %d: bad fails", i);
		s->fails = p[7];
		s->state = ST_INI;
		s->target = s->srv_conn = s->pend_pos = s->spare_pc = -1;
		s->conn_exp = s->end_at = QF_ETERNITY;
		s->stranded_since = s->slept_since = QF_ETERNITY;
		s->full_step = s->full_label = s->full_thread = -1;
		s->task = qf_task_new(s->thread, i);
		W.task_kind[s->task] = i;
		arm(s, s->arrival);
	}
	for (int i = 0; i < nev; i++, p += HQ_EV_INTS) {
		struct hq_event *e = &W.ev[i];
		if (p[0] < 0 || p[1] < 0 || p[1] >= nth || p[2] < ADM_DISABLE || p[2] > ADM_DELETE || p[3] < 0 ||
		    p[3] >= nsrv)
			FAIL("event %d: bad time, thread, action or server", i);
		e->at = (uint32_t)p[0];
		e->action = p[2];
		e->server = p[3];
		e->value = p[4];
		e->task = qf_task_new(p[1], -1);
		W.task_kind[e->task] = -1 - i;
		qf_task_schedule(e->task, e->at);
	}
	W.npc = 0;
	W.seq = 0;
	return nth;
}

const qf_target qf_target_haproxy_queue = {
	.name = "haproxy_queue",
	.n_labels = HQ_NLABELS,
	.labels = LABEL_NAMES,
	.label_ids = LABEL_IDS,
	.setup = hq_setup,
	.thread_main = hq_thread_main,
	.quiescent = hq_oracle_quiescent,
	.finish = hq_oracle_finish,
	.snapshot = hq_snapshot,
	.abstract_state = hq_abstract_state,
};
