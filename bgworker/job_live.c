/*-------------------------------------------------------------------------
 *
 * job_live.c
 *	  A running job's live state, as its worker keeps it: the latest
 *	  pi.progress() report ('P' frames) and the newest JOB_LIVE_TAIL_BYTES
 *	  of its stdout with the total printed ('O' frames), and the one UPDATE
 *	  that puts them in the job's row.
 *
 * Frames come as fast as the code prints; the row is written at most once
 * per JOB_LIVE_WRITE_MS (the worker's tick decides when, job_live_due), so
 * a job printing in a tight loop costs a few commits a second, not one per
 * line.  Whatever arrived in between is merged: the latest progress wins,
 * the output is appended to the tail and the tail cut to its newest bytes.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

#include "job_live.h"
#include "jsonb_util.h"

void
job_live_init(JobLive *live)
{
	initStringInfo(&live->progress);
	initStringInfo(&live->tail);
	live->stdout_bytes = 0;
	live->output_dirty = false;
	live->written_at = 0;
	/* a child of the job's context: gone with it when the job is done */
	live->parse_cxt = AllocSetContextCreate(CurrentMemoryContext, "pi job live output",
											ALLOCSET_SMALL_SIZES);
}

/* A 'P' frame: kept as the latest value. */
void
job_live_progress(JobLive *live, const char *progress_json)
{
	resetStringInfo(&live->progress);
	appendStringInfoString(&live->progress, progress_json);
}

/* Drop the oldest bytes of the tail, whole characters, down to its cap. */
static void
tail_trim(StringInfo tail)
{
	int			cut = 0;

	while (tail->len - cut > JOB_LIVE_TAIL_BYTES)
		cut += pg_mblen(tail->data + cut);
	if (cut > 0)
	{
		memmove(tail->data, tail->data + cut, tail->len - cut + 1);
		tail->len -= cut;
	}
}

/*
 * An 'O' frame: {"stdout": text, "stdout_bytes": n, "gap": bool}.  After
 * a gap (the executor skipped output the worker read too slowly for) the
 * tail starts again, so it never joins lines that were not next to each
 * other.  A frame that cannot be read here (text the database encoding
 * cannot hold) is skipped the same way: it costs the live view a few
 * lines, never the job.
 */
void
job_live_output(JobLive *live, const char *output_json)
{
	MemoryContext ctx = MemoryContextSwitchTo(live->parse_cxt);

	/*
	 * The parse allocates in parse_cxt, reset after each frame: a job that
	 * prints for hours sends millions of frames.  The tail's buffer lives
	 * in the job's context (repalloc keeps it there).
	 */
	PG_TRY();
	{
		Jsonb	   *frame = pi_jsonb_parse(output_json);
		JsonbValue	v;

		if (getKeyJsonValueFromContainer(&frame->root, "gap", 3, &v) != NULL &&
			v.type == jbvBool && v.val.boolean)
			resetStringInfo(&live->tail);
		if (getKeyJsonValueFromContainer(&frame->root, "stdout", 6, &v) != NULL &&
			v.type == jbvString)
		{
			appendBinaryStringInfo(&live->tail, v.val.string.val, v.val.string.len);
			tail_trim(&live->tail);
		}
		if (getKeyJsonValueFromContainer(&frame->root, "stdout_bytes", 12, &v) != NULL &&
			v.type == jbvNumeric)
			live->stdout_bytes = DatumGetInt64(DirectFunctionCall1(numeric_int8,
																   NumericGetDatum(v.val.numeric)));
		live->output_dirty = true;
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(live->parse_cxt);
		FlushErrorState();
		resetStringInfo(&live->tail);
		live->output_dirty = true;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(ctx);
	MemoryContextReset(live->parse_cxt);
}

/* Whether something waits to be written and the last write is old enough. */
bool
job_live_due(const JobLive *live)
{
	return (live->progress.len > 0 || live->output_dirty) &&
		TimestampDifferenceExceeds(live->written_at, GetCurrentTimestamp(),
								   JOB_LIVE_WRITE_MS);
}

/*
 * In a transaction: write what is kept (progress, output or both) to the
 * job's row, in one UPDATE.  Only a running row is touched: a job that
 * ended or was re-queued keeps what its end wrote.  SKIP LOCKED, as the
 * lease renewal: a transaction that holds the row (a pi.cancel_job not yet
 * committed) must not stall the worker, which could then not pass that
 * very cancel on to the run; what is kept waits for the next write.  The
 * recording of the job's end holds the row itself, so its write is done.
 */
void
job_live_write(JobLive *live, const pg_uuid_t *job_id)
{
	bool		has_progress = live->progress.len > 0;
	int			rc;

	if (!has_progress && !live->output_dirty)
		return;
	rc = SPI_execute_with_args("UPDATE pi.jobs j SET"
							   " progress = CASE WHEN $2 IS NULL THEN j.progress"
							   "   ELSE ($2::jsonb ->> 'progress')::double precision END,"
							   " progress_message = CASE WHEN $2 IS NULL THEN j.progress_message"
							   "   ELSE $2::jsonb ->> 'message' END,"
							   " stdout_tail = coalesce($3, j.stdout_tail),"
							   " stdout_bytes = coalesce($4, j.stdout_bytes)"
							   " FROM (SELECT id FROM pi.jobs WHERE id = $1 AND status = 'running'"
							   "   FOR UPDATE SKIP LOCKED) me WHERE j.id = me.id",
							   4, (Oid[]) {UUIDOID, TEXTOID, TEXTOID, INT8OID},
							   (Datum[]) {UUIDPGetDatum(job_id),
							   has_progress ? CStringGetTextDatum(live->progress.data) : (Datum) 0,
							   live->output_dirty ? CStringGetTextDatum(live->tail.data) : (Datum) 0,
							   Int64GetDatum(live->stdout_bytes)},
							   (char[]) {' ', has_progress ? ' ' : 'n',
							   live->output_dirty ? ' ' : 'n',
							   live->output_dirty ? ' ' : 'n'},
							   false, 0);
	live->written_at = GetCurrentTimestamp();
	/* held by another transaction, or no longer running: kept as it is */
	if (rc != SPI_OK_UPDATE || SPI_processed == 0)
		return;
	resetStringInfo(&live->progress);
	live->output_dirty = false;
}
