/*-------------------------------------------------------------------------
 *
 * query_rows.c
 *	  pi.query's result, {columns, rows, row_count, truncated}, built as
 *	  jsonb while the rows stream in, within max_rows and
 *	  pi.query_max_bytes.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/tupdesc.h"
#include "executor/tuptable.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "catalog/pg_type.h"

#include "guc.h"
#include "jsonb_util.h"
#include "query_rows.h"

static uint64
set_numeric(JsonbValue *v, Datum numeric)
{
	v->type = jbvNumeric;
	v->val.numeric = DatumGetNumeric(numeric);
	return VARSIZE(v->val.numeric);
}

static uint64
set_string(JsonbValue *v, char *text)
{
	v->type = jbvString;
	v->val.string.val = text;
	v->val.string.len = strlen(text);
	return v->val.string.len;
}

/*
 * Convert one value: numbers and booleans to JSON numbers and booleans (NaN
 * and infinities, which JSON lacks, to text), json and jsonb to nested
 * JSON, everything else to its text form.  Returns about the bytes it adds
 * to the result, for pi.query_max_bytes.
 */
static uint64
make_value(JsonbValue *v, Datum value, bool isnull, Oid type, FmgrInfo *out)
{
	if (isnull)
	{
		v->type = jbvNull;
		return 0;
	}
	switch (type)
	{
		case BOOLOID:
			v->type = jbvBool;
			v->val.boolean = DatumGetBool(value);
			return 0;
		case INT2OID:
			return set_numeric(v, DirectFunctionCall1(int2_numeric, value));
		case INT4OID:
			return set_numeric(v, DirectFunctionCall1(int4_numeric, value));
		case INT8OID:
			return set_numeric(v, DirectFunctionCall1(int8_numeric, value));
		case NUMERICOID:
			if (!numeric_is_nan(DatumGetNumeric(value)) && !numeric_is_inf(DatumGetNumeric(value)))
				/* a copy: the value lives in the executor's tuple */
				return set_numeric(v, NumericGetDatum(DatumGetNumericCopy(value)));
			break;
		case FLOAT4OID:
		case FLOAT8OID:
			{
				double		d = type == FLOAT4OID ? DatumGetFloat4(value) : DatumGetFloat8(value);

				if (!isnan(d) && !isinf(d))
					return set_numeric(v, DirectFunctionCall1(float8_numeric, Float8GetDatum(d)));
			}
			break;
		case JSONOID:
		case JSONBOID:
			{
				Jsonb	   *jb = type == JSONBOID ? DatumGetJsonbPCopy(value) :
				pi_jsonb_parse(OutputFunctionCall(out, value));

				v->type = jbvBinary;
				v->val.binary.data = &jb->root;
				v->val.binary.len = VARSIZE(jb) - VARHDRSZ;
				return v->val.binary.len;
			}
		default:
			break;
	}
	return set_string(v, OutputFunctionCall(out, value));
}

static void
push_string(JsonbParseState **state, JsonbIteratorToken token, const char *text)
{
	JsonbValue	v;

	(void) set_string(&v, (char *) text);
	(void) pushJsonbValue(state, token, &v);
}


/* JEntry, alignment and the row's array: what a value costs beyond its data */
#define VALUE_OVERHEAD	8

static void
rows_startup(DestReceiver *self, int operation, TupleDesc desc)
{
	RowsReceiver *r = (RowsReceiver *) self;
	MemoryContext old = MemoryContextSwitchTo(r->cxt);

	r->desc = CreateTupleDescCopy(desc);
	r->out = palloc(sizeof(FmgrInfo) * Max(desc->natts, 1));
	(void) pushJsonbValue(&r->state, WJB_BEGIN_OBJECT, NULL);
	push_string(&r->state, WJB_KEY, "columns");
	(void) pushJsonbValue(&r->state, WJB_BEGIN_ARRAY, NULL);
	for (int c = 0; c < desc->natts; c++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, c);
		Oid			outfunc;
		bool		isvarlena;

		getTypeOutputInfo(att->atttypid, &outfunc, &isvarlena);
		fmgr_info_cxt(outfunc, &r->out[c], r->cxt);
		(void) pushJsonbValue(&r->state, WJB_BEGIN_OBJECT, NULL);
		push_string(&r->state, WJB_KEY, "name");
		push_string(&r->state, WJB_VALUE, NameStr(att->attname));
		push_string(&r->state, WJB_KEY, "type");
		push_string(&r->state, WJB_VALUE, format_type_be(att->atttypid));
		(void) pushJsonbValue(&r->state, WJB_END_OBJECT, NULL);
	}
	(void) pushJsonbValue(&r->state, WJB_END_ARRAY, NULL);
	push_string(&r->state, WJB_KEY, "rows");
	(void) pushJsonbValue(&r->state, WJB_BEGIN_ARRAY, NULL);
	MemoryContextSwitchTo(old);
}

static bool
rows_receive(TupleTableSlot *slot, DestReceiver *self)
{
	RowsReceiver *r = (RowsReceiver *) self;
	MemoryContext old;
	JsonbValue *values;
	uint64		bytes = VALUE_OVERHEAD;

	if (r->rows >= r->max_rows)
	{
		r->truncated = true;
		r->truncated_reason = "max_rows";
		return false;			/* stop the executor */
	}
	old = MemoryContextSwitchTo(r->cxt);
	slot_getallattrs(slot);
	values = palloc(sizeof(JsonbValue) * Max(r->desc->natts, 1));
	for (int c = 0; c < r->desc->natts; c++)
		bytes += VALUE_OVERHEAD +
			make_value(&values[c], slot->tts_values[c], slot->tts_isnull[c],
					   TupleDescAttr(r->desc, c)->atttypid, &r->out[c]);
	if (r->bytes + bytes > r->max_bytes)
	{
		r->truncated = true;
		r->truncated_reason = "max_bytes";
		MemoryContextSwitchTo(old);
		return false;
	}
	(void) pushJsonbValue(&r->state, WJB_BEGIN_ARRAY, NULL);
	for (int c = 0; c < r->desc->natts; c++)
		(void) pushJsonbValue(&r->state, WJB_ELEM, &values[c]);
	(void) pushJsonbValue(&r->state, WJB_END_ARRAY, NULL);
	pfree(values);
	r->bytes += bytes;
	r->rows++;
	MemoryContextSwitchTo(old);
	return true;
}

static void
rows_noop(DestReceiver *self)
{
}

void
pi_rows_init(RowsReceiver *r, uint64 max_rows)
{
	memset(r, 0, sizeof(*r));
	r->pub.receiveSlot = rows_receive;
	r->pub.rStartup = rows_startup;
	r->pub.rShutdown = rows_noop;
	r->pub.rDestroy = rows_noop;
	r->pub.mydest = DestNone;
	r->cxt = CurrentMemoryContext;
	r->max_rows = max_rows;
	r->max_bytes = (uint64) pi_query_max_bytes;
}

Jsonb *
pi_rows_finish(RowsReceiver *r, MemoryContext result_cxt)
{
	JsonbValue	v;
	JsonbValue *res;
	MemoryContext old = MemoryContextSwitchTo(r->cxt);
	Jsonb	   *jb;

	(void) pushJsonbValue(&r->state, WJB_END_ARRAY, NULL);
	push_string(&r->state, WJB_KEY, "row_count");
	v.type = jbvNumeric;
	v.val.numeric = DatumGetNumeric(DirectFunctionCall1(int8_numeric, Int64GetDatum((int64) r->rows)));
	(void) pushJsonbValue(&r->state, WJB_VALUE, &v);
	push_string(&r->state, WJB_KEY, "truncated");
	v.type = jbvBool;
	v.val.boolean = r->truncated;
	(void) pushJsonbValue(&r->state, WJB_VALUE, &v);
	if (r->truncated)
	{
		push_string(&r->state, WJB_KEY, "truncated_reason");
		push_string(&r->state, WJB_VALUE, r->truncated_reason);
	}
	res = pushJsonbValue(&r->state, WJB_END_OBJECT, NULL);
	MemoryContextSwitchTo(result_cxt);
	jb = JsonbValueToJsonb(res);
	MemoryContextSwitchTo(old);
	return jb;
}
