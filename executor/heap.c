/*-------------------------------------------------------------------------
 *
 * heap.c
 *	  The state of malloc's free lists that kernels inherit: the zygote
 *	  and each forker keep them so that a kernel's mallocs take memory
 *	  without writing to free chunks scattered over the heap it shares
 *	  copy-on-write with them.
 *
 * glibc does two kinds of deferred work on a malloc: it consolidates
 * fastbin chunks (on a large request) and sorts the unsorted bin into the
 * size bins (on any request with no exact fit).  Both write to every
 * chunk concerned and to its neighbours.  Left to the kernel, the first
 * such malloc of every run did that for chunks the zygote and its forker
 * had freed, and each chunk written was a page copied (measured: ~110 of
 * the ~650 copy-on-write faults of a print(1) run).  So the deferred work
 * is done here, before kernels are cloned.
 *
 *-------------------------------------------------------------------------
 */
#include <malloc.h>
#include <stdlib.h>

#include "executor.h"

/*
 * A request in malloc's large range (over 1 kB), which sorts the whole
 * unsorted bin unless a chunk of exactly its size turns up, and well
 * below the top of the heap's slack, so that taking it from there and
 * giving it back does not move the program break.
 */
#define HEAP_SETTLE_REQUEST		(4000)

/*
 * Once, in the zygote, before Python loads: no fastbins, so freed small
 * chunks are merged when freed (after the per-size tcache) and no later
 * malloc consolidates them in a kernel.
 */
void
executor_heap_setup(void)
{
	mallopt(M_MXFAST, 0);
}

/*
 * Sort the unsorted bin now, in this process, so that the kernels cloned
 * from it later do not: in the zygote once it has loaded everything, and
 * in each forker once it has started (it mallocs nothing per spawn).
 * glibc stops sorting after 10,000 chunks per call, hence a few calls;
 * volatile keeps the compiler from dropping the pair.
 */
void
executor_heap_settle(void)
{
	for (int i = 0; i < 3; i++)
	{
		void	   *volatile chunk = malloc(HEAP_SETTLE_REQUEST);

		free(chunk);
	}
}
