/*-------------------------------------------------------------------------
 *
 * sessions.h
 *	  Sessions and their workspace directories (sessions.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PI_SESSIONS_H
#define PI_SESSIONS_H

#include "nodes/pg_list.h"
#include "utils/uuid.h"

extern char *pi_session_workspace(pg_uuid_t *session_id, bool touch);
extern char *pi_session_lookup(pg_uuid_t *session_id, bool touch, bool *is_default);
extern uint64 pi_expire_sessions(MemoryContext ids_context, List **ids);
extern bool pi_stop_session_kernel(const char *session_id);

#endif							/* PI_SESSIONS_H */
