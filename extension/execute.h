/*-------------------------------------------------------------------------
 *
 * execute.h
 *	  Argument checks that pi.execute and pi.submit_job share (execute.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PI_EXECUTE_H
#define PI_EXECUTE_H

#include "fmgr.h"
#include "utils/uuid.h"

extern char *pi_checked_code(FunctionCallInfo fcinfo, int argno);
extern int	pi_checked_timeout(int timeout_s, int ceiling, const char *ceiling_name,
							   const char *hint);
extern void pi_check_session_not_running_job(pg_uuid_t *session_id);

#endif							/* PI_EXECUTE_H */
