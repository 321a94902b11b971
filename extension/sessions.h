/*-------------------------------------------------------------------------
 *
 * sessions.h
 *	  Sessions and their workspace directories (sessions.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PI_SESSIONS_H
#define PI_SESSIONS_H

#include "utils/uuid.h"

extern char *pi_session_workspace(pg_uuid_t *session_id, bool touch);
extern uint64 pi_expire_sessions(void);

#endif							/* PI_SESSIONS_H */
