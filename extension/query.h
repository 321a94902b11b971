/*-------------------------------------------------------------------------
 *
 * query.h
 *	  pi.query() calls that Python makes during a run (query.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PI_QUERY_H
#define PI_QUERY_H

extern char *pi_answer_query(const char *request_json, const char *run_owner);

#endif							/* PI_QUERY_H */
