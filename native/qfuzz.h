/* qfuzz.h - optional annotations for a program run by qfuzz.
 *
 * Nothing here is required: qfuzz runs an unmodified program.  These tell
 * it more.  Built by qfuzz (which defines QFUZZ=1), they reach the runtime;
 * built with plain gcc they are empty inline functions, so the program
 * still builds and runs as usual.  `qfuzz config --include` or
 * harness.program.build.include_dir() gives this file's folder.
 *
 *   qf_request_begin(id, deadline_us)  a request (any id >= 0 you choose) must
 *                                      be done within deadline_us of virtual
 *                                      time from now: if it is still open when
 *                                      the clock passes that while a thread
 *                                      idles in a wait, the verdict is STUCK
 *                                      (path "deadline")
 *   qf_request_end(id)                 the request is done
 *   qf_state(name, value)              an interesting state: a coverage
 *                                      feature for the fuzzer and a trace note
 */
#ifndef QFUZZ_H
#define QFUZZ_H

#if defined(QFUZZ) && QFUZZ
void qf_request_begin(long id, unsigned long deadline_us);
void qf_request_end(long id);
void qf_state(const char *name, long value);
#else
static inline void qf_request_begin(long id, unsigned long deadline_us) { (void)id; (void)deadline_us; }
static inline void qf_request_end(long id) { (void)id; }
static inline void qf_state(const char *name, long value) { (void)name; (void)value; }
#endif

#endif
