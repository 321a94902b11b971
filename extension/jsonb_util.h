/*-------------------------------------------------------------------------
 *
 * jsonb_util.h
 *	  Small jsonb helpers shared by the SQL functions and the workers.
 *
 *-------------------------------------------------------------------------
 */
#ifndef JSONB_UTIL_H
#define JSONB_UTIL_H

#include "utils/jsonb.h"

extern Jsonb *pi_jsonb_parse(const char *json);
extern char *pi_jsonb_string(Jsonb *jb, const char *key);

#endif							/* JSONB_UTIL_H */
