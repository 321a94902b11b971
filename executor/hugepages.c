/*-------------------------------------------------------------------------
 *
 * hugepages.c
 *	  Back the preloaded memory that every kernel is cloned from with 2 MB
 *	  pages, so that a clone and an exit handle far fewer page-table
 *	  entries.
 *
 *-------------------------------------------------------------------------
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "executor.h"

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25		/* Linux 6.1; older headers lack it */
#endif

#define HUGE_PAGE_SIZE	((uintptr_t) 2 * 1024 * 1024)

/*
 * Back the zygote's anonymous memory (malloc's heap, Python's arenas, the
 * libraries' buffers: ~60 MB) with 2 MB pages where it fills whole
 * aligned 2 MB ranges.  Every clone copies one page-table entry per
 * mapped page and every kernel's exit tears them down again, 512 of them
 * per 2 MB; a huge page is one entry for both.  A kernel that writes into
 * one gets its page table for that range split and copies the 4 kB page
 * it writes, as before, so what a kernel copies does not grow.
 *
 * Only MADV_COLLAPSE, never MADV_HUGEPAGE: with the latter, a kernel's
 * first touch of a fresh aligned range would fault in (and zero) a whole
 * 2 MB page.  Where the kernel has no transparent huge pages (disabled,
 * or older than 6.1) the calls fail and nothing changes.  Returns the
 * bytes now in 2 MB pages.
 *
 * Called twice: by the zygote once everything is loaded (its forkers
 * share those pages), and by each forker once it is set up.  A write
 * splits a shared huge page in the writer only, and a forker's start
 * writes a few dozen scattered pages of malloc's heap: collapsing again
 * there gives the forker private huge pages for just those ranges, and
 * every kernel it clones gets them.
 */
size_t
executor_collapse_memory(void)
{
	FILE	   *maps = fopen("/proc/self/maps", "re");
	char		line[512];
	size_t		collapsed = 0;

	if (maps == NULL)
		return 0;
	while (fgets(line, sizeof(line), maps) != NULL)
	{
		uintptr_t	start,
					end;
		char		perms[8];
		unsigned long inode;
		int			name_at = 0;

		if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR " %7s %*s %*s %lu %n",
				   &start, &end, perms, &inode, &name_at) < 4)
			continue;
		/* private, writable, not backed by a file; [heap] but no [stack] */
		if (strcmp(perms, "rw-p") != 0 || inode != 0 ||
			(line[name_at] != '\0' && line[name_at] != '\n' &&
			 strncmp(line + name_at, "[heap]", 6) != 0))
			continue;
		start = (start + HUGE_PAGE_SIZE - 1) & ~(HUGE_PAGE_SIZE - 1);
		end &= ~(HUGE_PAGE_SIZE - 1);
		if (end > start && madvise((void *) start, end - start, MADV_COLLAPSE) == 0)
			collapsed += end - start;
	}
	fclose(maps);
	return collapsed;
}
