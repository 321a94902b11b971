/*-------------------------------------------------------------------------
 *
 * tenants.c
 *	  Tenants are PostgreSQL roles (docs/architecture.md, rule 8): who a
 *	  call is made for, whether that role administers the service, and the
 *	  schema that holds its datasets.
 *
 * Every session, job, recorded run and dataset records the role that made
 * it (its owner).  The API functions run as their owner (SECURITY DEFINER),
 * so "the caller" is the outer user: the login role, or the role a SET ROLE
 * chose (the gateway runs each call as its tenant that way).  A caller sees
 * an object when it owns it by name, or when it is a superuser or a member
 * of pi_admin; everything else answers as if the object did not exist, so
 * that ids cannot be probed.  docs/tenants.md describes the model.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_authid.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"

#include "tenants.h"

#define ADMIN_ROLE		"pi_admin"
/* superusers keep the one shared schema; every other role gets its own */
#define SHARED_SCHEMA	"pi_data"
#define SCHEMA_PREFIX	"pi_data_"

PG_FUNCTION_INFO_V1(pi_caller);
PG_FUNCTION_INFO_V1(pi_caller_sees_sql);
PG_FUNCTION_INFO_V1(pi_dataset_schema_sql);

/*
 * The role a call is made for: the user outside the SECURITY DEFINER
 * functions of schema pi (their owner is current_user inside them), as
 * pi.jobs.submitted_by records it.
 */
char *
pi_caller_name(void)
{
	return GetUserNameFromId(GetOuterUserId(), false);
}

/* A superuser or a member of pi_admin sees every tenant's objects. */
bool
pi_role_is_admin(const char *role)
{
	Oid			roleid = get_role_oid(role, true);
	Oid			admin;

	if (!OidIsValid(roleid))
		return false;
	if (superuser_arg(roleid))
		return true;
	admin = get_role_oid(ADMIN_ROLE, true);
	return OidIsValid(admin) && has_privs_of_role(roleid, admin);
}

/*
 * Whether the caller may see an object owned by owner.  Ownership is by
 * name, not by role membership: the gateway's role is a member of every
 * tenant role it serves and must not see their objects without SET ROLE.
 */
bool
pi_caller_sees(const char *owner)
{
	char	   *caller = pi_caller_name();

	return (owner != NULL && strcmp(owner, caller) == 0) || pi_role_is_admin(caller);
}

/*
 * The schema of role's datasets.  By oid, not by name: a role name can be
 * as long as a schema name, so no prefix would fit.  NULL when the role no
 * longer exists.
 */
char *
pi_dataset_schema(const char *role)
{
	Oid			roleid = get_role_oid(role, true);

	if (!OidIsValid(roleid))
		return NULL;
	if (superuser_arg(roleid))
		return pstrdup(SHARED_SCHEMA);
	return psprintf(SCHEMA_PREFIX "%u", roleid);
}

/* Whether nspname is a schema pi_dataset_schema() may return. */
bool
pi_is_dataset_schema(const char *nspname)
{
	const char *p;

	if (nspname == NULL)
		return false;
	if (strcmp(nspname, SHARED_SCHEMA) == 0)
		return true;
	if (strncmp(nspname, SCHEMA_PREFIX, strlen(SCHEMA_PREFIX)) != 0)
		return false;
	p = nspname + strlen(SCHEMA_PREFIX);
	if (*p == '\0')
		return false;
	for (; *p; p++)
		if (*p < '0' || *p > '9')
			return false;
	return true;
}

/* pi.caller() returns name */
Datum
pi_caller(PG_FUNCTION_ARGS)
{
	PG_RETURN_DATUM(DirectFunctionCall1(namein, CStringGetDatum(pi_caller_name())));
}

/* pi.caller_sees(owner name) returns boolean */
Datum
pi_caller_sees_sql(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0))
		PG_RETURN_BOOL(pi_role_is_admin(pi_caller_name()));
	PG_RETURN_BOOL(pi_caller_sees(NameStr(*PG_GETARG_NAME(0))));
}

/* pi.dataset_schema(role name) returns text */
Datum
pi_dataset_schema_sql(PG_FUNCTION_ARGS)
{
	char	   *schema;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("a role name is required: role must not be null"),
				 errhint("Pass the role whose dataset schema you want, e.g. pi.dataset_schema('acme').")));
	schema = pi_dataset_schema(NameStr(*PG_GETARG_NAME(0)));

	if (schema == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(schema));
}
