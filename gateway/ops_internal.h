/*-------------------------------------------------------------------------
 *
 * ops_internal.h
 *	  What ops.c (the operation table) lends op_run.c (running a call):
 *	  turning arguments into SQL parameters and the checks around the one
 *	  SQL call.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PI_OPS_INTERNAL_H
#define PI_OPS_INTERNAL_H

#include "gateway.h"

extern int	op_params(const Operation *op, json_t *args, const char **values);
extern json_t *op_finish(PGconn *conn, const Operation *op, const char **values,
						 int n, json_t *out, GwError *err);

#endif							/* PI_OPS_INTERNAL_H */
