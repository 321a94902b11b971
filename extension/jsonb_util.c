/*-------------------------------------------------------------------------
 *
 * jsonb_util.c
 *	  Small jsonb helpers shared by the SQL functions and the workers.
 *
 * The executor answers and job payloads arrive as JSON text that the
 * callers turn into jsonb (pi_jsonb_parse); these helpers read members
 * out of it.  They
 * depend on nothing else of power_interpreter, so any file may use them.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"

#include "jsonb_util.h"

/*
 * JSON text as jsonb: the one way every caller turns the executor's
 * answers, job payloads and built JSON into jsonb.  Invalid JSON raises
 * jsonb_in's error.
 */
Jsonb *
pi_jsonb_parse(const char *json)
{
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(json)));
}

/* The text of a top-level string member of a jsonb object, or NULL. */
char *
pi_jsonb_string(Jsonb *jb, const char *key)
{
	JsonbValue *v;

	v = getKeyJsonValueFromContainer(&jb->root, key, strlen(key), NULL);
	if (v == NULL || v->type != jbvString)
		return NULL;
	return pnstrdup(v->val.string.val, v->val.string.len);
}
