/*-------------------------------------------------------------------------
 *
 * notices.c
 *	  Why a session's Python state is gone (its kernel died, was evicted,
 *	  timed out idle, was reset), kept until the session's next run
 *	  reports it.
 *
 * The table is small and bounded: the oldest entry makes room.  It holds
 * session ids and texts the executor wrote itself, never a client's code
 * or output.
 *
 *-------------------------------------------------------------------------
 */
#include <stdlib.h>
#include <string.h>

#include "executor.h"

/*
 * Why a session's state is gone, kept until its next run reads it.  The
 * table is small and bounded: the oldest entry makes room.
 */
#define MAX_NOTICES 1024
typedef struct Notice
{
	char	   *session_id;
	char	   *text;
} Notice;
static Notice notices[MAX_NOTICES];
static int	nnotices;

void
kernel_put_notice(const char *session_id, const char *text)
{
	int			i;

	if (session_id == NULL)
		return;
	for (i = 0; i < nnotices; i++)
		if (strcmp(notices[i].session_id, session_id) == 0)
		{
			free(notices[i].text);
			notices[i].text = strdup(text);
			return;
		}
	if (nnotices == MAX_NOTICES)
	{
		free(notices[0].session_id);
		free(notices[0].text);
		memmove(&notices[0], &notices[1], sizeof(Notice) * (MAX_NOTICES - 1));
		nnotices--;
	}
	notices[nnotices].session_id = strdup(session_id);
	notices[nnotices].text = strdup(text);
	nnotices++;
}

char *
kernel_take_notice(const char *session_id)
{
	int			i;

	for (i = 0; i < nnotices; i++)
		if (strcmp(notices[i].session_id, session_id) == 0)
		{
			char	   *text = notices[i].text;

			free(notices[i].session_id);
			notices[i] = notices[--nnotices];
			return text;
		}
	return NULL;
}
