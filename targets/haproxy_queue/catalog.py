"""The variants of the haproxy_queue model and the bug catalog.

Each variant bit in model.h reverts one upstream fix.  The seed variants are
the July 2024 tree with the seed fix (5541d4995) applied in stages; every
catalog variant is the fully fixed model with exactly one fix reverted.  A
variant lists the failures it may show (most specific first) with the
upstream reason, so a campaign can tell a known bug from a new one."""
from __future__ import annotations

from harness.target import Bug, Pattern, Variant

# variant bits (model.h)
BUG_SEED_SRV = 1 << 0  # 5541d4995, server-queue half
BUG_SEED_PX = 1 << 1  # 5541d4995, backend-queue half
BUG_TRYLOCK = 1 << 2  # b11495652
BUG_SERVED_CHECK = 1 << 3  # 3372a2ea0
BUG_SKIPLB_SERVED = 1 << 4  # ca275d99c
BUG_REDIST_PX = 1 << 5  # 53f52e67a
BUG_GRAB_PX = 1 << 6  # 111ea83ed
BUG_FREE_NODEQ = 1 << 7  # dc9ce9c26
BUG_UNLINK_RACE = 1 << 8  # 9ada03069
BUG_STALE_LINKED = 1 << 9  # fac0f645d
BUG_NO_DEL_LOCK = 1 << 10  # 87154e301
BUG_NO_STOP = 1 << 11  # 19c5581b4
BUG_LOCK_ORDER = 1 << 12  # 5e83d996c
BUG_ENABLE_NOCHECK = 1 << 13  # 6a78e6169
BUG_BACKUP_DRAIN = 1 << 14  # a8694654b
PRE_READY_SRV = 1 << 15  # cda7275ef (not a bug fix: the Dec 2024 rework of the backend re-check)
BUG_RS_COUNTERS = 1 << 16  # 659d5f657
BUG_RS_NOLOCK = 1 << 17  # 99f5be563
BUG_QUEUESLENGTH = 1 << 18  # 099c1b244
BUG_RS_DELETE = 1 << 19  # 0144426df
BUG_RS_UNLOCK = 1 << 20  # e9d34f991
BUG_WOKEN_RES = 1 << 21  # 13c344516
BUG_TGID_WORD = 1 << 24  # 624969884
# ablations (model.h): not upstream fixes; tests/test_model_2026.py shows each dequeue is needed
ABLATE_WARMUP_DEQ = 1 << 22  # server_warmup() without process_srv_queue()
ABLATE_CER_DEQ = 1 << 23  # back_handle_st_cer()'s release without a dequeue
COARSE = 1 << 31

# Everything fixed upstream after 2024-07-26 (the tree just before the seed fix).
TREE_2024_07 = (
    BUG_SEED_SRV | BUG_SEED_PX | BUG_TRYLOCK | BUG_SERVED_CHECK | BUG_SKIPLB_SERVED | BUG_REDIST_PX
    | BUG_GRAB_PX | BUG_FREE_NODEQ | PRE_READY_SRV
)

STUCK_SERVER = Pattern("STUCK", "server-queue", why="5541d4995: queued on a server just after its last slot holder left")
STUCK_BACKEND = Pattern(
    "STUCK", "backend-queue", why="5541d4995: queued on the backend just after the last slot holder left"
)
OVERSHOOT = Pattern(
    "SAFETY", "*", "INV_SERVED_MAX", why="3372a2ea0: served checked then incremented separately (fixed Dec 2024)"
)
TRYLOCK_LOSS = Pattern(
    "STUCK", "*", "*", "PSQ_TRYLOCK", why="b11495652: process_srv_queue's trylock lost to a holder that does not re-check"
)
LATE_RELEASE = Pattern(
    "STUCK", "*", "*", "FREE_NODEQ", why="dc9ce9c26: stream_free released a slot without a dequeue (fixed Dec 2024)"
)
SKIPLB_NOSERVED = Pattern(
    "STUCK", "backend-queue", "AS_SKIPLB_NOSERVED",
    why="ca275d99c: the skip-LB shortcut queues while px.served is 0 (fixed Oct 2024)",
)
REDIST_LEFT = Pattern(
    "STUCK", "backend-queue", "*", "RD_SKIP_PX",
    why="53f52e67a: the last server went down and the backend queue was left to time out (fixed Oct 2024)",
)
# Not upstream bug reports: our findings, explained in docs/findings.md.
IDLE_BESIDE_BUSY = (
    Pattern("STUCK", "backend-queue", "*", release, why="F1 (docs/findings.md): a server goes idle while another is "
            "busy; px.served > 0 keeps the request queued")
    for release in ("MD_PXQLEN", "PNS_EMPTY")
)
IDLE_BESIDE_BUSY = tuple(IDLE_BESIDE_BUSY)
BACKUP_NOT_OFFERED = Pattern(
    "STUCK", "backend-queue", "*", "ADM_DISABLE",
    why="F2 (docs/findings.md): the last active server goes down; nobody offers the backend queue to the backup",
)
LIMIT_ROSE = Pattern(
    "STUCK", "*", "*", "BECONN_INC",
    why="F3 (docs/findings.md): minconn/fullconn raise the limit as requests arrive; nobody looks at the queues",
)
ENABLE_RACE = Pattern(
    "STUCK", "*", "*", "ADM_ENABLE",
    why="F4 (docs/findings.md): a server comes up and looks at the queue just before a request that found "
        "everyone full queues",
)
RANDOM_MISSED_IDLE = Pattern(
    "STUCK", "backend-queue", "RND_FULL",
    why="F6 (docs/findings.md): balance random drew only full servers and queued on the backend beside an idle one, "
        "which never looks at the backend queue until its own release",
)
RAMP_UNLOOKED = Pattern(
    "STUCK", "*", "*", "WU_PENDING",
    why="F7 (docs/findings.md): the slowstart limit rose with time since the warmup task last looked, and its next "
        "tick (a timer) comes after the request's timeout",
)
GRAB_UNCOUNTED = Pattern(
    "STUCK", "*", "*", "MD_CURSESS",
    why="111ea83ed: streams grabbed from the backend queue hold connections that served does not count",
)
GRAB_HELD = Pattern(
    "STUCK", "*", "*", "GR_UNCOUNTED",
    why="111ea83ed: the slot served shows free is held by a stream grabbed from the backend queue, uncounted",
)
WARMUP_GRAB_ONLY = Pattern(
    "STUCK", "*", "*", "WU_GRAB_ONLY",
    why="111ea83ed: server_warmup only grabbed from the backend queue; a request queued on the server under the "
        "lower slowstart limit is not offered the slot the ramp adds",
)
GRABBED = Pattern("SAFETY", "*", "INV_*", why="111ea83ed: pendconn_grab_from_px hands out slots it never counted")
ENDLESS_LOOP = Pattern(
    "LIVELOCK", "*", "BALANCE_AGAIN",
    why="ca275d99c / b11495652 (GH #2711): balance_again spins while nothing can take the request (fixed Sep-Oct 2024)",
)


# The 2026 tree's backend re-check (cda7275ef): a server announces itself in
# px.ready_srv only at the end of process_srv_queue, only when nothing runs
# anywhere; a request that queues on the backend takes that server.  Where
# it is not armed, the seed race is open again (docs/findings.md F1, F4, F5).
READY_SRV_GAPS = tuple(
    Pattern("STUCK", "backend-queue", "*", release, why=f"F5 (docs/findings.md): {why}")
    for release, why in (
        ("RS_UNARMED", "nothing runs anywhere and no ready server is armed: the releaser saw empty queues, so it "
                       "never ran process_srv_queue, the only place that arms ready_srv"),
        ("RS_PXSERVED", "ready_srv is armed only when px.served == 0 (as in F1, F4)"),
        ("RS_SERVED", "ready_srv is armed only when this server's served is 0"),
        ("RS_LOAD", "another server's ready_srv announcement was consumed or stale"),
        ("ASQ_RS_GIVEBACK", "a queuer gave a ready server's slot back without looking at the queues"),
    )
)


def _bug(commit: str, subject: str, date: str, oracle: str, bit: int, pattern: Pattern, story: str, mix: str = "basic",
         also: tuple[Pattern, ...] = ()) -> tuple[Bug, Variant]:
    name = f"revert-{commit}"
    variant = Variant(
        name, bit, f"the fixed model with {commit} reverted ({subject})", "bugs",
        shows=(pattern, *also, *READY_SRV_GAPS, *IDLE_BESIDE_BUSY, BACKUP_NOT_OFFERED, LIMIT_ROSE, ENABLE_RACE,
               RANDOM_MISSED_IDLE, RAMP_UNLOOKED),
        must_show=(pattern,),
        mix=mix,
    )
    return Bug(commit, subject, date, oracle, name, pattern, story), variant


CATALOG = [
    _bug("b11495652", "BUG/MEDIUM: queue: implement a flag to check for the dequeuing", "2024-09-11", "STUCK",
         BUG_TRYLOCK, TRYLOCK_LOSS,
         "a releaser's trylock fails while a third stream holds the server queue lock and will not look again",
         mix="persist", also=(ENDLESS_LOOP,)),
    _bug("3372a2ea0", "BUG/MEDIUM: queues: Strictly respect maxconn for outgoing connections", "2024-12", "SAFETY",
         BUG_SERVED_CHECK, OVERSHOOT, "two threads both read served < maxconn, then both increment it"),
    _bug("dc9ce9c26", "BUG/MEDIUM: queues: Make sure we call process_srv_queue() when leaving", "2024-12", "STUCK",
         BUG_FREE_NODEQ, LATE_RELEASE,
         "a queue timeout races a pick; the stream drops its new slot in stream_free without kicking the queue"),
    _bug("111ea83ed", "BUG/MEDIUM: queues: Do not use pendconn_grab_from_px()", "2024-12", "SAFETY",
         BUG_GRAB_PX, GRABBED,
         "a server coming up takes backend-queued requests without reserving served, so it runs past maxconn",
         mix="admin", also=(GRAB_UNCOUNTED, GRAB_HELD, WARMUP_GRAB_ONLY, ENDLESS_LOOP)),
    _bug("9ada03069", "BUG/MINOR: queue/threads: make the queue unlinking atomic", "2019-11", "SAFETY",
         BUG_UNLINK_RACE, Pattern("SAFETY", "*", "INV_*", why="9ada03069: an entry unlinked twice is counted twice"),
         "a timing-out stream sees itself linked, a releaser picks it, and both decrement the queue length"),
    _bug("fac0f645d", "BUG/MEDIUM: queue: make pendconn_cond_unlink() really thread-safe", "2020-10", "SAFETY",
         BUG_STALE_LINKED, Pattern("SAFETY", "*", "INV_*", why="fac0f645d: a racy read of linked-ness frees a queued entry"),
         "the unlocked linked test reads a pointer being rewritten, skips the unlink, and frees an entry still queued"),
    _bug("87154e301", "BUG/MAJOR: queue: better protect a pendconn being picked from the proxy", "2021-08", "SAFETY",
         BUG_NO_DEL_LOCK, Pattern("SAFETY", "*", "INV_UAF", why="87154e301: the picker touches an entry its owner freed"),
         "a releaser unlinks an entry and drops the proxy lock; the timing-out owner frees it; the releaser writes to it"),
    _bug("19c5581b4", "BUG/MEDIUM: backend: stop looking for queued connections once there's no more", "2021-06",
         "LIVELOCK", BUG_NO_STOP, Pattern("LIVELOCK", "*", "STEP_BUDGET", why="19c5581b4: process_srv_queue never stops"),
         "a release with a free slot and an empty queue re-enters the dequeue loop forever"),
    _bug("5e83d996c", "BUG/MAJOR: queue/threads: avoid an AB/BA locking issue in process_srv_queue()", "2019-07",
         "LOCK_ORDER", BUG_LOCK_ORDER, Pattern("LOCK_ORDER", why="5e83d996c: proxy lock taken before the server's"),
         "process_srv_queue takes the proxy queue lock, then the server queue lock: the reverse of the global order"),
    _bug("6a78e6169", "BUG/MEDIUM: servers: check the queues once enabling a server", "2018-08", "STUCK",
         BUG_ENABLE_NOCHECK,
         Pattern("STUCK", "*", "*", "ADM_ENABLE_NOCHECK", why="6a78e6169: a re-enabled server ignores the queue"),
         "requests queue while a server is in maintenance and the others are full; it comes back and nobody "
         "dequeues them",
         mix="admin"),
    _bug("a8694654b", "BUG/MEDIUM: queue: prevent a backup server from draining the proxy's connections", "2018-08",
         "SAFETY", BUG_BACKUP_DRAIN,
         Pattern("SAFETY", "*", "INV_BACKUP", why="a8694654b: a backup server drains the backend queue beside actives"),
         "an active server comes back while a backup still serves; the backup's release takes from the backend queue",
         mix="backup"),
    _bug("53f52e67a", "BUG/MEDIUM: queue: always dequeue the backend when redistributing the last server", "2024-10-01",
         "STUCK", BUG_REDIST_PX,
         REDIST_LEFT,
         "requests wait in the backend queue while the last server goes down; pendconn_redistribute only looks at "
         "that server's own queue, so they wait out timeout queue instead of a 503 at once", mix="admin"),
    _bug("ca275d99c", "BUG/MEDIUM: queue: make sure never to queue when there's no more served conns", "2024-10",
         "STUCK", BUG_SKIPLB_SERVED,
         SKIPLB_NOSERVED,
         "the skip-LB shortcut returns FULL while px.served is 0 (a request waits beside an idle server): on the "
         "2024 tree queue, must_try_again, balance_again, forever; on the 2026 tree, no ready server is armed and "
         "the request waits out timeout queue beside the idle one", mix="backup", also=(ENDLESS_LOOP,)),
]

CATALOG += [
    _bug("659d5f657", "BUG/MEDIUM: queues: Adjust the proxy counters when appropriate", "2025-01-09", "SAFETY",
         BUG_RS_COUNTERS,
         Pattern("SAFETY", "*", "INV_PXSERVED", why="659d5f657: the extra dequeue after arming ready_srv is not counted"),
         "a server arms ready_srv, its one extra pick takes a request that queued meanwhile, and px.served and "
         "px.totpend never hear of it"),
    _bug("99f5be563", "BUG/MAJOR: queue: lock around the call to pendconn_process_next_strm()", "2025-05-06", "SAFETY",
         BUG_RS_NOLOCK,
         Pattern("SAFETY", "*", "INV_UNLOCKED", why="99f5be563: the extra dequeue changes a queue without its lock"),
         "the extra pick after arming ready_srv unlinks a server-queue entry without the server queue lock, racing "
         "pendconn_add and pendconn_unlink on the same list (the mt_list corruption upstream)"),
    _bug("099c1b244", "BUG/MAJOR: queue: properly keep count of the queue length", "2025-05-17", "SAFETY",
         BUG_QUEUESLENGTH,
         Pattern("SAFETY", "*", "INV_QUEUESLENGTH", why="099c1b244: queueslength not decremented on unlink"),
         "a request times out in a queue (or takes a ready server); queueslength keeps counting it, and LB and the "
         "skip-LB shortcut see a queue that is not there"),
    _bug("0144426df", "BUG/MEDIUM: server: close a race around ready_srv when deleting a server", "2025-11-06",
         "SAFETY", BUG_RS_DELETE,
         Pattern("SAFETY", "*", "INV_SRV_UAF", why="0144426df: ready_srv names a deleted server (GH #3177)"),
         "a server in maintenance arms ready_srv after its status change reset it; `del server` does not reset it "
         "and the next backend-queued request takes the deleted server",
         also=(Pattern("STUCK", "*", "*", "RS_RESET_STORE",
                       why="0144426df: the load-then-store reset wiped another server's ready_srv"),)),
    _bug("e9d34f991", "BUG/MEDIUM: queues: Don't forget to unlock the queue before exiting", "2025-11-20", "SAFETY",
         BUG_RS_UNLOCK,
         Pattern("SAFETY", "*", "ASQ_RS_GIVEBACK", why="e9d34f991: the ready_srv path returns holding the queue lock"),
         "a backend-queued request takes the ready server's slot, but a dequeuer picked its entry first: it gives "
         "the slot back and returns with the queue lock still held"),
    _bug("13c344516", "BUG/MEDIUM: stream: Handle TASK_WOKEN_RES as a stream event", "2026-03-03", "STUCK",
         BUG_WOKEN_RES,
         Pattern("STUCK", "*", "*", "STRM_TIMER_ONLY", why="13c344516: a dequeue's wake-up lost to a timer (GH #3290)"),
         "a queued stream is handed a slot while one of its own timers fires: woken for both, it sees only the "
         "timer, refreshes it and sleeps on its slot until timeout queue"),
    _bug("624969884", "BUG/MEDIUM: queues: Fix arithmetic when feeling non_empty_tgids", "2026-01-15", "LIVELOCK",
         BUG_TGID_WORD,
         Pattern("LIVELOCK", "*", "PSQ_TG_SPIN",
                 why="624969884: non_empty_tgids' second word is never filled; its thread groups look empty but "
                     "still count, and the search for another group to dequeue from never ends"),
         "with 2 words of thread groups (upstream: 64 or more groups; the model's words are 2 bits wide), "
         "process_srv_queue prefills the wrong word: the groups of the unfilled one look empty, so their queues "
         "are never dequeued, and once the visible groups are drained the search for another group loops forever",
         also=(Pattern("SAFETY", "*", "INV_TG_OOB",
                       why="624969884: with 3 words or more the prefill writes past non_empty_tgids"),),
         mix="generic"),
]

BUGS = tuple(b for b, _ in CATALOG)

SEED_VARIANTS = (
    Variant(
        "pre-fix", TREE_2024_07,
        "the tree at 1a8f3a368, just before 5541d4995: trylock dequeuer, no re-checks", "bugs",
        shows=(REDIST_LEFT, SKIPLB_NOSERVED, LATE_RELEASE, LIMIT_ROSE, ENABLE_RACE, GRAB_UNCOUNTED, GRAB_HELD, WARMUP_GRAB_ONLY, STUCK_SERVER, STUCK_BACKEND, OVERSHOOT, GRABBED),
        must_show=(STUCK_SERVER, STUCK_BACKEND),
    ),
    Variant(
        "server-fix", TREE_2024_07 & ~BUG_SEED_SRV,
        "only the server-queue half of 5541d4995 (re-check and process_srv_queue in srv_redispatch_connect)", "bugs",
        shows=(REDIST_LEFT, SKIPLB_NOSERVED, LATE_RELEASE, LIMIT_ROSE, ENABLE_RACE, GRAB_UNCOUNTED, GRAB_HELD, WARMUP_GRAB_ONLY, TRYLOCK_LOSS, STUCK_BACKEND, OVERSHOOT, GRABBED,
               RAMP_UNLOOKED),
        must_show=(STUCK_BACKEND,),
    ),
    Variant(
        "seed-fix", TREE_2024_07 & ~(BUG_SEED_SRV | BUG_SEED_PX),
        "both halves of 5541d4995, as upstream shipped them; the trylock residual (b11495652) remains", "bugs",
        shows=(REDIST_LEFT, SKIPLB_NOSERVED, LATE_RELEASE, TRYLOCK_LOSS, ENDLESS_LOOP, *IDLE_BESIDE_BUSY, BACKUP_NOT_OFFERED, LIMIT_ROSE, ENABLE_RACE,
               GRAB_UNCOUNTED, GRAB_HELD, WARMUP_GRAB_ONLY, OVERSHOOT, GRABBED, RANDOM_MISSED_IDLE, RAMP_UNLOOKED),
        mix="all",
    ),
    Variant(
        "dequeuing-fix", TREE_2024_07 & ~(BUG_SEED_SRV | BUG_SEED_PX | BUG_TRYLOCK),
        "seed-fix plus b11495652 (atomic dequeuing flag, then a blocking lock); believed closed upstream", "bugs",
        shows=(REDIST_LEFT, SKIPLB_NOSERVED, LATE_RELEASE, ENDLESS_LOOP, *IDLE_BESIDE_BUSY, BACKUP_NOT_OFFERED, LIMIT_ROSE, ENABLE_RACE, GRAB_UNCOUNTED, GRAB_HELD, WARMUP_GRAB_ONLY,
               OVERSHOOT, GRABBED, RANDOM_MISSED_IDLE, RAMP_UNLOOKED),
        mix="all",
    ),
    Variant(
        "fixed", 0, "the 2026 tree: every modelled fix applied, ready_srv (the catalog's fully fixed model)",
        "clean as far as upstream knows",
        shows=(*READY_SRV_GAPS, *IDLE_BESIDE_BUSY, BACKUP_NOT_OFFERED, LIMIT_ROSE, ENABLE_RACE, RANDOM_MISSED_IDLE,
               RAMP_UNLOOKED),
        mix="all",
    ),
    Variant(
        "fixed-2024", PRE_READY_SRV,
        "the Dec 2024 tree just before cda7275ef: every modelled fix, with pendconn_must_try_again and balance_again "
        "as the backend re-check instead of ready_srv (what the 2024 variants are attributed against)",
        "clean as far as upstream knows",
        shows=(*IDLE_BESIDE_BUSY, BACKUP_NOT_OFFERED, LIMIT_ROSE, ENABLE_RACE, RANDOM_MISSED_IDLE, RAMP_UNLOOKED), mix="all",
    ),
    Variant(
        "coarse", COARSE,
        "the fixed model under one giant lock per task: correct by construction, the false-positive control", "clean",
        mix="all",
    ),
)

VARIANTS = {v.name: v for v in (*SEED_VARIANTS, *(v for _, v in CATALOG))}
