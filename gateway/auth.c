/*-------------------------------------------------------------------------
 *
 * auth.c
 *	  API key -> tenant role (docs/tenants.md).
 *
 * The service's own API_KEY (API_KEY or API_KEY_FILE) is the key of the
 * default tenant, PI_DEFAULT_TENANT; without that setting its calls run as
 * the gateway's own database role, as before tenants existed.  Any other
 * key is resolved by pi.resolve_api_key(), which the gateway's role may call
 * (it is a member of pi_authenticator) and which records the key's use.
 *
 * A resolved key is cached for CACHE_TTL_SECONDS, so that a busy client
 * costs one lookup every few seconds rather than one per call; the calls
 * served from the cache are reported with the next lookup, and a revoked
 * key stops working within the TTL.  Only a SHA-256 of each key would do
 * as cache key, but the cache holds keys that already passed, in this
 * process's memory only, which holds API_KEY in the clear anyway.
 *
 *-------------------------------------------------------------------------
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gateway.h"

/* How long a key stays resolved: also how long a revoked key still works. */
#define CACHE_TTL_SECONDS 5
/* Keys cached at once; more distinct keys than this just resolve again. */
#define CACHE_SIZE 256

typedef struct CachedKey
{
	char	   *key;			/* NULL: free slot */
	char		role[GW_ROLE_MAX];	/* "" for an unknown key */
	time_t		expires;
	long		unreported;		/* calls served since the last lookup */
} CachedKey;

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static CachedKey cache[CACHE_SIZE];

static unsigned
slot_of(const char *key)
{
	unsigned	h = 2166136261u;

	for (const char *p = key; *p; p++)
		h = (h ^ (unsigned char) *p) * 16777619u;
	return h % CACHE_SIZE;
}

/* Ask PostgreSQL; role gets "" for an unknown or revoked key. */
static bool
lookup(const char *key, long uses, char *role, GwError *err)
{
	PGconn	   *conn;
	PGresult   *res;
	char		uses_text[24];
	const char *values[2] = {key, uses_text};

	snprintf(uses_text, sizeof(uses_text), "%ld", uses);
	conn = db_acquire_as(NULL, err);
	if (conn == NULL)
		return false;
	res = db_exec(conn, "SELECT pi.resolve_api_key($1, $2)", 2, values,
				  NULL, NULL, 0, err);
	db_release(conn);
	if (res == NULL)
		return false;
	role[0] = '\0';
	if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0))
		snprintf(role, GW_ROLE_MAX, "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	return true;
}

/*
 * The tenant of key into role ("" means the gateway's own role, for the
 * default key without PI_DEFAULT_TENANT).  false with err 401 for a key
 * that is no key, or another error when PostgreSQL cannot tell.
 */
bool
auth_resolve(const char *key, char *role, GwError *err)
{
	unsigned	slot;
	long		uses = 1;
	time_t		now = time(NULL);

	if (key == NULL || *key == '\0')
		goto unauthorized;
	if (gw_config.api_key != NULL && gw_const_time_equal(key, gw_config.api_key))
	{
		snprintf(role, GW_ROLE_MAX, "%s", gw_config.default_tenant ? gw_config.default_tenant : "");
		return true;
	}

	slot = slot_of(key);
	pthread_mutex_lock(&cache_lock);
	if (cache[slot].key != NULL && strcmp(cache[slot].key, key) == 0 &&
		cache[slot].expires > now)
	{
		cache[slot].unreported++;
		snprintf(role, GW_ROLE_MAX, "%s", cache[slot].role);
		pthread_mutex_unlock(&cache_lock);
		if (*role == '\0')
			goto unauthorized;
		return true;
	}
	if (cache[slot].key != NULL && strcmp(cache[slot].key, key) == 0)
		uses += cache[slot].unreported;
	pthread_mutex_unlock(&cache_lock);

	if (!lookup(key, uses, role, err))
		return false;

	pthread_mutex_lock(&cache_lock);
	free(cache[slot].key);
	cache[slot].key = strdup(key);
	snprintf(cache[slot].role, GW_ROLE_MAX, "%s", role);
	cache[slot].expires = now + CACHE_TTL_SECONDS;
	cache[slot].unreported = 0;
	pthread_mutex_unlock(&cache_lock);
	if (*role == '\0')
		goto unauthorized;
	return true;

unauthorized:
	gw_error_set(err, 401, "unauthorized",
				 "missing or wrong API key: send X-API-Key: <key> or "
				 "Authorization: Bearer <key> (pi-gateway takes API keys, "
				 "not OAuth tokens)");
	return false;
}
