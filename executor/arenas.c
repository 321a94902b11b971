/*-------------------------------------------------------------------------
 *
 * arenas.c
 *	  Where the zygote's Python objects live: CPython's small-object
 *	  arenas (1 MB each) are carved one after another out of one 2 MB
 *	  aligned region while the zygote loads, instead of being mapped
 *	  wherever mmap puts them.
 *
 * Why: hugepages.c backs the preloaded memory with 2 MB pages, which
 * makes every clone and every kernel's exit cheaper, but it can only do
 * so for whole aligned 2 MB ranges of one mapping.  Left to mmap, the
 * ~35 arenas of numpy, pandas and matplotlib end up as dozens of 1-4 MB
 * mappings between the libraries' own, and most of them never fill an
 * aligned 2 MB range.  Side by side in one aligned region, all of them do.
 *
 * The region is reserved (PROT_NONE costs nothing but address space)
 * before Python starts; executor_arenas_seal() gives back what the
 * zygote did not use once everything is loaded, so kernels inherit only
 * the arenas themselves and not a reservation that would count against
 * their RLIMIT_AS.  From then on, and whenever the region is used up,
 * arenas are plain anonymous mappings, as CPython makes them.
 *
 *-------------------------------------------------------------------------
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>				/* first: it sets feature macros */

#include <stdbool.h>
#include <stdint.h>
#include <sys/mman.h>

#include "executor.h"

#define REGION_ALIGN	((size_t) 2 * 1024 * 1024)
/* the zygote uses ~36 MB of arenas; a kernel's own go elsewhere */
#define REGION_SIZE		((size_t) 256 * 1024 * 1024)

static char *region;			/* 2 MB aligned, REGION_SIZE long */
static size_t region_used;		/* bytes handed out from its start */
static bool region_sealed;

static void *
plain_alloc(size_t size)
{
	void	   *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
						 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

static void *
arena_alloc(void *ctx, size_t size)
{
	(void) ctx;
	if (region != NULL && !region_sealed &&
		size <= REGION_SIZE - region_used)
	{
		char	   *p = region + region_used;

		if (mprotect(p, size, PROT_READ | PROT_WRITE) == 0)
		{
			region_used += size;
			return p;
		}
	}
	return plain_alloc(size);
}

/*
 * An arena CPython no longer needs.  One inside the region is unmapped
 * like any other: the hole it leaves is never handed out again (freed
 * arenas are rare while the zygote loads, and kernels never allocate
 * from the region).
 */
static void
arena_free(void *ctx, void *ptr, size_t size)
{
	(void) ctx;
	munmap(ptr, size);
}

/* Before Py_Initialize: reserve the region and route arenas into it. */
void
executor_arenas_install(void)
{
	PyObjectArenaAllocator allocator = {NULL, arena_alloc, arena_free};
	char	   *p = mmap(NULL, REGION_SIZE + REGION_ALIGN, PROT_NONE,
						 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (p != MAP_FAILED)
	{
		uintptr_t	start = ((uintptr_t) p + REGION_ALIGN - 1) & ~(REGION_ALIGN - 1);
		size_t		head = start - (uintptr_t) p;

		/* keep exactly the aligned part */
		if (head > 0)
			munmap(p, head);
		munmap((char *) start + REGION_SIZE, REGION_ALIGN - head);
		region = (char *) start;
	}
	PyObject_SetArenaAllocator(&allocator);
}

/*
 * Once the zygote has loaded everything: give back the unused part of the
 * region (rounded up to 2 MB, so the last arenas can still be one huge
 * page), and make later arenas plain mappings.
 */
void
executor_arenas_seal(void)
{
	size_t		keep;

	region_sealed = true;
	if (region == NULL)
		return;
	keep = (region_used + REGION_ALIGN - 1) & ~(REGION_ALIGN - 1);
	if (keep < REGION_SIZE)
		munmap(region + keep, REGION_SIZE - keep);
	/* the rounding's tail: usable memory, as if arenas had been there */
	if (keep > region_used)
		mprotect(region + region_used, keep - region_used, PROT_READ | PROT_WRITE);
}
