/* model.h - our own C model of HAProxy's server and backend request queues.
 *
 * Names and step order follow the upstream description in
 * ../shared/reference/haproxy-queue.md (functions pendconn_add,
 * process_srv_queue, may_dequeue_tasks, ...); the code is ours.  Every
 * access to a shared counter, every queue lock and every wake-up goes through
 * the qfuzz core (qf.h) so that the scheduler can interleave threads there.
 */
#ifndef HQ_MODEL_H
#define HQ_MODEL_H

#include <stdint.h>
#include "qf.h"

/* ---- variant bits: each one reverts one upstream fix ------------------ */
#define HQ_BUG_SEED_SRV (1u << 0)      /* 5541d4995 server half: no re-check after queueing on a server */
#define HQ_BUG_SEED_PX (1u << 1)       /* 5541d4995 backend half: no pendconn_must_try_again */
#define HQ_BUG_TRYLOCK (1u << 2)       /* b11495652: process_srv_queue uses a trylock, no dequeuing flag */
#define HQ_BUG_SERVED_CHECK (1u << 3)  /* 3372a2ea0: served checked, then incremented separately */
#define HQ_BUG_SKIPLB_SERVED (1u << 4) /* ca275d99c: skip-LB shortcut ignores px.served == 0 */
#define HQ_BUG_REDIST_PX (1u << 5)     /* 53f52e67a: redistribute ignores the backend queue */
#define HQ_BUG_GRAB_PX (1u << 6)       /* 111ea83ed: server up uses pendconn_grab_from_px */
#define HQ_BUG_FREE_NODEQ (1u << 7)    /* dc9ce9c26: stream_free releases a slot without a dequeue */
#define HQ_BUG_UNLINK_RACE (1u << 8)   /* 9ada03069: pendconn_unlink tests "linked" before taking the lock */
#define HQ_BUG_STALE_LINKED (1u << 9)  /* fac0f645d: the unlocked "linked" test can read a pointer being rewritten */
#define HQ_BUG_NO_DEL_LOCK (1u << 10)  /* 87154e301: no per-entry del_lock around a pick from the backend queue */
#define HQ_BUG_NO_STOP (1u << 11)      /* 19c5581b4: process_srv_queue loops while a slot is free and nothing is queued */
#define HQ_BUG_LOCK_ORDER (1u << 12)   /* 5e83d996c: process_srv_queue takes the proxy lock before the server's */
#define HQ_BUG_ENABLE_NOCHECK (1u << 13) /* 6a78e6169: enabling a server does not look at the queues */
#define HQ_BUG_BACKUP_DRAIN (1u << 14) /* a8694654b: a backup server takes from the backend queue beside actives */
#define HQ_PRE_READY_SRV (1u << 15)   /* cda7275ef: the backend re-check is pendconn_must_try_again (Jul-Dec 2024), not ready_srv */
#define HQ_BUG_RS_COUNTERS (1u << 16) /* 659d5f657: the extra dequeue after arming ready_srv leaves px.totpend/px.served */
#define HQ_BUG_RS_NOLOCK (1u << 17)   /* 99f5be563: the extra dequeue runs without the server queue lock */
#define HQ_BUG_QUEUESLENGTH (1u << 18) /* 099c1b244: queueslength not decremented on unlink and on the ready_srv path */
#define HQ_BUG_RS_DELETE (1u << 19)   /* 0144426df: ready_srv reset by load-then-store on down, not at all on delete */
#define HQ_BUG_RS_UNLOCK (1u << 20)   /* e9d34f991: the ready_srv path returns with the queue lock held */
#define HQ_BUG_WOKEN_RES (1u << 21)   /* 13c344516: TASK_WOKEN_RES not mapped to a stream event */
#define HQ_BUG_TGID_WORD (1u << 24)   /* 624969884: non_empty_tgids prefilled at word nbtgroups - i, not (nbtgroups - i) / LONGBITS */
/* ablations: not upstream fixes; each removes one dequeue the 2026 tree does, so
 * tests can show that the model needs it (tests/test_model_2026.py) */
#define HQ_ABLATE_WARMUP_DEQ (1u << 22) /* server_warmup() raises the limit but does not call process_srv_queue() */
#define HQ_ABLATE_CER_DEQ (1u << 23)    /* back_handle_st_cer() releases the slot without a dequeue */
#define HQ_COARSE (1u << 31)           /* one giant lock around every task: correct by construction */

/* ---- workload layout (packed by targets/haproxy_queue/__init__.py) ----- */
#define HQ_LAYOUT 4
enum { HQ_H_LAYOUT, HQ_H_THREADS, HQ_H_NSRV, HQ_H_NREQ, HQ_H_NEV, HQ_H_BALANCE, HQ_H_TQUEUE, HQ_H_REDISP,
       HQ_H_MAXPOLL, HQ_H_FULLCONN, HQ_H_RETRIES, HQ_H_DRAWS, HQ_H_TPG, HQ_H_SIZE };
#define HQ_SRV_INTS 7 /* maxconn, minconn, maxqueue, weight, backup, down, slowstart (0: none) */
#define HQ_REQ_INTS 8 /* at, thread, duration, key, cookie (server index, -1: none), poke (time, -1: none), tick (time, -1: none), fails */
#define HQ_EV_INTS 5  /* at, thread, action, server, value */

enum { LB_ROUNDROBIN = 0, LB_FIRST = 1, LB_LEASTCONN = 2, LB_HASH = 3, LB_RANDOM = 4 };
enum { ADM_DISABLE = 0, ADM_ENABLE = 1, ADM_MAXCONN = 2, ADM_SHUTDOWN = 3, ADM_DELETE = 4 };
enum { PATH_NONE = 0, PATH_SERVER = 1, PATH_BACKEND = 2 };

#define HQ_MAX_SRV 8
#define HQ_MAX_REQ 64
#define HQ_MAX_EV 16
#define HQ_MAX_PC 2048
/* thread groups (3.2+: a queue per group, process_srv_queue's non_empty_tgids
 * bitmap).  Upstream's word is a long (LONGBITS 64, MAX_TGROUPS 32); the model's
 * word is 2 bits wide, so that 4 groups already reach the bitmap's second
 * word, where 624969884's wrong index lives. */
#define HQ_MAX_TGRP QF_MAX_THREADS
#define HQ_LONGBITS 2
#define HQ_MAX_SELF_USE_QUEUE 9 /* upstream's default: own-group picks before one from another group */

/* ---- trace labels: one per modelled upstream step --------------------- */
#define HQ_LABELS(X)                                                                   \
	X(L_ARRIVE, "request arrives")                                                   \
	X(L_BECONN_INC, "px.beconn++ (stream_set_backend)")                              \
	X(L_AS_SKIP_PXQLEN, "assign_server: read px.queue.length (skip-LB)")             \
	X(L_AS_SKIP_BECONN, "assign_server: read px.beconn (skip-LB)")                   \
	X(L_AS_SKIP_PXSERVED, "assign_server: read px.served (skip-LB, ca275d99c)")      \
	X(L_AS_SKIPLB_FULL, "assign_server: skip-LB shortcut -> FULL")                   \
	X(L_LB_LOCK, "LB: take lbprm lock")                                              \
	X(L_LB_QLEN, "LB: read srv.queue.length")                                        \
	X(L_LB_SERVED, "LB: read srv.served")                                            \
	X(L_LB_UNLOCK, "LB: release lbprm lock")                                         \
	X(L_LB_FULL, "LB: every server full -> FULL")                                    \
	X(L_LB_PICK, "LB: server chosen")                                                \
	X(L_ASQ_QLEN, "assign_server_and_queue: read srv.queue.length")                  \
	X(L_ASQ_SERVED, "assign_server_and_queue: read srv.served")                      \
	X(L_ASQ_FULL, "assign_server_and_queue: server full -> queue")                   \
	X(L_ASQ_CAS, "assign_server_and_queue: CAS srv.served (3372a2ea0)")              \
	X(L_ASQ_MAXQUEUE, "assign_server_and_queue: read srv.queue.length (maxqueue)")   \
	X(L_SERVED_INC, "srv.served++ (sess_change_server)")                             \
	X(L_PXSERVED_INC, "px.served++ (sess_change_server)")                            \
	X(L_SERVED_DEC, "srv.served-- (sess_change_server)")                             \
	X(L_PXSERVED_DEC, "px.served-- (sess_change_server)")                            \
	X(L_LB_HOOK_LOCK, "LB hook: take lbprm lock")                                    \
	X(L_LB_HOOK_UNLOCK, "LB hook: release lbprm lock")                               \
	X(L_PADD_LENGTH, "pendconn_add: queue.length++")                                 \
	X(L_PADD_LOCK, "pendconn_add: lock queue")                                       \
	X(L_PADD_INSERT, "pendconn_add: insert entry")                                   \
	X(L_PADD_UNLOCK, "pendconn_add: unlock queue")                                   \
	X(L_PADD_TOTPEND, "pendconn_add: px.totpend++")                                  \
	X(L_MTA_LINKED, "pendconn_must_try_again: read linked")                          \
	X(L_MTA_SERVED, "pendconn_must_try_again: read served")                          \
	X(L_MTA_LOCK, "pendconn_must_try_again: lock queue")                             \
	X(L_MTA_DEL_LOCK, "pendconn_must_try_again: lock del_lock")                      \
	X(L_MTA_UNLINK, "pendconn_must_try_again: unlink own entry")                     \
	X(L_MTA_DEL_UNLOCK, "pendconn_must_try_again: unlock del_lock")                  \
	X(L_MTA_UNLOCK, "pendconn_must_try_again: unlock queue")                         \
	X(L_MTA_LENGTH, "pendconn_must_try_again: queue.length--")                       \
	X(L_MTA_TOTPEND, "pendconn_must_try_again: px.totpend--")                        \
	X(L_BALANCE_AGAIN, "assign_server_and_queue: balance_again")                     \
	X(L_QUEUED, "queued (SC_ST_QUE), timeout queue armed")                           \
	X(L_MD_SRVQLEN, "may_dequeue_tasks: read srv.queue.length")                      \
	X(L_MD_PXQLEN, "may_dequeue_tasks: read px.queue.length")                        \
	X(L_MD_CURSESS, "may_dequeue_tasks: read srv.cur_sess")                          \
	X(L_PSQ_SERVED, "process_srv_queue: read srv.served")                            \
	X(L_PSQ_TRYLOCK, "process_srv_queue: trylock server queue")                      \
	X(L_PSQ_DEQ_XCHG, "process_srv_queue: xchg dequeuing flag (b11495652)")          \
	X(L_PSQ_LOCK, "process_srv_queue: lock server queue")                            \
	X(L_PSQ_RESERVE, "process_srv_queue: CAS srv.served (3372a2ea0)")                \
	X(L_PSQ_UNRESERVE, "process_srv_queue: give back unused slot")                   \
	X(L_PSQ_SERVED_INC, "process_srv_queue: srv.served++")                           \
	X(L_PSQ_DEQ_CLR, "process_srv_queue: clear dequeuing flag")                      \
	X(L_PSQ_UNLOCK, "process_srv_queue: unlock server queue")                        \
	X(L_PSQ_TOTPEND, "process_srv_queue: px.totpend -= done")                        \
	X(L_PSQ_PXSERVED, "process_srv_queue: px.served += done")                        \
	X(L_PNS_SRVQLEN, "pendconn_process_next_strm: read srv.queue.length")            \
	X(L_PNS_PXQLEN, "pendconn_process_next_strm: read px.queue.length")              \
	X(L_PNS_PXLOCK, "pendconn_process_next_strm: lock px queue")                     \
	X(L_PNS_PXUNLOCK, "pendconn_process_next_strm: unlock px queue")                 \
	X(L_PNS_EMPTY, "pendconn_process_next_strm: nothing to pick")                    \
	X(L_PNS_DEL_LOCK, "pendconn_process_next_strm: lock del_lock")                   \
	X(L_PNS_UNLINK, "pendconn_process_next_strm: unlink picked entry")               \
	X(L_PNS_WAKE, "pendconn_process_next_strm: wake picked stream")                  \
	X(L_PNS_DEL_UNLOCK, "pendconn_process_next_strm: unlock del_lock")               \
	X(L_PNS_PXLEN_DEC, "pendconn_process_next_strm: px.queue.length--")              \
	X(L_PNS_SRVLEN_DEC, "pendconn_process_next_strm: srv.queue.length--")            \
	X(L_PD_LOCK, "pendconn_dequeue: lock queue")                                     \
	X(L_PD_UNLOCK, "pendconn_dequeue: unlock queue")                                 \
	X(L_PD_DEL_LOCK, "pendconn_dequeue: lock del_lock")                              \
	X(L_PD_DEL_UNLOCK, "pendconn_dequeue: unlock del_lock")                          \
	X(L_PICKED, "dequeued: slot handed over (SC_ST_ASS)")                            \
	X(L_REDISPATCHED, "dequeued without a server: balance again")                    \
	X(L_PU_LOCK, "pendconn_unlink: lock queue")                                      \
	X(L_PU_DEL_LOCK, "pendconn_unlink: lock del_lock")                               \
	X(L_PU_UNLINK, "pendconn_unlink: unlink entry")                                  \
	X(L_PU_DEL_UNLOCK, "pendconn_unlink: unlock del_lock")                           \
	X(L_PU_UNLOCK, "pendconn_unlink: unlock queue")                                  \
	X(L_PU_LENGTH, "pendconn_unlink: queue.length--")                                \
	X(L_PU_TOTPEND, "pendconn_unlink: px.totpend--")                                 \
	X(L_CUR_SESS_INC, "connect_server: srv.cur_sess++")                              \
	X(L_CONNECTED, "connected, request sent to the server")                          \
	X(L_CUR_SESS_DEC, "server side closed (SC_ST_DIS): srv.cur_sess--")              \
	X(L_RESP_200, "response 200")                                                    \
	X(L_TIMEOUT, "timeout queue expired: 503 sQ")                                    \
	X(L_RESP_SQ, "server queue full (maxqueue): 503 SQ")                             \
	X(L_RESP_NOSRV, "no server available: 503")                                      \
	X(L_RESP_INTERNAL, "internal error: 500")                                        \
	X(L_BECONN_DEC, "px.beconn-- (stream freed)")                                    \
	X(L_FREE_NODEQ, "stream_free: late slot release, no dequeue (dc9ce9c26)")        \
	X(L_BIG_LOCK, "coarse: take the giant lock")                                     \
	X(L_BIG_UNLOCK, "coarse: release the giant lock")                                \
	X(L_ADM_SRV_LOCK, "admin: lock server")                                          \
	X(L_ADM_SRV_UNLOCK, "admin: unlock server")                                      \
	X(L_ADM_DISABLE, "admin: disable server (maintenance)")                          \
	X(L_ADM_ENABLE, "admin: enable server")                                          \
	X(L_ADM_MAXCONN, "admin: set maxconn server")                                    \
	X(L_ADM_SHUTDOWN, "admin: shutdown sessions server")                             \
	X(L_KILLED, "session killed (shutdown sessions)")                               \
	X(L_PERSIST, "persistence cookie: server assigned directly")                     \
	X(L_POKE, "client activity wakes the stream")                                    \
	X(L_PU_CHECK, "pendconn_cond_unlink: read linked without the lock")              \
	X(L_PSQ_PXLOCK_FIRST, "process_srv_queue: lock px queue first (pre-5e83d996c)")  \
	X(L_PNS_TARGET, "pendconn_process_next_strm: hand the slot to the entry")       \
	X(L_RD_LOCK, "pendconn_redistribute: lock queue")                                \
	X(L_RD_UNLINK, "pendconn_redistribute: unlink entry")                            \
	X(L_RD_WAKE, "pendconn_redistribute: wake stream")                               \
	X(L_RD_UNLOCK, "pendconn_redistribute: unlock queue")                            \
	X(L_RD_LENGTH, "pendconn_redistribute: queue.length -= n")                       \
	X(L_GR_LOCK, "pendconn_grab_from_px: lock px queue")                             \
	X(L_GR_UNLINK, "pendconn_grab_from_px: unlink entry")                            \
	X(L_GR_WAKE, "pendconn_grab_from_px: wake stream")                               \
	X(L_GR_UNLOCK, "pendconn_grab_from_px: unlock px queue")                         \
	X(L_GR_LENGTH, "pendconn_grab_from_px: px.queue.length -= n")                    \
	X(L_INV_SERVED_NEG, "invariant: srv.served >= 0")                                \
	X(L_INV_SERVED_MAX, "invariant: srv.served++ stays within the limit it was checked against")                          \
	X(L_INV_CURSESS, "invariant: 0 <= srv.cur_sess <= maxconn")                      \
	X(L_INV_QLEN, "invariant: queue.length == linked entries")                       \
	X(L_INV_PXSERVED, "invariant: px.served == sum of srv.served")                   \
	X(L_INV_TOTPEND, "invariant: px.totpend == sum of queue lengths")                \
	X(L_INV_BECONN, "invariant: px.beconn == live streams")                          \
	X(L_INV_UAF, "invariant: no pendconn used after free")                           \
	X(L_INV_LEAK, "invariant: everything released at the end")                       \
	X(L_INV_UNFINISHED, "invariant: every request ends")                             \
	X(L_INV_BACKUP, "invariant: no backup server drains the backend queue beside actives")                 \
	X(L_RD_PX_LOCK, "pendconn_redistribute: lock px queue (last server gone, 53f52e67a)")                 \
	X(L_RD_PX_UNLINK, "pendconn_redistribute: unlink backend entry")                                      \
	X(L_RD_PX_WAKE, "pendconn_redistribute: wake backend-queued stream")                                  \
	X(L_RD_PX_UNLOCK, "pendconn_redistribute: unlock px queue")                                           \
	X(L_RD_PX_LENGTH, "pendconn_redistribute: px.queue.length -= n")                                      \
	X(L_RD_SKIP_PX, "pendconn_redistribute: backend queue left behind (pre-53f52e67a)")                   \
	X(L_ADM_ENABLE_NOCHECK, "admin: server enabled, queues not looked at (pre-6a78e6169)")                \
	X(L_RS_SERVED, "process_srv_queue: read srv.served (arm ready_srv?)")                                 \
	X(L_RS_PXSERVED, "process_srv_queue: read px.served (arm ready_srv?)")                                \
	X(L_RS_LOAD, "process_srv_queue: read px.ready_srv")                                                  \
	X(L_RS_STORE, "process_srv_queue: px.ready_srv = this server")                                        \
	X(L_RS_LOCK, "process_srv_queue: lock server queue (extra dequeue, 99f5be563)")                       \
	X(L_RS_UNLOCK, "process_srv_queue: unlock server queue (extra dequeue)")                              \
	X(L_RS_NOLOCK, "process_srv_queue: extra dequeue without the queue lock (pre-99f5be563)")             \
	X(L_RS_TOTPEND, "process_srv_queue: px.totpend-- (extra dequeue, 659d5f657)")                         \
	X(L_RS_PXSERVED_INC, "process_srv_queue: px.served++ (extra dequeue, 659d5f657)")                     \
	X(L_ASQ_RS_LOAD, "assign_server_and_queue: read px.ready_srv")                                        \
	X(L_ASQ_RS_XCHG, "assign_server_and_queue: xchg px.ready_srv, NULL")                                  \
	X(L_ASQ_RS_SERVED, "assign_server_and_queue: read the ready server's served")                         \
	X(L_ASQ_RS_CAS, "assign_server_and_queue: CAS the ready server's served 0 -> 1")                      \
	X(L_ASQ_RS_LOCK, "assign_server_and_queue: lock own queue (ready_srv)")                               \
	X(L_ASQ_RS_UNLINK, "assign_server_and_queue: unlink own entry (ready_srv)")                           \
	X(L_ASQ_RS_UNLOCK, "assign_server_and_queue: unlock own queue (ready_srv)")                           \
	X(L_ASQ_RS_GIVEBACK, "assign_server_and_queue: already dequeued: ready server's served--")           \
	X(L_ASQ_RS_LENGTH, "assign_server_and_queue: queue.length-- (ready_srv)")                             \
	X(L_ASQ_RS_TOTPEND, "assign_server_and_queue: px.totpend-- (ready_srv)")                              \
	X(L_ASQ_RS_TAKEN, "ready_srv: took the ready server's slot")                                          \
	X(L_ASQ_RS_EMPTY, "assign_server_and_queue: no ready server, stay queued")                            \
	X(L_RS_RESET_LOAD, "srv_update_status: read px.ready_srv (pre-0144426df)")                            \
	X(L_RS_RESET_STORE, "srv_update_status: px.ready_srv = NULL (pre-0144426df)")                         \
	X(L_RS_RESET_CAS, "srv_update_status/srv_detach: CAS px.ready_srv this server -> NULL")               \
	X(L_ADM_DELETE, "admin: del server")                                                                  \
	X(L_ADM_DELETE_REFUSED, "admin: del server refused (not in maintenance, or still in use)")            \
	X(L_INV_SRV_UAF, "invariant: no deleted server is used")                                              \
	X(L_INV_QUEUESLENGTH, "invariant: queueslength == queue.length")                                      \
	X(L_INV_UNLOCKED, "invariant: a queue's list changes only under its lock")                            \
	X(L_STRM_TIMER_ONLY, "process_stream: woken by a timer only: refresh and leave")                      \
	X(L_STRM_SLEPT, "a dequeued stream sleeps on its slot (its wake-up was lost)")                        \
	X(L_RS_UNARMED, "no ready_srv armed, and nothing runs anywhere to dequeue (F5)")                       \
	X(L_AS_SKIPLB_NOSERVED, "assign_server: skip-LB shortcut -> FULL while px.served is 0 (pre-ca275d99c)")    \
	X(L_LB_RDLOCK_SHARE, "LB: take lbprm lock for reading beside another reader")                       \
	X(L_LB_RDUNLOCK_SHARE, "LB: release a shared read of the lbprm lock")                                 \
	X(L_LB_WAIT_READERS, "LB: writer waits for the readers to leave the lbprm lock")                     \
	X(L_RND_DRAW, "LB random: draw a server")                                                            \
	X(L_RND_SERVED, "LB random: read the drawn server's served")                                          \
	X(L_WU_TICK, "server_warmup: slowstart tick")                                                        \
	X(L_WU_LOCK, "server_warmup: lock server")                                                           \
	X(L_WU_RECALC, "server_warmup: ramp done, server running at full limit")                            \
	X(L_WU_UNLOCK, "server_warmup: unlock server")                                                       \
	X(L_WU_NODEQ, "server_warmup: limit raised, queue not processed (ablation)")                        \
	X(L_CONN_FAIL, "connect error (SC_ST_CER)")                                                          \
	X(L_CER_CUR_SESS_DEC, "back_handle_st_cer: srv.cur_sess--")                                          \
	X(L_CER_GIVEUP, "back_handle_st_cer: retries exhausted, release the slot")                           \
	X(L_CER_REDISPATCH, "stream_choose_redispatch: release the slot, balance again")                     \
	X(L_CER_RETRY, "back_handle_st_cer: retry on the same server after a turn-around (SC_ST_TAR)")       \
	X(L_CER_NODEQ, "back_handle_st_cer: slot released, queue not processed (ablation)")                 \
	X(L_RESP_CONNERR, "connection failed: 503 sC")                                                       \
	X(L_RND_FULL, "LB random: the drawn server is full -> FULL (servers not drawn are not looked at)") \
	X(L_ADM_DELETE_WAIT, "admin: del server waits for the warmup task to leave (thread isolation)")      \
	X(L_WU_PENDING, "slowstart: the limit rose since the last warmup tick, which is still to run (F7)")            \
	X(L_PSQ_SELF_SERVED, "process_srv_queue: read own group's self_served")                              \
	X(L_PSQ_LAST_OTHER, "process_srv_queue: read last_other_tgrp_served")                                 \
	X(L_PSQ_LAST_OTHER_CAS, "process_srv_queue: CAS last_other_tgrp_served to the next non-empty group")  \
	X(L_PSQ_SELF_INC, "process_srv_queue: own group's self_served++")                                     \
	X(L_PSQ_TG_SPIN, "process_srv_queue: no other group's bit is set: the search for one never ends")       \
	X(L_INV_TG_OOB, "invariant: process_srv_queue writes inside non_empty_tgids")                       \
	X(L_GR_UNCOUNTED, "pendconn_grab_from_px: handed out slots that served does not count (pre-111ea83ed)") \
	X(L_WU_GRAB_ONLY, "server_warmup: limit raised, only the backend queue grabbed from (pre-111ea83ed)")

#define X(e, s) e,
enum hq_label { HQ_LABELS(X) HQ_NLABELS };
#undef X

/* ---- state ------------------------------------------------------------- */
enum { ST_INI, ST_REQ, ST_QUE, ST_ASS, ST_EST, ST_CLO, ST_CER, ST_TAR };
#define SF_ASSIGNED 1
#define SF_DIRECT 2
#define SF_CURR_SESS 4

/* one thread group's queue of a server or of the proxy (upstream per_tgrp[g]) */
struct hq_queue {
	qf_lock_t lock;
	long length;  /* atomic, read without the lock all over */
	long *total;  /* 3.2: the owner's queueslength, its total over thread groups; LB reads it */
	int head, tail; /* linked list of pendconn indexes, oldest first */
	int sv;       /* server index, -1 for the backend queue */
	int tgrp;     /* its thread group, 0-based */
	/* server queues only (per_tgrp[g] of the server) */
	long dequeuing; /* b11495652 */
	long self_served, last_other; /* own-group picks so far, the last other group served (1-based, 0: none) */
};

struct hq_server {
	int id;
	long maxconn; /* may change at run time (set maxconn) */
	long maxconn_peak; /* the highest static limit it ever had (cur_sess's bound) */
	long over_val, over_lim; /* first served++ above the limit checked before it (0: none) */
	int minconn, maxqueue, weight, backup;
	long down;    /* maintenance */
	int deleted;  /* del server: detached from the proxy */
	long served, cur_sess;
	qf_lock_t lock; /* SERVER_LOCK */
	struct hq_queue queue; /* thread group 0's (HQ_TGQ) */
	struct hq_queue tgq[HQ_MAX_TGRP - 1]; /* groups 1.. */
	long queueslength;
	/* oracle bookkeeping: the last time a release-side path chose not to dequeue */
	int nodeq_step, nodeq_label, nodeq_thread;
	/* ... and the last pendconn_grab_from_px that handed out uncounted slots (-1: none) */
	int grab_step, grab_thread;
	int wu_grab_step, wu_grab_thread; /* pre-111ea83ed: the last warmup tick that raised the limit and only grabbed */
	/* slowstart: SRV_ST_STARTING since last_change, ramping over `slowstart` */
	long starting;
	uint32_t slowstart, last_change;
	int warmup_task; /* server_warmup's task, -1 without slowstart */
	long in_warmup;  /* server_warmup is running for it (del server waits: thread isolation) */
	long wu_ratio;   /* the ramp's share when the warmup last looked at the queues (oracle, F7) */
};

struct hq_pendconn {
	long linked;
	int strm;
	int target;    /* server that picked it, -1 while queued */
	int strm_flags;
	int prev, next;
	uint32_t key;  /* enqueue order (time, then sequence) */
	struct hq_queue *queue;
	qf_lock_t del_lock;
	int freed;
};

struct hq_stream {
	int id, thread, task;
	int state, flags;
	int target;    /* server index or -1 */
	int srv_conn;  /* server whose slot this stream holds, or -1 */
	int pend_pos;  /* pendconn index or -1 */
	int spare_pc;  /* its own entry, freed unpicked by balance_again: reused by its next pendconn_add, or -1 */
	uint32_t arrival, duration, key, conn_exp, end_at;
	int cookie;    /* persistence: the server this request sticks to, or -1 */
	int killed;    /* its session was shut down by the admin */
	long res;      /* TASK_WOKEN_RES pending: a dequeuer handed it a slot */
	uint32_t tick; /* its task's own timer for another timeout (QF_ETERNITY: none) */
	uint32_t task_exp; /* when its task's timer is armed for */
	int msg;       /* TASK_WOKEN_MSG pending (client activity) */
	uint32_t slept_since; /* oracle: handed a slot while it dropped its wake-up (QF_ETERNITY: never) */
	int slept_step, slept_thread;
	int result;    /* 0 while running, else a L_RESP_* / L_TIMEOUT label */
	int fails;     /* connect attempts still to fail (the workload's pattern) */
	int conn_retries; /* s->conn_retries */
	uint32_t lb_calls; /* random LB: draws so far, mixed into the request's key */
	/* oracle bookkeeping */
	int full_step, full_label, full_thread; /* the check that decided to queue */
	uint32_t queued_at;
	uint32_t stranded_since; /* QF_ETERNITY while never stranded */
	int strand_path, strand_srv;
	int strand_rel_step, strand_rel_label, strand_rel_thread;
};

struct hq_event {
	int task, action, server, value;
	uint32_t at;
};

struct hq_proxy {
	int balance, redispatch, maxpollevents, fullconn;
	uint32_t timeout_queue;
	long served, beconn, totpend;
	struct hq_queue queue; /* thread group 0's (HQ_TGQ) */
	struct hq_queue tgq[HQ_MAX_TGRP - 1];
	long queueslength;
	qf_lock_t lb_lock;
	qf_lock_t big; /* coarse only */
	int rr_next;
	int retries, draws; /* `retries`, `balance random(draws)` */
	long lb_readers;    /* readers inside lb_lock (read mode); lb_lock held in read mode: lb_rmode */
	int lb_rmode;
	/* oracle bookkeeping (pre-53f52e67a): entries older than this key were
	 * in the backend queue when its last server went down and were left */
	long ready_srv; /* cda7275ef: server id + 1 of an idle server, 0: none */
	uint32_t orphan_before;
	int orphan_srv, orphan_step, orphan_thread;
};

struct hq_world {
	uint32_t variant;
	int nthreads, nsrv, nreq, nev, npc;
	int ntgrp;                    /* thread groups (nbtgroups), 1 by default */
	int tgrp_of[QF_MAX_THREADS];  /* each thread's group, 0-based (tgid - 1) */
	uint32_t seq;
	struct hq_proxy px;
	struct hq_server srv[HQ_MAX_SRV];
	struct hq_stream strm[HQ_MAX_REQ];
	struct hq_event ev[HQ_MAX_EV];
	struct hq_pendconn pc[HQ_MAX_PC];
	int task_kind[QF_MAX_TASKS]; /* >= 0: stream id; -1 - event id; POKE_BASE - stream id: a poke */
};

extern struct hq_world W;

#define BUG(b) ((W.variant & (b)) != 0)
#define POKE_BASE (-1000)
#define WARMUP_BASE (-2000) /* task_kind of server i's warmup task: WARMUP_BASE - i */
/* thread group g's queue of a server or of the proxy (both have queue and tgq) */
#define HQ_TGQ(o, g) ((g) ? &(o)->tgq[(g) - 1] : &(o)->queue)
/* a server's or the proxy's queue length summed over its thread groups */
#define HQ_QLEN(o) hq_qlen_sum(&(o)->queue, (o)->tgq)

/* shared between model.c and oracle.c */
long hq_dyn_maxconn(const struct hq_server *s);
uint32_t hq_warmup_period(const struct hq_server *s);
long hq_ramp_ratio(const struct hq_server *s);
int hq_usable(const struct hq_server *s);
int hq_px_ok(const struct hq_server *s);
struct hq_pendconn *hq_pc(int idx);
long hq_qlen_sum(const struct hq_queue *q0, const struct hq_queue *more);
void hq_oracle_quiescent(void);
void hq_oracle_finish(void);
void hq_oracle_queue_timeout(struct hq_stream *s);
void hq_oracle_slept(struct hq_stream *s);
int hq_snapshot(int32_t *out);
uint32_t hq_abstract_state(void);

#endif
