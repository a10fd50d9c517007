/* heap.c - the program's malloc family, in an arena of its own.
 *
 * Each program gets one address range (RT_ARENA bytes reserved, touched on
 * demand).  Blocks come from power-of-two size classes with free lists, or
 * from the bump pointer.  Resetting the heap between executions is then a
 * copy and a rewind: the blocks the constructors made get their contents
 * back, everything later is dropped, and the used part is zeroed, so every
 * execution starts from the same bytes and the same addresses (replays do
 * not depend on what an earlier execution left behind).  Pointers from
 * outside the arena (strdup'ed by libc itself, say) go to libc's free. */
#define _GNU_SOURCE
#include "rt.h"

#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define RT_ARENA (256UL << 20)
#define BIG 31 /* class of blocks that are never reused within an execution */

typedef struct hdr {
	uint32_t cls;
	uint32_t pad;
	uint64_t size;
} hdr;

/* A program's arena sits at the same address in every process (when that
 * range is free): one of 64 slots chosen by the last two components of its
 * path (build.py's content-hash folder and file name).  Heap pointers, and
 * whatever a program derives from them, are then the same on every run and
 * machine. */
#define RT_ARENA_AT(k) ((void *)(0x5e0000000000UL + ((unsigned long)(k) << 30)))

static unsigned arena_slot(const char *path)
{
	const char *end = path + strlen(path), *c = end;
	int slashes = 0;
	while (c > path && slashes < 2)
		slashes += *--c == '/';
	uint32_t h = 2166136261u;
	for (; c < end; c++)
		h = (h ^ (uint8_t)*c) * 16777619u;
	return h % 64;
}

int rt_heap_init(rt_program *p)
{
	int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
	void *a = MAP_FAILED;
	for (unsigned i = 0, k = arena_slot(p->path); i < 64 && a == MAP_FAILED; i++)
		a = mmap(RT_ARENA_AT((k + i) % 64), RT_ARENA, PROT_READ | PROT_WRITE, flags | MAP_FIXED_NOREPLACE, -1, 0);
	if (a == MAP_FAILED)
		a = mmap(NULL, RT_ARENA, PROT_READ | PROT_WRITE, flags, -1, 0);
	if (a == MAP_FAILED)
		return -1;
	p->arena = p->bump = p->high = p->arena_base = a;
	p->arena_len = RT_ARENA;
	return 0;
}

void rt_heap_snapshot(rt_program *p)
{
	p->arena_base = p->bump;
	size_t n = (size_t)(p->bump - p->arena);
	p->arena_copy = n ? malloc(n) : 0;
	if (n)
		memcpy(p->arena_copy, p->arena, n);
	memcpy(p->free0, p->freel, sizeof p->free0);
}

void rt_heap_reset(rt_program *p)
{
	size_t n = (size_t)(p->arena_base - p->arena);
	if (n)
		memcpy(p->arena, p->arena_copy, n);
	if (p->high > p->arena_base)
		memset(p->arena_base, 0, (size_t)(p->high - p->arena_base));
	p->bump = p->high = p->arena_base;
	memcpy(p->freel, p->free0, sizeof p->freel);
}

static inline int mine(const rt_program *p, const void *ptr)
{
	return (const char *)ptr >= p->arena && (const char *)ptr < p->arena + p->arena_len;
}

static void *bump(rt_program *p, size_t total, size_t align)
{
	uintptr_t at = ((uintptr_t)p->bump + sizeof(hdr) + align - 1) & ~(uintptr_t)(align - 1);
	if (at + total > (uintptr_t)(p->arena + p->arena_len) || total > p->arena_len) {
		errno = ENOMEM;
		return 0;
	}
	p->bump = (char *)(at + total);
	if (p->bump > p->high)
		p->high = p->bump;
	return (void *)at;
}

static inline uint32_t class_of(size_t size)
{
	uint32_t c = 0;
	while (((size_t)16 << c) < size)
		c++;
	return c;
}

static void *rt_malloc(size_t size)
{
	rt_program *p = R.prog;
	if (!p)
		return malloc(size);
	if (size == 0)
		size = 1;
	if (size > p->arena_len) {
		errno = ENOMEM;
		return 0;
	}
	uint32_t c = class_of(size);
	void *out;
	if (c < BIG && p->freel[c]) {
		out = p->freel[c];
		memcpy(&p->freel[c], out, sizeof(void *));
	} else {
		size_t cap = c < BIG ? (size_t)16 << c : size;
		out = bump(p, c < 20 ? cap : size, 16);
		if (!out)
			return 0;
		if (c >= 20)
			c = BIG; /* a big block: not worth a free list */
	}
	hdr *h = (hdr *)out - 1;
	h->cls = c;
	h->size = size;
	return out;
}

void *__wrap_malloc(size_t size)
{
	return rt_malloc(size);
}

void __wrap_free(void *ptr)
{
	rt_program *p = R.prog;
	if (!ptr)
		return;
	if (!p || !mine(p, ptr)) {
		free(ptr);
		return;
	}
	hdr *h = (hdr *)ptr - 1;
	if (h->cls < BIG) {
		memcpy(ptr, &p->freel[h->cls], sizeof(void *));
		p->freel[h->cls] = ptr;
	}
}

void *__wrap_calloc(size_t n, size_t size)
{
	if (size && n > (size_t)-1 / size) {
		errno = ENOMEM;
		return 0;
	}
	void *out = rt_malloc(n * size);
	if (out)
		memset(out, 0, n * size);
	return out;
}

static size_t capacity(const void *ptr)
{
	const hdr *h = (const hdr *)ptr - 1;
	return h->cls < BIG ? (size_t)16 << h->cls : h->size;
}

void *__wrap_realloc(void *ptr, size_t size)
{
	rt_program *p = R.prog;
	if (!ptr)
		return rt_malloc(size);
	if (!p || !mine(p, ptr))
		return realloc(ptr, size);
	if (size == 0) {
		__wrap_free(ptr);
		return 0;
	}
	hdr *h = (hdr *)ptr - 1;
	if (size <= capacity(ptr)) {
		h->size = size;
		return ptr;
	}
	void *out = rt_malloc(size);
	if (!out)
		return 0;
	memcpy(out, ptr, h->size);
	__wrap_free(ptr);
	return out;
}

void *__wrap_reallocarray(void *ptr, size_t n, size_t size)
{
	if (size && n > (size_t)-1 / size) {
		errno = ENOMEM;
		return 0;
	}
	return __wrap_realloc(ptr, n * size);
}

static void *aligned(size_t align, size_t size)
{
	rt_program *p = R.prog;
	if (!p)
		return memalign(align, size);
	if (align <= 16)
		return rt_malloc(size);
	void *out = bump(p, size ? size : 1, align);
	if (!out)
		return 0;
	hdr *h = (hdr *)out - 1;
	h->cls = BIG;
	h->size = size;
	return out;
}

int __wrap_posix_memalign(void **out, size_t align, size_t size)
{
	if (!align || (align & (align - 1)) || align % sizeof(void *))
		return EINVAL;
	void *p = aligned(align, size);
	if (!p)
		return ENOMEM;
	*out = p;
	return 0;
}

void *__wrap_aligned_alloc(size_t align, size_t size)
{
	return aligned(align, size);
}

void *__wrap_memalign(size_t align, size_t size)
{
	return aligned(align, size);
}

void *__wrap_valloc(size_t size)
{
	return aligned(4096, size);
}

size_t __wrap_malloc_usable_size(void *ptr)
{
	if (!ptr)
		return 0;
	if (!R.prog || !mine(R.prog, ptr))
		return malloc_usable_size(ptr);
	return capacity(ptr);
}

char *__wrap_strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *out = rt_malloc(n);
	if (out)
		memcpy(out, s, n);
	return out;
}

char *__wrap_strndup(const char *s, size_t max)
{
	size_t n = strnlen(s, max);
	char *out = rt_malloc(n + 1);
	if (out) {
		memcpy(out, s, n);
		out[n] = 0;
	}
	return out;
}
