/*-------------------------------------------------------------------------
 *
 * query_rows.h
 *	  The DestReceiver that builds pi.query's jsonb result (query_rows.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PI_QUERY_ROWS_H
#define PI_QUERY_ROWS_H

#include "fmgr.h"
#include "tcop/dest.h"
#include "utils/jsonb.h"

/*
 * A DestReceiver that turns the rows of a SELECT into pi.query's result,
 * {columns: [{name, type}], rows: [[...]], row_count, truncated}, built as
 * jsonb directly while the rows stream in (no JSON text to parse, no
 * materialised tuple table), and that stops the executor after max_rows
 * rows or before the row that would take the result past
 * pi.query_max_bytes (then truncated_reason says which; a single value
 * larger than the whole bound stops the result before its row).
 */
typedef struct RowsReceiver
{
	DestReceiver pub;
	MemoryContext cxt;			/* outlives the executor's contexts */
	JsonbParseState *state;
	FmgrInfo   *out;
	TupleDesc	desc;
	uint64		rows;
	uint64		max_rows;
	uint64		bytes;			/* about the size of the result so far */
	uint64		max_bytes;
	bool		truncated;
	const char *truncated_reason;
} RowsReceiver;

/* Ready a receiver that stops after max_rows rows or pi.query_max_bytes. */
extern void pi_rows_init(RowsReceiver *r, uint64 max_rows);

/* Close the result object and return it, allocated in result_cxt. */
extern Jsonb *pi_rows_finish(RowsReceiver *r, MemoryContext result_cxt);

#endif							/* PI_QUERY_ROWS_H */
