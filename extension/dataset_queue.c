/*-------------------------------------------------------------------------
 *
 * dataset_queue.c
 *	  pi.load_csv and pi.load_dataset: check the call (the file, the name,
 *	  the options, the format) and queue the load job that datasets.c runs
 *	  in a job worker.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/stat.h>
#include <unistd.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/uuid.h"

#include "csv_analysis.h"
#include "dataset_convert.h"
#include "datasets.h"
#include "guc.h"
#include "load_options.h"
#include "sessions.h"
#include "shmem.h"
#include "tenant_limits.h"
#include "tenants.h"
#include "workspace_path.h"

PG_FUNCTION_INFO_V1(pi_load_csv);
PG_FUNCTION_INFO_V1(pi_load_dataset);

/*
 * Check the arguments, the file and the options, and insert the load job:
 * the common part of pi.load_csv (format NULL: CSV as before) and
 * pi.load_dataset.  Returns the job id.
 */
static Datum
queue_load(FunctionCallInfo fcinfo, const char *fn, const char *requested_format,
		   const char *sheet)
{
	char	   *path;
	char	   *name;
	Jsonb	   *options = PG_ARGISNULL(3) ? NULL : PG_GETARG_JSONB_P(3);
	CsvLoadOptions parsed;
	char	   *workspace;
	const char *format = "csv";
	struct stat st;
	Datum		id;
	bool		isnull;
	int			fd;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("file_path and dataset_name must not be null"),
				 errhint("Call %s('data.csv', 'my_dataset', session_id).", fn)));
	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s needs the session whose workspace holds the file", fn),
				 errhint("Upload the file with pi.write_file(session_id, ...) and pass the same session_id.")));
	path = text_to_cstring(PG_GETARG_TEXT_PP(0));
	name = text_to_cstring(PG_GETARG_TEXT_PP(1));
	workspace_check_path(path);
	load_check_dataset_name(name);
	load_parse_options(options, &parsed);
	workspace = pi_session_workspace(PG_GETARG_UUID_P(2), true);
	fd = dataset_open_file(workspace, path, &st);
	PG_TRY();
	{
		if (requested_format)
			format = dataset_format_detect(path, fd, requested_format);
	}
	PG_FINALLY();
	{
		close(fd);
	}
	PG_END_TRY();
	load_check_options_for_format(&parsed, format);
	if (sheet && strcmp(format, "xlsx") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("sheet applies to .xlsx workbooks, and \"%s\" is loaded as %s", path, format),
				 errhint("Leave sheet out, or pass format => 'xlsx' for a workbook.")));

	/* a load is a job, and adds to the tenant's datasets */
	pi_tenant_check_datasets(pi_caller_name(), pi_dataset_schema(pi_caller_name()), false);
	pi_tenant_check_jobs(pi_caller_name());

	SPI_connect();
	if (SPI_execute_with_args("INSERT INTO pi.jobs (kind, code, timeout_s, session_id, payload, submitted_by)"
							  " VALUES ('load_csv', CASE WHEN $8 = 'csv' THEN"
							  "  pg_catalog.format('load_csv %L into %s', $1, $2) ELSE"
							  "  pg_catalog.format('load_dataset %L (%s) into %s', $1, $8, $2) END,"
							  "  $4, $3, pg_catalog.jsonb_build_object('file_path', $1,"
							  "  'dataset_name', pg_catalog.lower($2), 'options', coalesce($5, '{}'::jsonb),"
							  "  'file_bytes', $6::bigint, 'owner', $7,"
							  "  'schema', pi.dataset_schema($7::name), 'format', $8, 'sheet', $9), $7::name)"
							  " RETURNING id",
							  9, (Oid[]) {TEXTOID, TEXTOID, UUIDOID, INT4OID, JSONBOID, INT8OID, TEXTOID,
								  TEXTOID, TEXTOID},
							  (Datum[]) {CStringGetTextDatum(path), CStringGetTextDatum(name),
								  PG_GETARG_DATUM(2), Int32GetDatum(pi_job_timeout),
								  options ? JsonbPGetDatum(options) : (Datum) 0, Int64GetDatum(st.st_size),
								  CStringGetTextDatum(pi_caller_name()), CStringGetTextDatum(format),
							  sheet ? CStringGetTextDatum(sheet) : (Datum) 0},
							  (char[]) {' ', ' ', ' ', ' ', options ? ' ' : 'n', ' ', ' ', ' ', sheet ? ' ' : 'n'},
							  false, 1) != SPI_OK_INSERT_RETURNING)
		elog(ERROR, "could not queue the load");
	id = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	id = SPI_datumTransfer(id, false, UUID_LEN);
	SPI_finish();

	pi_wake_workers();
	PG_RETURN_DATUM(id);
}

/*
 * pi.load_csv(file_path text, dataset_name text, session_id uuid DEFAULT
 * NULL, options jsonb DEFAULT '{}') returns uuid: the id of the load job.
 */
Datum
pi_load_csv(PG_FUNCTION_ARGS)
{
	return queue_load(fcinfo, "pi.load_csv", NULL, NULL);
}

/*
 * pi.load_dataset(file_path, dataset_name, session_id, options, format
 * DEFAULT 'auto', sheet DEFAULT NULL) returns uuid: pi.load_csv for CSV,
 * xlsx (a sheet: the first, or by name) and JSON Lines files.
 */
Datum
pi_load_dataset(PG_FUNCTION_ARGS)
{
	return queue_load(fcinfo, "pi.load_dataset",
					  PG_ARGISNULL(4) ? "auto" : text_to_cstring(PG_GETARG_TEXT_PP(4)),
					  PG_ARGISNULL(5) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(5)));
}
