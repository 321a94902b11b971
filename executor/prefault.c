/*-------------------------------------------------------------------------
 *
 * prefault.c
 *	  The pages a typical cell writes, learned once in the zygote, and
 *	  copied ahead of time by a pool kernel that waits for its cell.
 *
 * Every kernel is a copy-on-write clone of the zygote's ~70 MB, so each
 * page a run writes is first copied, one page fault at a time.  A chart
 * cell writes ~4,500 of them (matplotlib's objects, pandas', the runner's):
 * ~15 ms of a ~70 ms run in page faults alone (measured).  A stateless
 * pool kernel mostly waits, though, on a core that is free: it can take
 * those faults before its cell comes.
 *
 * Which pages: at start-up the zygote forks a throwaway probe that runs a
 * typical cell (runner.probe_written_pages: a pandas summary and a chart),
 * then reads the probe's /proc/<pid>/pagemap: a page of the zygote's
 * private writable memory that the probe now maps exclusively is one the
 * cell copied (or touched for the first time).  Only addresses are kept,
 * never contents, and the probe runs nothing but the runner's own code
 * (the zygote never holds a client's bytes; docs/architecture.md).
 *
 * How: madvise(MADV_POPULATE_WRITE) (Linux 5.14) breaks the sharing of a
 * range as a write fault would.  It is not cheaper per page than the
 * faults themselves (measured), so it only pays off the cell's critical
 * path: a pool kernel starts after a short wait for its cell, and only
 * while it has a core to itself; it looks for its cell and at the load between
 * small batches, so a cell waits for at most one batch, and a busy
 * machine holds it (it looks again every PREFAULT_BUSY_WAIT_MS).  A kernel whose cell is already waiting (under load)
 * copies nothing ahead.  The copied pages are the kernel's own memory and count
 * against its run's memory cgroup (a few MB over a bare kernel; the set
 * is capped well below the smallest pi.max_memory_mb).
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <malloc.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "executor.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

/* pagemap entry bits (Documentation/admin-guide/mm/pagemap.rst) */
#define PAGEMAP_PRESENT		(UINT64_C(1) << 63)
#define PAGEMAP_EXCLUSIVE	(UINT64_C(1) << 56)

/*
 * At most 24 MB: a pool kernel's pre-copied pages count against its run's
 * memory limit, whose least is 64 MB (pi.max_memory_mb).
 */
#define PREFAULT_MAX_PAGES		6144
/*
 * How long a pool kernel waits for its cell before it starts copying, and
 * how long it waits when it finds no free core before it looks again.
 * Both short: back to back, the next pool kernel has only the ~50 ms of
 * the running chart cell to copy its ~5,700 pages (~20 ms of work), and a
 * third runnable task for a moment (a forker's clone, a kworker) is
 * common on two cores.  With 10 ms for both, most such kernels were
 * caught by their cell after 500-4,000 pages and the cell took the other
 * ~2,000 faults itself; with 3 and 2 ms most finish (measured: the chart
 * back to back 57-63 -> 50-55 ms, print(1) at 1 and 8 clients unchanged).
 */
#define PREFAULT_DELAY_MS		3
#define PREFAULT_BUSY_WAIT_MS	2
/* fresh heap written ahead for a cell's large buffers (a chart's canvas) */
#define PREFAULT_HEAP_BYTES		((size_t) 4 << 20)
/* pages copied between two looks at the control pipe (~0.1 ms) */
#define PREFAULT_BATCH_PAGES	32

typedef struct PrefaultRange
{
	uintptr_t	start;
	size_t		pages;
} PrefaultRange;

/* Made in the zygote, inherited by every forker and kernel. */
static PrefaultRange *ranges;
static int	nranges;
static size_t npages;

static size_t page_size;
/* counted in the zygote: a sandboxed kernel has no /sys to count them in */
static long online_cores;

/* Add one page to the set: extend the last range, or start a new one. */
static bool
add_page(uintptr_t addr, int *cap)
{
	if (nranges > 0 &&
		ranges[nranges - 1].start + ranges[nranges - 1].pages * page_size == addr)
	{
		ranges[nranges - 1].pages++;
		npages++;
		return true;
	}
	if (nranges == *cap)
	{
		int			newcap = *cap ? *cap * 2 : 256;
		PrefaultRange *grown = realloc(ranges, newcap * sizeof(PrefaultRange));

		if (grown == NULL)
			return false;
		ranges = grown;
		*cap = newcap;
	}
	ranges[nranges].start = addr;
	ranges[nranges].pages = 1;
	nranges++;
	npages++;
	return true;
}

/*
 * Read probe's pagemap over [start, end) and add the pages it maps
 * exclusively.  False when the pagemap cannot be read.
 */
static bool
scan_range(int pagemap, uintptr_t start, uintptr_t end, int *cap)
{
	uint64_t	entries[512];
	uintptr_t	addr = start;

	while (addr < end && npages < PREFAULT_MAX_PAGES)
	{
		size_t		want = (end - addr) / page_size;
		ssize_t		got;
		size_t		i;

		if (want > sizeof(entries) / sizeof(entries[0]))
			want = sizeof(entries) / sizeof(entries[0]);
		got = pread(pagemap, entries, want * sizeof(uint64_t),
					(off_t) (addr / page_size * sizeof(uint64_t)));
		if (got <= 0)
			return false;
		for (i = 0; i < (size_t) got / sizeof(uint64_t); i++)
		{
			uint64_t	e = entries[i];

			if ((e & PAGEMAP_PRESENT) && (e & PAGEMAP_EXCLUSIVE) &&
				npages < PREFAULT_MAX_PAGES &&
				!add_page(addr + i * page_size, cap))
				return false;
		}
		addr += (size_t) got / sizeof(uint64_t) * page_size;
	}
	return true;
}

/*
 * In the zygote, with the probe (a fork of it that has run the typical
 * cell) stopped: learn the pages it copied, within the zygote's own
 * private writable mappings (what a kernel inherits; anything the probe
 * mapped afresh is not).  Returns the number of pages, 0 when nothing
 * could be learned (pool kernels then copy nothing ahead).
 */
size_t
executor_prefault_learn(pid_t probe)
{
	char		path[64];
	FILE	   *maps;
	int			pagemap;
	char		line[512];
	int			cap = 0;
	bool		ok = true;

	page_size = (size_t) sysconf(_SC_PAGESIZE);
	online_cores = sysconf(_SC_NPROCESSORS_ONLN);
	snprintf(path, sizeof(path), "/proc/%d/pagemap", (int) probe);
	pagemap = open(path, O_RDONLY | O_CLOEXEC);
	maps = fopen("/proc/self/maps", "re");
	if (pagemap < 0 || maps == NULL)
	{
		pi_log("zygote: cannot read the probe's pages (%m); "
			   "pool kernels copy nothing ahead");
		if (pagemap >= 0)
			close(pagemap);
		if (maps != NULL)
			fclose(maps);
		return 0;
	}
	while (ok && fgets(line, sizeof(line), maps) != NULL)
	{
		uintptr_t	start,
					end;
		char		perms[8];

		if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR " %7s", &start, &end, perms) != 3 ||
			strcmp(perms, "rw-p") != 0)
			continue;
		ok = scan_range(pagemap, start, end, &cap);
	}
	fclose(maps);
	close(pagemap);
	if (!ok)
	{
		pi_log("zygote: reading the probe's pages failed; "
			   "pool kernels copy nothing ahead");
		free(ranges);
		ranges = NULL;
		nranges = 0;
		npages = 0;
	}
	return npages;
}

/*
 * Whether this kernel has a core of its own: /proc/loadavg's count of
 * runnable tasks, this one included, is at most the number of cores.
 * Copying ahead on a busy machine would take CPU from runs, for pages the
 * next cell may never write.  True when it cannot be read (the delay
 * alone then guards).
 */
static bool
core_is_free(int loadavg)
{
	char		buf[128];
	ssize_t		n = loadavg >= 0 ? pread(loadavg, buf, sizeof(buf) - 1, 0) : -1;
	const char *p;
	int			field;

	if (n <= 0)
		return true;
	buf[n] = '\0';
	/* "0.20 0.18 0.12 1/80 11206": the fourth field is running/total */
	for (p = buf, field = 0; *p != '\0' && field < 3; p++)
		if (*p == ' ')
			field++;
	return field < 3 || online_cores < 1 || strtol(p, NULL, 10) <= online_cores;
}

/*
 * Populate pages [start, start + pages) for writing, in batches; before
 * each batch look for the cell and wait while the machine is busy.
 * *done counts the pages populated so far (batches span ranges).  False
 * when the cell came or populating cannot work here: stop.
 */
static bool
populate_while_idle(uintptr_t start, size_t pages, size_t *done,
					struct pollfd *control, int loadavg)
{
	size_t		at = 0;

	while (at < pages)
	{
		size_t		n = pages - at;

		if (*done % PREFAULT_BATCH_PAGES == 0)
		{
			if (poll(control, 1, 0) != 0)
				return false;
			while (!core_is_free(loadavg))
				if (poll(control, 1, PREFAULT_BUSY_WAIT_MS) != 0)
					return false;
		}
		if (n > PREFAULT_BATCH_PAGES - *done % PREFAULT_BATCH_PAGES)
			n = PREFAULT_BATCH_PAGES - *done % PREFAULT_BATCH_PAGES;
		if (madvise((void *) (start + at * page_size), n * page_size,
					MADV_POPULATE_WRITE) != 0 && errno == EINVAL)
			return false;		/* before Linux 5.14: nothing to gain */
		/* other errors (unmapped since, no memory) skip those pages */
		at += n;
		*done += n;
	}
	return true;
}

/*
 * Fresh memory for the cell's large buffers, written ahead too: a chart's
 * 1.2 MB Agg canvas (and a cell's first arrays) came from memory the
 * zygote never had, a zero-filled page fault each (~300 a chart,
 * measured).  malloc is told to serve requests up to PREFAULT_HEAP_BYTES
 * from its heap and to keep that much at the heap's top when it trims;
 * then one block that size is taken, populated and given back, so that
 * the next large mallocs find written pages.  Only a stateless kernel
 * copying ahead does this, and it lives for one run.
 */
static void
populate_fresh_heap(size_t *done, struct pollfd *control, int loadavg)
{
	char	   *block;
	uintptr_t	first,
				end;

	if (mallopt(M_MMAP_THRESHOLD, PREFAULT_HEAP_BYTES) == 0 ||
		mallopt(M_TOP_PAD, PREFAULT_HEAP_BYTES) == 0)
		return;
	block = malloc(PREFAULT_HEAP_BYTES - page_size);
	if (block == NULL)
		return;
	first = ((uintptr_t) block + page_size - 1) & ~(uintptr_t) (page_size - 1);
	end = ((uintptr_t) block + PREFAULT_HEAP_BYTES - page_size) & ~(uintptr_t) (page_size - 1);
	if (end > first)
		populate_while_idle(first, (end - first) / page_size, done, control, loadavg);
	free(block);
}

/*
 * In a stateless kernel waiting for its first cell (runner.serve, after
 * its own warm-up): copy the learned pages, then populate fresh heap,
 * while no cell has come, whenever this kernel has a core to itself (on a
 * busy machine it waits, looking for its cell); stop as soon as the cell
 * comes.  Returns the pages populated.
 */
size_t
executor_prefault_pages(int control_fd)
{
	struct pollfd control = {control_fd, POLLIN, 0};
	int			loadavg;
	size_t		done = 0;
	int			i;

	if (nranges == 0 || poll(&control, 1, PREFAULT_DELAY_MS) != 0)
		return 0;
	loadavg = open("/proc/loadavg", O_RDONLY | O_CLOEXEC);
	for (i = 0; i < nranges; i++)
		if (!populate_while_idle(ranges[i].start, ranges[i].pages, &done,
								 &control, loadavg))
			break;
	if (i == nranges)
		populate_fresh_heap(&done, &control, loadavg);
	if (loadavg >= 0)
		close(loadavg);
	return done;
}
