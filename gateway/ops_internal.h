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

extern char *op_arg_to_text(json_t *v);
extern bool op_check_required(const Operation *op, json_t *args, GwError *err);
extern void op_check_available(PGconn *conn, const Operation *op, GwError *err);
extern json_t *op_unwrap_datasets(json_t *out);

#endif							/* PI_OPS_INTERNAL_H */
