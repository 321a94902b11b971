/*-------------------------------------------------------------------------
 *
 * query_policy.h
 *	  Which functions and types pi.query lets a statement use
 *	  (query_policy.c).  A function is allowed, denied, or unknown (no rule
 *	  names it: refused like a denied one, and listed by the regression test
 *	  so that somebody reviews it).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PI_QUERY_POLICY_H
#define PI_QUERY_POLICY_H

typedef enum QueryPolicyVerdict
{
	QUERY_POLICY_ALLOWED,
	QUERY_POLICY_DENIED,
	QUERY_POLICY_UNKNOWN
} QueryPolicyVerdict;

/* The verdict on a function; *reason says why (a static full sentence). */
extern QueryPolicyVerdict pi_query_function_verdict(Oid funcid, const char **reason);

/*
 * The verdict that a function name alone decides (before the statement is
 * analysed, where resolving a denied function could already read a
 * catalog): DENIED, or UNKNOWN when the name alone does not decide.
 */
extern QueryPolicyVerdict pi_query_function_name_verdict(const char *name,
														 const char **reason);

/* Whether values of a type may appear in a statement; *reason when not. */
extern bool pi_query_type_allowed(Oid typid, const char **reason);

/* Whether a type name (its last component) names a denied type. */
extern bool pi_query_type_name_denied(const char *name);

#endif							/* PI_QUERY_POLICY_H */
