/*-------------------------------------------------------------------------
 *
 * op_args.c
 *	  Checking an operation's arguments against its input schema (ops.c)
 *	  before any SQL runs, and reading a REST query-string value as the
 *	  type its schema names.
 *
 * Every argument travels to SQL as text, so without these checks a JSON
 * number where text is expected ({"code": 5}) would run "5", an array
 * would arrive as its JSON text, and a number PostgreSQL cannot cast (a
 * limit of 1e30) would fail with a cast error that says nothing of the
 * accepted range.  So each argument that is present and not null must have
 * its schema's type (string, integer, number, boolean, object), lie within
 * its minimum and maximum, and be one of its enum; the first that does not
 * is a 400 (REST) or a tool error (MCP) naming the field, what it takes and
 * what was sent.  An integer given as a real with no fraction (10.0) is
 * accepted and stored back as an integer, so SQL reads "10", not "1e+01".
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"
#include "ops_internal.h"

/*
 * What a JSON value is, for a message saying what was sent: "a string
 * (\"abc\")", "the number 1e+30", "an array", "nothing (it is missing)".
 */
void
gw_describe_json(json_t *v, char *buf, size_t size)
{
	if (v == NULL)
		snprintf(buf, size, "nothing (it is missing)");
	else if (json_is_string(v))
	{
		const char *s = json_string_value(v);
		char		cut[48];
		size_t		n = gw_utf8_copy(cut, sizeof(cut), s);

		snprintf(buf, size, "a string (\"%s%s\")", cut, s[n] != '\0' ? "..." : "");
	}
	else if (json_is_integer(v))
		snprintf(buf, size, "the number %" JSON_INTEGER_FORMAT, json_integer_value(v));
	else if (json_is_real(v))
	{
		/* the shortest of 15 or 17 digits that reads back the same */
		snprintf(buf, size, "the number %.15g", json_real_value(v));
		if (strtod(buf + 11, NULL) != json_real_value(v))
			snprintf(buf, size, "the number %.17g", json_real_value(v));
	}
	else if (json_is_boolean(v))
		snprintf(buf, size, "the boolean %s", json_is_true(v) ? "true" : "false");
	else if (json_is_array(v))
		snprintf(buf, size, "an array");
	else if (json_is_object(v))
		snprintf(buf, size, "an object");
	else
		snprintf(buf, size, "null");
}

/* A schema bound as text: integers without a fraction, else %g. */
static void
bound_text(json_t *b, char *buf, size_t size)
{
	double		d = json_number_value(b);

	if (json_is_integer(b))
		snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(b));
	else
		snprintf(buf, size, "%g", d);
}

/*
 * What a schema type takes, for "NAME must be ...": the type with its
 * range (both bounds, since every numeric argument has them).
 */
static void
what_it_takes(json_t *schema, const char *type, char *buf, size_t size)
{
	json_t	   *min = json_object_get(schema, "minimum");
	json_t	   *max = json_object_get(schema, "maximum");
	char		lo[32] = "",
				hi[32] = "";

	if (json_is_number(min))
		bound_text(min, lo, sizeof(lo));
	if (json_is_number(max))
		bound_text(max, hi, sizeof(hi));
	if (strcmp(type, "integer") == 0 || strcmp(type, "number") == 0)
	{
		const char *what = strcmp(type, "integer") == 0 ? "an integer" : "a number";

		if (lo[0] && hi[0])
			snprintf(buf, size, "%s from %s to %s", what, lo, hi);
		else if (lo[0])
			snprintf(buf, size, "%s of at least %s", what, lo);
		else
			snprintf(buf, size, "%s", what);
	}
	else if (strcmp(type, "boolean") == 0)
		snprintf(buf, size, "a boolean (true or false)");
	else if (strcmp(type, "object") == 0)
		snprintf(buf, size, "a JSON object");
	else
		snprintf(buf, size, "a string");
}

/* Is v of type (and within the schema's range)?  May rewrite v in obj. */
static bool
value_fits(json_t *obj, const char *key, json_t *v, json_t *schema,
		   const char *type)
{
	json_t	   *min = json_object_get(schema, "minimum");
	json_t	   *max = json_object_get(schema, "maximum");
	double		d;

	if (strcmp(type, "string") == 0)
		return json_is_string(v);
	if (strcmp(type, "boolean") == 0)
		return json_is_boolean(v);
	if (strcmp(type, "object") == 0)
		return json_is_object(v);
	if (strcmp(type, "integer") != 0 && strcmp(type, "number") != 0)
		return true;			/* a type these schemas do not use */
	if (!json_is_number(v))
		return false;
	d = json_number_value(v);
	if (!isfinite(d) ||
		(json_is_number(min) && d < json_number_value(min)) ||
		(json_is_number(max) && d > json_number_value(max)))
		return false;
	/* integer bounds compare exactly: a double rounds 2^63 - 1 up */
	if (json_is_integer(v) && json_is_integer(max) &&
		json_integer_value(v) > json_integer_value(max))
		return false;
	if (strcmp(type, "integer") == 0 && json_is_real(v))
	{
		/* 9.2e18 and up does not fit a json_int_t: out of every range here */
		if (d != floor(d) || d >= 9223372036854775807.0 || d < -9223372036854775807.0)
			return false;
		json_object_set_new(obj, key, json_integer((json_int_t) d));
	}
	return true;
}

/* Is v (a string) one of the schema's enum?  True when it has none. */
static bool
in_enum(json_t *v, json_t *schema, char *list, size_t size)
{
	json_t	   *values = json_object_get(schema, "enum");
	json_t	   *e;
	size_t		i;
	bool		found = false;

	if (!json_is_array(values))
		return true;
	list[0] = '\0';
	json_array_foreach(values, i, e)
	{
		if (json_equal(e, v))
			found = true;
		snprintf(list + strlen(list), size - strlen(list), "%s\"%s\"",
				 i > 0 ? ", " : "", json_string_value(e) ? json_string_value(e) : "");
	}
	return found;
}

/*
 * Check obj's keys against an object schema's properties (and its
 * additionalProperties, when that is a schema); prefix names the object
 * ("" at the top, "options." inside).  False with err set at the first
 * wrong value.
 */
static bool
check_object(json_t *schema, json_t *obj, const char *prefix, GwError *err)
{
	json_t	   *props = json_object_get(schema, "properties");
	json_t	   *extra = json_object_get(schema, "additionalProperties");
	const char *key;
	json_t	   *v;
	void	   *tmp;

	json_object_foreach_safe(obj, tmp, key, v)
	{
		json_t	   *ps = json_object_get(props, key);
		const char *type;
		char		takes[96],
					got[96],
					list[200];

		if (ps == NULL && json_is_object(extra))
			ps = extra;
		type = json_string_value(json_object_get(ps, "type"));
		if (type == NULL || json_is_null(v))
			continue;
		if (!value_fits(obj, key, v, ps, type))
		{
			what_it_takes(ps, type, takes, sizeof(takes));
			gw_describe_json(v, got, sizeof(got));
			gw_error_set(err, 400, "invalid_request",
						 "%s%s must be %s; got %s", prefix, key, takes, got);
			return false;
		}
		if (!in_enum(v, ps, list, sizeof(list)))
		{
			gw_describe_json(v, got, sizeof(got));
			gw_error_set(err, 400, "invalid_request",
						 "%s%s must be one of %s; got %s", prefix, key, list, got);
			return false;
		}
		if (strcmp(type, "object") == 0)
		{
			char		inner[128];

			snprintf(inner, sizeof(inner), "%s%s.", prefix, key);
			if (!check_object(ps, json_object_get(obj, key), inner, err))
				return false;
		}
	}
	return true;
}

/*
 * op's input schema, as a new reference.  Each is parsed once, at its
 * first use, and kept for the life of the process (the schemas are
 * constants, and every call checks its arguments against one, from any of
 * the server's threads); NULL only when out of memory.
 */
#define MAX_KEPT_SCHEMAS 128

static struct
{
	const Operation *op;
	json_t	   *schema;
}			kept_schemas[MAX_KEPT_SCHEMAS];
static int	n_kept_schemas;
static pthread_mutex_t kept_schemas_lock = PTHREAD_MUTEX_INITIALIZER;

static json_t *
input_schema(const Operation *op)
{
	json_t	   *schema = NULL;

	pthread_mutex_lock(&kept_schemas_lock);
	for (int i = 0; i < n_kept_schemas && schema == NULL; i++)
		if (kept_schemas[i].op == op)
			schema = kept_schemas[i].schema;
	if (schema == NULL)
	{
		schema = json_loads(op->input_schema, 0, NULL);
		if (schema != NULL && n_kept_schemas < MAX_KEPT_SCHEMAS)
		{
			kept_schemas[n_kept_schemas].op = op;
			kept_schemas[n_kept_schemas++].schema = json_incref(schema);
		}
	}
	else
		json_incref(schema);
	pthread_mutex_unlock(&kept_schemas_lock);
	return schema;
}

/*
 * Check args against op's input schema: every argument's type and range,
 * then the required ones.  False with a 400 in err at the first fault.
 */
bool
op_check_args(const Operation *op, json_t *args, GwError *err)
{
	json_t	   *schema = input_schema(op);
	json_t	   *req = json_object_get(schema, "required");
	size_t		i;
	json_t	   *name;
	bool		ok;

	if (schema == NULL)
	{
		gw_error_set(err, 503, "out_of_memory", "the gateway is out of memory");
		return false;
	}
	ok = check_object(schema, args, "", err);
	json_array_foreach(req, i, name)
	{
		json_t	   *v = json_object_get(args, json_string_value(name));

		if (!ok)
			break;
		if (v == NULL || json_is_null(v))
		{
			gw_error_set(err, 400, "invalid_request",
						 "missing required argument \"%s\"", json_string_value(name));
			ok = false;
		}
	}
	json_decref(schema);
	return ok;
}

/*
 * A query-string value of op's argument name as the JSON its schema type
 * calls for: a number for "integer" and "number" when all of text is one,
 * true or false for "boolean".  Anything else stays a string, which
 * op_check_args then refuses with the type it wanted.  NULL when out of
 * memory.
 */
json_t *
op_arg_from_text(const Operation *op, const char *name, const char *text)
{
	json_t	   *schema = input_schema(op);
	const char *type = json_string_value(json_object_get(
														 json_object_get(json_object_get(schema, "properties"), name),
														 "type"));
	json_t	   *out = NULL;
	char	   *end;
	double		d;

	if (type != NULL && *text != '\0' &&
		(strcmp(type, "integer") == 0 || strcmp(type, "number") == 0))
	{
		long long	i;

		errno = 0;
		i = strtoll(text, &end, 10);
		if (*end == '\0' && errno == 0)
			out = json_integer((json_int_t) i);
		else if ((d = strtod(text, &end)), *end == '\0' && isfinite(d))
			out = json_real(d);
	}
	else if (type != NULL && strcmp(type, "boolean") == 0 &&
			 (strcmp(text, "true") == 0 || strcmp(text, "false") == 0))
		out = json_boolean(strcmp(text, "true") == 0);
	json_decref(schema);
	return out != NULL ? out : json_string(text);
}

/*
 * Check one text argument of op (a query parameter or form field of the
 * streamed file routes, which have no JSON body) as op_check_args would:
 * false with a 400 in err when it is not of its schema's type and range.
 */
bool
op_check_text_arg(const Operation *op, const char *name, const char *text,
				  GwError *err)
{
	json_t	   *schema = input_schema(op);
	json_t	   *obj = json_object();
	bool		ok;

	if (schema == NULL || obj == NULL ||
		json_object_set_new(obj, name, op_arg_from_text(op, name, text)) != 0)
	{
		json_decref(schema);
		json_decref(obj);
		gw_error_set(err, 503, "out_of_memory", "the gateway is out of memory");
		return false;
	}
	ok = check_object(schema, obj, "", err);
	json_decref(schema);
	json_decref(obj);
	return ok;
}
