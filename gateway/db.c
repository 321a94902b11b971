/*-------------------------------------------------------------------------
 *
 * db.c
 *	  The libpq connection pool of pi-gateway and the mapping from a
 *	  PostgreSQL error (SQLSTATE) to an HTTP status and error body.
 *
 * Every HTTP connection runs in a thread of its own (libmicrohttpd's thread
 * per connection), so a request borrows a PGconn for the length of its one
 * SQL call and gives it back.  The pool keeps at most db_pool_size
 * connections; a request that finds none free waits a few seconds and then
 * gets 503 rather than queueing without bound.
 *
 * PostgreSQL may restart under us.  The call in flight then fails with a
 * broken connection and answers 503; every idle connection is just as dead,
 * so a broken connection bumps the pool generation and idle connections of
 * an older generation are closed instead of handed out.  The next request
 * connects afresh and works.
 *
 * Tenants: a connection acquired for a tenant is switched to its role with
 * SET ROLE (as set_config('role', ...), whose argument is a parameter, so
 * no name is ever quoted into SQL) before it is handed out, and to NONE
 * for a caller without a tenant.  The pool remembers each connection's
 * role, so the common case (the same tenant again) costs no round trip,
 * and a connection is never handed out in another tenant's role.  The
 * gateway only ever sends its own fixed statements, calls of the pi
 * functions, so the role is the only session state a call can leave.
 *
 *-------------------------------------------------------------------------
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gateway.h"

/* How long a request waits for a free connection before 503. */
#define POOL_WAIT_SECONDS 10

typedef struct PooledConn
{
	PGconn	   *conn;
	unsigned	generation;
} PooledConn;

/* The role each open connection is set to ("" = the login role). */
typedef struct ConnRole
{
	PGconn	   *conn;
	char		role[GW_ROLE_MAX];
} ConnRole;

static __thread char thread_tenant[GW_ROLE_MAX];

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pool_cond = PTHREAD_COND_INITIALIZER;
static PooledConn *idle;
static int	n_idle;
static int	n_open;				/* idle + borrowed */
static unsigned generation;
static ConnRole *conn_roles;	/* db_pool_size entries, under pool_lock */

bool
db_init(void)
{
	idle = calloc(gw_config.db_pool_size, sizeof(PooledConn));
	conn_roles = calloc(gw_config.db_pool_size, sizeof(ConnRole));
	return idle != NULL && conn_roles != NULL;
}

/* The tenant this thread's calls run as; NULL or "": the gateway's role. */
void
db_use_tenant(const char *role)
{
	snprintf(thread_tenant, sizeof(thread_tenant), "%s", role ? role : "");
}

const char *
db_current_tenant(void)
{
	return thread_tenant;
}

/* Under pool_lock: the entry of conn, or of a free slot for conn == NULL. */
static ConnRole *
conn_role(PGconn *conn)
{
	for (int i = 0; i < gw_config.db_pool_size; i++)
		if (conn_roles[i].conn == conn)
			return &conn_roles[i];
	return NULL;
}

static void
forget_conn(PGconn *conn)
{
	ConnRole   *cr = conn_role(conn);

	if (cr != NULL)
		cr->conn = NULL;
}

/*
 * Switch conn to role ("" = back to the login role) unless it is there
 * already.  A failure closes nothing; the caller releases conn, and a
 * connection whose role is unknown is closed on release.
 */
static bool
set_role(PGconn *conn, const char *role, GwError *err)
{
	ConnRole   *cr;
	PGresult   *res;
	const char *values[1] = {*role ? role : "none"};
	bool		same;

	pthread_mutex_lock(&pool_lock);
	cr = conn_role(conn);
	same = cr != NULL && strcmp(cr->role, role) == 0;
	pthread_mutex_unlock(&pool_lock);
	if (same)
		return true;

	res = PQexecParams(conn, "SELECT pg_catalog.set_config('role', $1, false)",
					   1, NULL, values, NULL, NULL, 0);
	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

		/* the key names a role the gateway may not become */
		if (state != NULL && (strcmp(state, "42501") == 0 || strcmp(state, "22023") == 0))
			gw_error_set(err, 403, "forbidden",
						 "this API key's role \"%s\" cannot be used by the gateway; "
						 "GRANT it to the gateway's role", role);
		else
			db_error_from_result(conn, res, err);
		PQclear(res);
		return false;
	}
	PQclear(res);
	pthread_mutex_lock(&pool_lock);
	cr = conn_role(conn);
	if (cr == NULL)
		cr = conn_role(NULL);
	if (cr != NULL)
	{
		cr->conn = conn;
		snprintf(cr->role, sizeof(cr->role), "%s", role);
	}
	pthread_mutex_unlock(&pool_lock);
	return true;
}

/* NOTICEs nobody asked for (op_run.c listens while it runs a call) */
static void
db_notice_ignore(void *arg, const PGresult *res)
{
	(void) arg;
	(void) res;
}

/*
 * Open a connection.  application_name lets an operator tell gateway
 * backends apart in pg_stat_activity.  pi.progress_notices makes
 * pi.execute relay the code's pi.progress() reports as NOTICEs, which
 * op_run.c turns into MCP progress notifications; an older extension
 * without the setting refuses the SET, and runs simply report none.
 */
static PGconn *
db_connect(GwError *err)
{
	const char *keys[] = {"dbname", "application_name", NULL};
	const char *vals[] = {gw_config.database_url, "pi-gateway", NULL};
	PGconn	   *conn;

	/* expand_dbname = 1: DATABASE_URL may be a URI or a key=value string */
	conn = PQconnectdbParams(keys, vals, 1);
	if (conn == NULL || PQstatus(conn) != CONNECTION_OK)
	{
		char		msg[256];

		snprintf(msg, sizeof(msg), "%s",
				 conn ? PQerrorMessage(conn) : "out of memory");
		msg[strcspn(msg, "\n")] = '\0';
		gw_error_set(err, 503, "database_unavailable",
					 "cannot connect to PostgreSQL: %s", msg);
		err->retry_after = 1;
		PQfinish(conn);
		return NULL;
	}
	PQsetNoticeReceiver(conn, db_notice_ignore, NULL);
	PQclear(PQexec(conn, "SET pi.progress_notices = on"));
	return conn;
}

/* While a call runs: its NOTICEs go to receiver (NULL: ignored again). */
void
db_listen_notices(PGconn *conn, PQnoticeReceiver receiver, void *arg)
{
	PQsetNoticeReceiver(conn, receiver ? receiver : db_notice_ignore, arg);
}

/*
 * An idle connection whose server went away has an EOF waiting on its
 * socket; PQconsumeInput notices without a round trip.
 */
static bool
db_idle_alive(PGconn *conn)
{
	if (PQstatus(conn) != CONNECTION_OK)
		return false;
	if (!PQconsumeInput(conn))
		return false;
	return PQstatus(conn) == CONNECTION_OK &&
		PQtransactionStatus(conn) == PQTRANS_IDLE;
}

static PGconn *
acquire_pooled(GwError *err)
{
	struct timespec deadline;

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += POOL_WAIT_SECONDS;

	pthread_mutex_lock(&pool_lock);
	for (;;)
	{
		while (n_idle > 0)
		{
			PooledConn	pc = idle[--n_idle];

			if (pc.generation == generation && db_idle_alive(pc.conn))
			{
				pthread_mutex_unlock(&pool_lock);
				return pc.conn;
			}
			forget_conn(pc.conn);
			PQfinish(pc.conn);
			n_open--;
		}
		if (n_open < gw_config.db_pool_size)
		{
			PGconn	   *conn;

			n_open++;
			pthread_mutex_unlock(&pool_lock);
			conn = db_connect(err);
			pthread_mutex_lock(&pool_lock);
			if (conn == NULL)
			{
				n_open--;
				pthread_cond_signal(&pool_cond);
			}
			else
			{
				ConnRole   *cr = conn_role(NULL);

				if (cr != NULL)
				{
					cr->conn = conn;
					cr->role[0] = '\0';
				}
			}
			pthread_mutex_unlock(&pool_lock);
			return conn;
		}
		if (pthread_cond_timedwait(&pool_cond, &pool_lock, &deadline) != 0)
			break;
	}
	pthread_mutex_unlock(&pool_lock);
	gw_error_set(err, 503, "database_busy",
				 "all %d database connections are busy", gw_config.db_pool_size);
	err->retry_after = 1;
	return NULL;
}

/* A connection in role (NULL or "": the gateway's own). */
PGconn *
db_acquire_as(const char *role, GwError *err)
{
	PGconn	   *conn = acquire_pooled(err);

	if (conn != NULL && !set_role(conn, role ? role : "", err))
	{
		db_release(conn);
		return NULL;
	}
	return conn;
}

/* A connection in this thread's tenant's role. */
PGconn *
db_acquire(GwError *err)
{
	return db_acquire_as(thread_tenant, err);
}

void
db_release(PGconn *conn)
{
	if (conn == NULL)
		return;
	pthread_mutex_lock(&pool_lock);
	if (PQstatus(conn) != CONNECTION_OK ||
		PQtransactionStatus(conn) != PQTRANS_IDLE)
	{
		/* broken: the server restarted, so every idle one is broken too */
		if (PQstatus(conn) != CONNECTION_OK)
			generation++;
		forget_conn(conn);
		PQfinish(conn);
		n_open--;
	}
	else
	{
		idle[n_idle].conn = conn;
		idle[n_idle].generation = generation;
		n_idle++;
	}
	pthread_cond_signal(&pool_cond);
	pthread_mutex_unlock(&pool_lock);
}

/*
 * SQLSTATE -> HTTP status, error code and Retry-After, as data.  The first
 * entry whose prefix the SQLSTATE starts with wins, so a code comes before
 * its class.  The pi functions raise standard codes (see extension/).
 */
typedef struct SqlstateMap
{
	const char *prefix;			/* a whole SQLSTATE, or its first characters */
	int			http_status;
	const char *code;
	int			retry_after;	/* seconds; non-zero for what passes */
} SqlstateMap;

static const SqlstateMap sqlstate_map[] = {
	/* undefined_object: an unknown session or job */
	{"42704", 404, "not_found", 0},
	/* undefined_file: no such file in the workspace */
	{"58P01", 404, "not_found", 0},
	/* system_error: the executor died mid-call or did not answer; it restarts */
	{"58000", 503, "executor_unavailable", 1},
	/* query_canceled: the run's timeout or statement_timeout */
	{"57014", 504, "timeout", 0},
	/* admin_shutdown, crash_shutdown, cannot_connect_now: a restart */
	{"57P", 503, "database_unavailable", 1},
	/* any other operator intervention: the server is being worked on */
	{"57", 503, "database_unavailable", 1},
	/* object_in_use: the session is busy with a job or another run */
	{"55006", 409, "session_busy", 0},
	/* insufficient_resources: every executor slot is busy */
	{"53000", 503, "executor_busy", 1},
	/*
	 * configuration_limit_exceeded: the tenant runs as many sync runs, or
	 * has as many jobs, as its limit allows (extension/tenant_limits.c);
	 * others pass, so it may retry
	 */
	{"53400", 429, "tenant_limit", 1},
	/*
	 * disk_full: a workspace or the tenant's datasets are at their storage
	 * limit, or the disk is full; waiting does not help, deleting does
	 */
	{"53100", 507, "storage_limit", 0},
	/* disk full, out of memory, too many connections: may pass */
	{"53", 503, "insufficient_resources", 1},
	/* connection_exception */
	{"08", 503, "database_unavailable", 1},
	/* object_not_in_prerequisite_state: the extension is not preloaded yet */
	{"55000", 503, "database_unavailable", 1},
	/* transaction_rollback: serialization failure, deadlock; retrying is the cure */
	{"40", 503, "conflict", 1},
	/* snapshot_too_old: a long query met vacuumed rows; a new one works */
	{"72", 503, "conflict", 1},
	/*
	 * program_limit_exceeded: too many columns, a statement too complex, a
	 * file too large to read in one call.  The request asks for more than
	 * PostgreSQL can do in one go, so it is the caller's to make smaller
	 * (the message and hint say how); retrying the same never helps.
	 */
	{"54", 422, "limit_exceeded", 0},
	/* the request's fault: bad data, constraint, SQL or feature */
	{"22", 400, "invalid_request", 0},
	{"23", 400, "invalid_request", 0},
	{"42", 400, "invalid_request", 0},
	{"0A", 400, "invalid_request", 0},
	/* user SQL (query_dataset): a subquery of several rows, an unknown schema */
	{"21", 400, "invalid_request", 0},
	{"3F", 400, "invalid_request", 0},
	{"44", 400, "invalid_request", 0},
	/* read_only_sql_transaction: query_dataset's SQL tried to write */
	{"25006", 400, "invalid_request", 0},
};

/* Anything else, and an error without a SQLSTATE. */
static const SqlstateMap sqlstate_default = {"", 500, "internal_error", 0};

static const SqlstateMap *
map_sqlstate(const char *state)
{
	if (state == NULL)
		return &sqlstate_default;
	for (size_t i = 0; i < sizeof(sqlstate_map) / sizeof(sqlstate_map[0]); i++)
		if (strncmp(state, sqlstate_map[i].prefix,
					strlen(sqlstate_map[i].prefix)) == 0)
			return &sqlstate_map[i];
	return &sqlstate_default;
}

/*
 * Fill err from a failed result (or a NULL one: the connection broke).
 * The message keeps PostgreSQL's primary message and its hint, which is
 * what a user can act on, cut between characters to leave room for the
 * SQLSTATE, which always ends it so a client can find it.  The DETAIL
 * (often the real cause, such as which session is busy) and the HINT also
 * travel whole in err->detail and err->hint.
 */
void
db_error_from_result(PGconn *conn, PGresult *res, GwError *err)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	const char *hint = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_HINT) : NULL;
	const char *detail = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL) : NULL;
	const SqlstateMap *map;
	char		text[2 * sizeof(err->message)];
	char		suffix[24] = "";
	size_t		n;

	if (PQstatus(conn) != CONNECTION_OK)
	{
		gw_error_set(err, 503, "database_unavailable",
					 "the connection to PostgreSQL was lost during the call; "
					 "retry the request");
		err->retry_after = 1;
		return;
	}
	if (primary == NULL)
	{
		snprintf(text, sizeof(text), "%s", PQerrorMessage(conn));
		text[strcspn(text, "\n")] = '\0';
	}
	else if (hint != NULL)
		snprintf(text, sizeof(text), "%s. %s", primary, hint);
	else
		snprintf(text, sizeof(text), "%s", primary);

	map = map_sqlstate(state);
	gw_error_set(err, map->http_status, map->code, "%s", "");
	err->retry_after = map->retry_after;
	if (state != NULL)
	{
		gw_utf8_copy(err->sqlstate, sizeof(err->sqlstate), state);
		snprintf(suffix, sizeof(suffix), " (SQLSTATE %s)", err->sqlstate);
	}
	/* text is cut to fit before the suffix, which then fits exactly */
	n = gw_utf8_copy(err->message, sizeof(err->message) - strlen(suffix), text);
	memcpy(err->message + n, suffix, strlen(suffix) + 1);
	if (detail != NULL)
		gw_utf8_copy(err->detail, sizeof(err->detail), detail);
	if (hint != NULL)
		gw_utf8_copy(err->hint, sizeof(err->hint), hint);
}

/*
 * Run one parameterized statement.  Returns the result on success (caller
 * clears it) or NULL with err filled.
 */
PGresult *
db_exec(PGconn *conn, const char *sql, int nparams,
		const char *const *values, const int *lengths, const int *formats,
		int result_format, GwError *err)
{
	PGresult   *res;

	res = PQexecParams(conn, sql, nparams, NULL, values, lengths, formats,
					   result_format);
	if (res != NULL && (PQresultStatus(res) == PGRES_TUPLES_OK ||
						PQresultStatus(res) == PGRES_COMMAND_OK))
		return res;
	db_error_from_result(conn, res, err);
	PQclear(res);
	return NULL;
}

/* The largest magnitudes of json_int_t (long long), as jsonb prints them. */
#define INT64_MAX_DIGITS "9223372036854775807"
#define INT64_MIN_DIGITS "9223372036854775808"

/* Does the integer token digits[0..n) (no sign) fit in a json_int_t? */
static bool
digits_fit_int64(const char *digits, size_t n, bool negative)
{
	const char *limit = negative ? INT64_MIN_DIGITS : INT64_MAX_DIGITS;

	while (n > 1 && *digits == '0')
	{
		digits++;
		n--;
	}
	if (n != strlen(limit))
		return n < strlen(limit);
	return strncmp(digits, limit, n) <= 0;
}

/*
 * text with ".0" after every integer that a json_int_t cannot hold, so
 * jansson reads it as a real instead of failing with "too big integer".
 * jsonb prints a float such as 1e20 or -1e300 as all its digits
 * (100000000000000000000), so these are mostly floats whose value a double
 * holds exactly; a numeric beyond 64 bits is rounded to a double, as every
 * decimal with a fraction already is.  Integers that fit stay integers, with
 * every digit.  NULL when out of memory; the caller frees the result.
 */
static char *
big_integers_as_reals(const char *text)
{
	size_t		len = strlen(text);
	/* a rewritten integer has at least 20 digits and grows by 2 */
	char	   *out = malloc(len + len / 10 + 3);
	char	   *o = out;
	bool		in_string = false;

	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < len;)
	{
		char		c = text[i];

		if (in_string)
		{
			*o++ = text[i++];
			if (c == '\\' && i < len)
				*o++ = text[i++];
			else if (c == '"')
				in_string = false;
		}
		else if (c == '"')
		{
			in_string = true;
			*o++ = text[i++];
		}
		else if (c == '-' || (c >= '0' && c <= '9'))
		{
			size_t		start = i,
						d;
			bool		negative = (c == '-');

			if (negative)
				i++;
			d = i;
			while (i < len && text[i] >= '0' && text[i] <= '9')
				i++;
			memcpy(o, text + start, i - start);
			o += i - start;
			/* an integer token: no fraction or exponent follows */
			if (i == len || (text[i] != '.' && text[i] != 'e' && text[i] != 'E'))
			{
				if (i > d && !digits_fit_int64(text + d, i - d, negative))
				{
					*o++ = '.';
					*o++ = '0';
				}
			}
			else
				while (i < len && strchr("0123456789.eE+-", text[i]) != NULL)
					*o++ = text[i++];
		}
		else
			*o++ = text[i++];
	}
	*o = '\0';
	return out;
}

/*
 * Parse JSON text that PostgreSQL returned (jsonb or json output).  NULL
 * with err set when it cannot be read.
 */
json_t *
db_parse_json(const char *text, GwError *err)
{
	json_error_t jerr;
	json_t	   *out = json_loads(text, JSON_DECODE_ANY, &jerr);

	/* jansson's words for an integer beyond json_int_t */
	if (out == NULL && strstr(jerr.text, "too big") != NULL)
	{
		char	   *rewritten = big_integers_as_reals(text);

		if (rewritten == NULL)
		{
			gw_error_set(err, 503, "out_of_memory",
						 "the gateway is out of memory; retry the request");
			err->retry_after = 1;
			return NULL;
		}
		out = json_loads(rewritten, JSON_DECODE_ANY, &jerr);
		free(rewritten);
	}
	if (out == NULL)
		gw_error_set(err, 500, "internal_error",
					 "PostgreSQL returned JSON the gateway cannot read: %s",
					 jerr.text);
	return out;
}

/* Run a statement returning one jsonb (or json, or text) value. */
json_t *
db_exec_json(PGconn *conn, const char *sql, int nparams,
			 const char *const *values, GwError *err)
{
	PGresult   *res;
	json_t	   *out;

	res = db_exec(conn, sql, nparams, values, NULL, NULL, 0, err);
	if (res == NULL)
		return NULL;
	if (PQntuples(res) < 1 || PQgetisnull(res, 0, 0))
		out = json_null();
	else
		out = db_parse_json(PQgetvalue(res, 0, 0), err);
	PQclear(res);
	return out;
}

/* /health: can we reach PostgreSQL and is the extension there? */
bool
db_ping(GwError *err)
{
	PGconn	   *conn = db_acquire(err);
	PGresult   *res;
	bool		ok;

	if (conn == NULL)
		return false;
	res = db_exec(conn,
				  "SELECT to_regprocedure('pi.execute(text,integer,uuid)') IS NOT NULL",
				  0, NULL, NULL, NULL, 0, err);
	ok = res != NULL;
	if (ok && strcmp(PQgetvalue(res, 0, 0), "t") != 0)
	{
		gw_error_set(err, 503, "extension_missing",
					 "the power_interpreter extension is not installed in this database");
		ok = false;
	}
	PQclear(res);
	db_release(conn);
	return ok;
}
