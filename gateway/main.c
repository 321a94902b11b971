/*-------------------------------------------------------------------------
 *
 * main.c
 *	  pi-gateway start-up: configuration from the environment and the
 *	  command line, the HTTP server or the stdio MCP loop, and shutdown on
 *	  SIGINT/SIGTERM.
 *
 * Environment:
 *	  API_KEY			required (except with --stdio or --test-no-auth),
 *						or instead:
 *	  API_KEY_FILE		a file holding the key (first line), readable by
 *						its owner only, so the key is in no environment
 *						or command line (`make run` uses this)
 *	  DATABASE_URL		libpq URI or key=value string (default: the
 *						`make run` cluster on port 5433, database pi)
 *	  HOST, PORT		where to listen (127.0.0.1, 8080)
 *	  MAX_FILE_SIZE_MB	largest upload (500)
 *	  PI_GATEWAY_DB_POOL	most PostgreSQL connections (32)
 *	  ALLOWED_ORIGINS	extra browser origins MCP accepts, comma separated
 *	  PI_GATEWAY_MAX_CONNECTIONS, PI_GATEWAY_CONNECTIONS_PER_ADDRESS,
 *	  PI_GATEWAY_HEADER_TIMEOUT, PI_GATEWAY_MCP_SESSIONS
 *						connection and session limits (configure_limits)
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http.h"

/*
 * How long the start-up check waits for PostgreSQL, unless DATABASE_URL
 * sets its own connect_timeout: a server that does not answer must not
 * hold the start for libpq's default (the TCP timeout, minutes).
 */
#define STARTUP_CONNECT_TIMEOUT "10"

static void
usage(void)
{
	fprintf(stderr,
			"usage: pi-gateway [--stdio] [--test-no-auth] [--test-tools]\n"
			"  --stdio         speak MCP on stdin/stdout (for local MCP clients)\n"
			"  --test-no-auth  TESTS ONLY: accept requests without API key;\n"
			"                  refused unless HOST is a loopback address\n"
			"  --test-tools    TESTS ONLY: add the conformance suite's test tools\n"
			"environment: API_KEY or API_KEY_FILE, DATABASE_URL, HOST, PORT, MAX_FILE_SIZE_MB,\n"
			"             PI_GATEWAY_DB_POOL, ALLOWED_ORIGINS, PI_GATEWAY_EXECUTE_WAIT\n");
}

static const char *
env_or(const char *name, const char *dflt)
{
	const char *v = getenv(name);

	return (v != NULL && *v != '\0') ? v : dflt;
}

/* The `make run` cluster: its socket directory is PI_HOME, port 5433. */
static const char *
default_database_url(void)
{
	static char url[1200];
	const char *home = getenv("PI_HOME");
	const char *port = env_or("PGPORT", "5433");

	if (home != NULL && *home == '/')
		snprintf(url, sizeof(url), "host=%s port=%s dbname=pi user=postgres",
				 home, port);
	else
		snprintf(url, sizeof(url),
				 "host=127.0.0.1 port=%s dbname=pi user=postgres", port);
	return url;
}

/*
 * The key from API_KEY_FILE: its first line, without the line end.  The
 * file must be a regular file that neither group nor others may read or
 * write; a key other users can read is no secret.  False with a message on
 * stderr.
 */
static bool
read_key_file(const char *path, char *key, size_t keysize)
{
	struct stat st;
	ssize_t		n;
	int			fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
	{
		fprintf(stderr, "pi-gateway: cannot open API_KEY_FILE %s: %s\n",
				path, strerror(errno));
		return false;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (st.st_mode & 077) != 0)
	{
		fprintf(stderr, "pi-gateway: API_KEY_FILE %s must be a regular file "
				"only its owner can read (chmod 600)\n", path);
		close(fd);
		return false;
	}
	n = read(fd, key, keysize - 1);
	close(fd);
	if (n < 0)
	{
		fprintf(stderr, "pi-gateway: cannot read API_KEY_FILE %s: %s\n",
				path, strerror(errno));
		return false;
	}
	key[n] = '\0';
	key[strcspn(key, "\r\n")] = '\0';
	return true;
}

static bool
is_loopback(const char *host)
{
	return strncmp(host, "127.", 4) == 0 || strcmp(host, "localhost") == 0;
}

/* A positive whole number from the environment, dflt when unset. */
static bool
env_limit(const char *name, int dflt, int *out)
{
	const char *v = env_or(name, NULL);
	char	   *end;
	long		n;

	*out = dflt;
	if (v == NULL)
		return true;
	n = strtol(v, &end, 10);
	if (*end != '\0' || n <= 0 || n > 1000000)
	{
		fprintf(stderr, "pi-gateway: %s must be a positive whole number, not \"%s\"\n",
				name, v);
		return false;
	}
	*out = (int) n;
	return true;
}

/*
 * The limits against floods of connections and of MCP sessions; the
 * defaults, and why they are what they are, sit in http.h and gateway.h.
 */
static bool
configure_limits(void)
{
	if (!env_limit("PI_GATEWAY_MAX_CONNECTIONS", HTTP_MAX_CONNECTIONS_DEFAULT,
				   &gw_config.max_connections) ||
		!env_limit("PI_GATEWAY_CONNECTIONS_PER_ADDRESS",
				   HTTP_CONNECTIONS_PER_ADDRESS_DEFAULT,
				   &gw_config.connections_per_address) ||
		!env_limit("PI_GATEWAY_HEADER_TIMEOUT", HTTP_HEADER_TIMEOUT_S_DEFAULT,
				   &gw_config.header_timeout_s) ||
		!env_limit("PI_GATEWAY_MCP_SESSIONS", MCP_SESSIONS_DEFAULT,
				   &gw_config.mcp_max_sessions) ||
		!env_limit("PI_GATEWAY_EXECUTE_WAIT", EXECUTE_WAIT_DEFAULT_S,
				   &gw_config.execute_wait_s))
		return false;
	if (gw_config.connections_per_address > gw_config.max_connections)
	{
		fprintf(stderr, "pi-gateway: PI_GATEWAY_CONNECTIONS_PER_ADDRESS (%d) is over "
				"PI_GATEWAY_MAX_CONNECTIONS (%d)\n",
				gw_config.connections_per_address, gw_config.max_connections);
		return false;
	}
	return true;
}

static bool
configure(int argc, char **argv, bool *stdio)
{
	bool		no_auth = false;
	/* 4 KiB: far beyond any sane key, and a file read whole at once */
	static char file_key[4096];
	const char *key_file;

	for (int i = 1; i < argc; i++)
	{
		if (strcmp(argv[i], "--stdio") == 0)
			*stdio = true;
		else if (strcmp(argv[i], "--test-no-auth") == 0)
			no_auth = true;
		else if (strcmp(argv[i], "--test-tools") == 0)
			gw_config.test_tools = true;
		else
		{
			usage();
			return false;
		}
	}
	gw_config.host = env_or("HOST", "127.0.0.1");
	gw_config.port = atoi(env_or("PORT", "8080"));
	gw_config.database_url = env_or("DATABASE_URL", default_database_url());
	gw_config.max_file_bytes = (int64_t) atoll(env_or("MAX_FILE_SIZE_MB", "500")) << 20;
	gw_config.db_pool_size = atoi(env_or("PI_GATEWAY_DB_POOL", "32"));
	gw_config.allowed_origins = env_or("ALLOWED_ORIGINS", "");
	gw_config.api_key = env_or("API_KEY", NULL);
	gw_config.default_tenant = env_or("PI_DEFAULT_TENANT", NULL);
	if (gw_config.default_tenant != NULL &&
		(*gw_config.default_tenant == '\0' || strlen(gw_config.default_tenant) >= GW_ROLE_MAX))
		gw_config.default_tenant = NULL;
	key_file = env_or("API_KEY_FILE", NULL);
	if (key_file != NULL && gw_config.api_key != NULL)
	{
		fprintf(stderr, "pi-gateway: set API_KEY or API_KEY_FILE, not both\n");
		return false;
	}
	if (key_file != NULL && !no_auth && !*stdio)
	{
		if (!read_key_file(key_file, file_key, sizeof(file_key)))
			return false;
		gw_config.api_key = file_key;
	}
	if (gw_config.db_pool_size < 1 || gw_config.port <= 0 ||
		gw_config.max_file_bytes <= 0)
	{
		fprintf(stderr, "pi-gateway: PORT, MAX_FILE_SIZE_MB and PI_GATEWAY_DB_POOL must be positive\n");
		return false;
	}
	if (no_auth && !is_loopback(gw_config.host))
	{
		fprintf(stderr, "pi-gateway: --test-no-auth is only allowed with a loopback HOST\n");
		return false;
	}
	if (no_auth || *stdio)
		gw_config.api_key = NULL;
	else if (gw_config.api_key == NULL || strlen(gw_config.api_key) < 16)
	{
		fprintf(stderr, "pi-gateway: API_KEY (or the first line of API_KEY_FILE) "
				"must be set and at least 16 characters long; `make run` "
				"generates one into $PI_HOME/api_key\n");
		return false;
	}
	return true;
}

/*
 * The gateway only calls the functions of the power_interpreter extension,
 * which must live inside the PostgreSQL server it reaches (it brings a
 * shared library, a background worker and the pi-executor program).  A
 * managed PostgreSQL (RDS, Cloud SQL, Azure, ...) cannot load it, and a
 * gateway pointed at one would answer 503 to every call; say so at start
 * instead, and exit 2 (a configuration error: the supervisor and systemd's
 * RestartPreventExitStatus do not retry it).  The test is the one /health
 * makes (db_ping): is pi.execute there.  A server that cannot be reached
 * now is no verdict (it may be starting, or restarting); the gateway starts
 * and /health reports it until it answers.
 */
static bool
check_extension(void)
{
	const char *const keys[] = {"connect_timeout", "dbname", NULL};
	const char *const values[] = {STARTUP_CONNECT_TIMEOUT, gw_config.database_url, NULL};
	PGconn	   *conn = PQconnectdbParams(keys, values, 1);
	PGresult   *res;
	bool		ok = true;

	if (PQstatus(conn) != CONNECTION_OK)
	{
		fprintf(stderr, "pi-gateway: PostgreSQL cannot be reached now (%s); "
				"starting anyway, /health reports it until it answers\n",
				PQerrorMessage(conn));
		PQfinish(conn);
		return true;
	}
	res = PQexec(conn,
				 "SELECT to_regprocedure('pi.execute(text,integer,uuid)') IS NOT NULL, "
				 "current_database(), "
				 "EXISTS (SELECT 1 FROM pg_catalog.pg_available_extensions "
				 "WHERE name = 'power_interpreter')");
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
		strcmp(PQgetvalue(res, 0, 0), "f") == 0)
	{
		ok = false;
		fprintf(stderr,
				"pi-gateway: the database \"%s\" on the PostgreSQL server that "
				"DATABASE_URL names has no power_interpreter extension.\n"
				"The gateway is only a front end: Python runs inside that server, "
				"through the extension's library, background workers and "
				"pi-executor, so the extension must be installed in it.\n",
				PQgetvalue(res, 0, 1));
		if (strcmp(PQgetvalue(res, 0, 2), "t") == 0)
			fprintf(stderr,
					"The server has the extension's files: run CREATE EXTENSION "
					"power_interpreter in that database (with "
					"shared_preload_libraries = 'power_interpreter'), or point "
					"DATABASE_URL at the database that has it.\n");
		else
			fprintf(stderr,
					"The server does not have the extension's files at all. A "
					"managed PostgreSQL service (RDS, Cloud SQL, Azure, ...) "
					"cannot load it: use a PostgreSQL 15 you run yourself with "
					"the postgresql-15-power-interpreter package, or the "
					"project's image with its own PostgreSQL (README.md, "
					"\"Deploying\").\n");
	}
	else if (PQresultStatus(res) != PGRES_TUPLES_OK)
		fprintf(stderr, "pi-gateway: could not check for the power_interpreter "
				"extension (%s); starting anyway\n", PQerrorMessage(conn));
	PQclear(res);
	PQfinish(conn);
	return ok;
}

int
main(int argc, char **argv)
{
	bool		stdio = false;
	struct MHD_Daemon *daemon;
	sigset_t	set;
	int			sig;

	signal(SIGPIPE, SIG_IGN);
	if (!configure(argc, argv, &stdio) || !configure_limits() || !db_init() ||
		!check_extension())
		return 2;
	if (stdio)
	{
		mcp_stdio_loop();
		return 0;
	}

	/* block the stop signals in every thread; main waits for them */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	daemon = http_start(&route_table);
	if (daemon == NULL)
	{
		fprintf(stderr, "pi-gateway: cannot listen on %s:%d\n",
				gw_config.host, gw_config.port);
		return 1;
	}
	fprintf(stderr, "pi-gateway %s listening on http://%s:%d (MCP at /mcp)%s\n",
			GATEWAY_VERSION, gw_config.host, gw_config.port,
			gw_config.api_key ? "" : " WITHOUT AUTHENTICATION (test mode)");
	sigwait(&set, &sig);
	fprintf(stderr, "pi-gateway: signal %d, stopping\n", sig);
	MHD_stop_daemon(daemon);
	return 0;
}
