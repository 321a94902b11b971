/*-------------------------------------------------------------------------
 *
 * sessions.c
 *	  pi.create_session and the lookup of a session's workspace directory.
 *
 * A session is a row in pi.sessions and a directory named after its id
 * under pi.workspace_root; everything a sandboxed run of the session may
 * touch lives in that directory (a rule of docs/architecture.md).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/stat.h>
#include <unistd.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/uuid.h"

#include "executor_client.h"
#include "guc.h"
#include "kept_plans.h"
#include "sessions.h"
#include "tenants.h"
#include "workspace_path.h"
#include "workspace_tally.h"

#define SESSION_LABEL_MAX 200

PG_FUNCTION_INFO_V1(pi_create_session);
PG_FUNCTION_INFO_V1(pi_close_session);
PG_FUNCTION_INFO_V1(pi_reset_session);
PG_FUNCTION_INFO_V1(pi_default_session);

static void
make_directory(const char *path)
{
	if (mkdir(path, S_IRWXU) != 0 && errno != EEXIST)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create workspace directory \"%s\": %m", path),
				 errhint("Check that pi.workspace_root names a directory the server can write.")));
}

/*
 * pi.create_session(label text) returns uuid
 */
Datum
pi_create_session(PG_FUNCTION_ARGS)
{
	text	   *label = PG_ARGISNULL(0) ? NULL : PG_GETARG_TEXT_PP(0);
	const char *root = pi_workspace_root_path();
	Datum		id;
	char	   *workspace;
	Datum		values[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};

	if (label && VARSIZE_ANY_EXHDR(label) > SESSION_LABEL_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("session label is too long"),
				 errdetail("The label has %d bytes; at most %d are allowed.",
						   (int) VARSIZE_ANY_EXHDR(label), SESSION_LABEL_MAX),
				 errhint("Use a shorter label.")));

	id = DirectFunctionCall1(gen_random_uuid, (Datum) 0);
	workspace = psprintf("%s/%s", root,
						 DatumGetCString(DirectFunctionCall1(uuid_out, id)));
	make_directory(root);
	make_directory(workspace);

	values[0] = id;
	values[1] = label ? PointerGetDatum(label) : (Datum) 0;
	if (!label)
		nulls[1] = 'n';
	values[2] = CStringGetTextDatum(workspace);
	values[3] = CStringGetTextDatum(pi_caller_name());

	SPI_connect();
	if (SPI_execute_with_args("INSERT INTO pi.sessions (id, label, workspace, owner) "
							  "VALUES ($1, $2, $3, $4::name)",
							  4, (Oid[]) {UUIDOID, TEXTOID, TEXTOID, TEXTOID},
							  values, nulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not record the new session");
	SPI_finish();

	PG_RETURN_DATUM(id);
}

/*
 * The workspace directory of a session, which must exist and be the
 * caller's (another tenant's session "does not exist").  With touch, the
 * session's last_used_at is brought up to date.  *is_default (when not
 * NULL) says whether it is its owner's default session, whose runs keep no
 * Python state (pi.default_session).  The caller must be in a transaction.
 */
char *
pi_session_lookup(pg_uuid_t *session_id, bool touch, bool *is_default)
{
	static SPIPlanPtr lookup_plan = NULL;
	static SPIPlanPtr touch_plan = NULL;
	static SPIPlanPtr touch_shared_plan = NULL;
	static Oid	argtypes[] = {UUIDOID};
	char	   *workspace = NULL;
	char	   *id_text;
	int			rc;

	id_text = DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum(session_id)));

	/*
	 * A read-only transaction may run code in a session (README: it records
	 * nothing); the session's last use then goes unrecorded too, which only
	 * matters for pi.session_ttl, measured in days.
	 */
	if (XactReadOnly)
		touch = false;
	SPI_connect();
	rc = SPI_execute_plan(pi_kept_plan(&lookup_plan,
									   "SELECT workspace, is_default FROM pi.sessions WHERE id = $1 AND pi.caller_sees(owner)",
									   1, argtypes),
						  (Datum[]) {UUIDPGetDatum(session_id)},
						  NULL, false, 1);
	if (rc < 0)
		elog(ERROR, "could not look up session %s: SPI error %d", id_text, rc);
	if (SPI_processed == 1)
	{
		char	   *value = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
		bool		isnull;
		bool		shared = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0],
														SPI_tuptable->tupdesc, 2, &isnull));

		workspace = MemoryContextStrdup(TopTransactionContext, value);
		if (is_default)
			*is_default = shared;

		/*
		 * The update locks the session's row until the caller's transaction
		 * ends, which for a run is when the run ends.  Runs of a session take
		 * turns anyway; those of a default session do not, so they skip the
		 * update while another run holds the row (that one has touched it).
		 */
		if (touch &&
			SPI_execute_plan(shared ?
							 pi_kept_plan(&touch_shared_plan,
										  "UPDATE pi.sessions SET last_used_at = now() WHERE id = "
										  "(SELECT id FROM pi.sessions WHERE id = $1 FOR NO KEY UPDATE SKIP LOCKED)",
										  1, argtypes) :
							 pi_kept_plan(&touch_plan,
										  "UPDATE pi.sessions SET last_used_at = now() WHERE id = $1",
										  1, argtypes),
							 (Datum[]) {UUIDPGetDatum(session_id)},
							 NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "could not record the use of session %s", id_text);
	}
	SPI_finish();

	if (workspace == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("session %s does not exist", id_text),
				 errhint("Create a session with pi.create_session() and pass the id it returns.")));

	/* A workspace removed by hand is recreated empty rather than failing. */
	make_directory(pi_workspace_root_path());
	make_directory(workspace);
	return workspace;
}

char *
pi_session_workspace(pg_uuid_t *session_id, bool touch)
{
	return pi_session_lookup(session_id, touch, NULL);
}

/* The id of the caller's default session, or NULL when it has none yet. */
static Datum
find_default_session(const char *owner, bool *found)
{
	static SPIPlanPtr plan = NULL;
	static Oid	argtypes[] = {TEXTOID};
	Datum		id = (Datum) 0;
	bool		isnull;

	if (SPI_execute_plan(pi_kept_plan(&plan,
									  "SELECT id FROM pi.sessions WHERE owner = $1::name AND is_default",
									  1, argtypes),
						 (Datum[]) {CStringGetTextDatum(owner)},
						 NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look up the default session");
	*found = SPI_processed == 1;
	if (*found)
		id = SPI_datumTransfer(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
											 1, &isnull), false, UUID_LEN);
	return id;
}

/*
 * pi.default_session() returns uuid: the caller's default session, made on
 * first use.  It is what a caller who names no session works in (the
 * gateway's REST routes without session_id): a workspace of its own per
 * tenant, so a file uploaded without a session can be loaded, read by code
 * and downloaded without one.  Its runs keep no Python state: each starts
 * from a fresh interpreter, as a run without a session does, and they do
 * not take turns, so callers who share a tenant do not wait for each other
 * or see each other's variables.  At most one per role (a unique index):
 * two first calls at once make one.
 */
Datum
pi_default_session(PG_FUNCTION_ARGS)
{
	const char *owner = pi_caller_name();
	const char *root = pi_workspace_root_path();
	Datum		id;
	bool		found;

	SPI_connect();
	id = find_default_session(owner, &found);
	if (!found)
	{
		Datum		new_id = DirectFunctionCall1(gen_random_uuid, (Datum) 0);
		char	   *workspace = psprintf("%s/%s", root,
										 DatumGetCString(DirectFunctionCall1(uuid_out, new_id)));

		make_directory(root);
		make_directory(workspace);
		if (SPI_execute_with_args("INSERT INTO pi.sessions (id, label, workspace, owner, is_default) "
								  "VALUES ($1, 'default', $2, $3::name, true) "
								  "ON CONFLICT (owner) WHERE is_default DO NOTHING",
								  3, (Oid[]) {UUIDOID, TEXTOID, TEXTOID},
								  (Datum[]) {new_id, CStringGetTextDatum(workspace),
								  CStringGetTextDatum(owner)},
								  NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "could not record the default session");
		if (SPI_processed == 0)
			(void) rmdir(workspace);	/* another call made it first */
		id = find_default_session(owner, &found);
		if (!found)
			elog(ERROR, "the default session vanished as it was made");
	}
	SPI_finish();
	PG_RETURN_DATUM(id);
}

/*
 * Ask the executor to stop the live Python kernel of a session.  Returns
 * whether one was running.  Needs no transaction.
 */
bool
pi_stop_session_kernel(const char *session_id)
{
	/*
	 * No owner: stopping a kernel needs none, and naming the caller would
	 * look the role up in the catalog, which a job worker calling this
	 * after its commit cannot do.
	 */
	Jsonb	   *result = pi_executor_op("reset_session", NULL, session_id);
	JsonbValue *stopped;

	if (result == NULL)
		return false;
	stopped = getKeyJsonValueFromContainer(&result->root, "kernel_stopped", 14, NULL);
	return stopped && stopped->type == jbvBool && stopped->val.boolean;
}

/*
 * pi.close_session(session_id uuid) returns boolean: the session's row and
 * its workspace are removed; false when there was no such session (or it
 * is another tenant's).  Jobs
 * of the session stay in the history, without their session.
 */
Datum
pi_close_session(PG_FUNCTION_ARGS)
{
	char	   *workspace = NULL;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("session_id must not be null"),
				 errhint("Pass the id that pi.create_session() returned.")));
	SPI_connect();
	if (SPI_execute_with_args("DELETE FROM pi.sessions WHERE id = $1 AND pi.caller_sees(owner)"
							  " RETURNING workspace",
							  1, (Oid[]) {UUIDOID}, (Datum[]) {PG_GETARG_DATUM(0)},
							  NULL, false, 1) != SPI_OK_DELETE_RETURNING)
		elog(ERROR, "could not close the session");
	if (SPI_processed == 1)
		workspace = MemoryContextStrdup(TopTransactionContext,
										SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
	SPI_finish();
	if (workspace == NULL)
		PG_RETURN_BOOL(false);
	(void) pi_stop_session_kernel(DatumGetCString(DirectFunctionCall1(uuid_out, PG_GETARG_DATUM(0))));

	/*
	 * The directory goes at once, even if this transaction later rolls back:
	 * the row would then name an empty workspace, which is recreated on use.
	 */
	(void) workspace_remove_tree(workspace);
	pi_tally_forget(PG_GETARG_UUID_P(0));
	PG_RETURN_BOOL(true);
}

/*
 * Remove sessions unused for longer than pi.session_ttl, with their
 * workspaces; called by the job workers from time to time, in a
 * transaction.  Returns how many were removed, and appends their ids (text,
 * allocated in ids_context) to *ids: the caller stops their live kernels
 * with pi_stop_session_kernel() once this transaction has committed.
 */
uint64
pi_expire_sessions(MemoryContext ids_context, List **ids)
{
	uint64		n;

	if (SPI_execute_with_args("DELETE FROM pi.sessions WHERE id IN (SELECT id FROM pi.sessions"
							  " WHERE last_used_at < now() - make_interval(secs => $1)"
							  " FOR UPDATE SKIP LOCKED LIMIT 100) RETURNING workspace, id::text, id",
							  1, (Oid[]) {INT4OID}, (Datum[]) {Int32GetDatum(pi_session_ttl)},
							  NULL, false, 0) != SPI_OK_DELETE_RETURNING)
		elog(ERROR, "could not expire sessions");
	n = SPI_processed;
	for (uint64 i = 0; i < n; i++)
	{
		MemoryContext old;
		bool		isnull;

		(void) workspace_remove_tree(SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
		pi_tally_forget(DatumGetUUIDP(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 3, &isnull)));
		old = MemoryContextSwitchTo(ids_context);
		*ids = lappend(*ids, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2));
		MemoryContextSwitchTo(old);
	}
	return n;
}

/*
 * pi.reset_session(session_id uuid) returns boolean: the session's Python
 * state (variables, imports) is dropped; its files stay.  True when a live
 * kernel was stopped.
 */
Datum
pi_reset_session(PG_FUNCTION_ARGS)
{
	bool		stopped;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("session_id must not be null"),
				 errhint("Pass the id that pi.create_session() returned.")));
	(void) pi_session_workspace(PG_GETARG_UUID_P(0), true);
	stopped = pi_stop_session_kernel(DatumGetCString(DirectFunctionCall1(uuid_out, PG_GETARG_DATUM(0))));

	/* the next run starts a fresh kernel that the caller asked for */
	SPI_connect();
	(void) SPI_execute_with_args("UPDATE pi.sessions SET kernel_live = false WHERE id = $1",
								 1, (Oid[]) {UUIDOID}, (Datum[]) {PG_GETARG_DATUM(0)},
								 NULL, false, 0);
	SPI_finish();
	PG_RETURN_BOOL(stopped);
}
