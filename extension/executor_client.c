/*-------------------------------------------------------------------------
 *
 * executor_client.c
 *	  The PostgreSQL side of the executor protocol (executor_protocol.h):
 *	  connect to pi-executor's socket, send one run, wait for progress and
 *	  the result while staying responsive to query cancel, statement_timeout
 *	  and postmaster death.
 *
 * Used by pi.execute in a backend and by the job workers.  Nothing here
 * holds a transaction or shared memory while Python runs.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/int.h"
#include "lib/stringinfo.h"
#include "port/pg_bswap.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "utils/json.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "executor_client.h"
#include "executor_protocol.h"
#include "guc.h"
#include "jsonb_util.h"
#include "query.h"
#include "shmem.h"

/* How long a caller waits for a (re)starting executor before giving up. */
#define EXECUTOR_CONNECT_WAIT_MS	30000
/* Grace beyond the run's own timeout before the executor is deemed stuck. */
#define EXECUTOR_ANSWER_GRACE_MS	60000

static void
append_json_member(StringInfo buf, const char *name, const char *value)
{
	appendStringInfoChar(buf, ',');
	escape_json(buf, name);
	appendStringInfoChar(buf, ':');
	if (value)
		escape_json(buf, value);
	else
		appendStringInfoString(buf, "null");
}

static char *
build_request(const PiRunRequest *req)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"op\":");
	escape_json(&buf, req->op ? req->op : "run");
	appendStringInfoString(&buf, ",\"kind\":");
	escape_json(&buf, req->kind);
	append_json_member(&buf, "code", req->code ? req->code : "");
	append_json_member(&buf, "workspace", req->workspace);
	append_json_member(&buf, "session_id", req->session_id);
	append_json_member(&buf, "job_id", req->job_id);
	append_json_member(&buf, "owner", req->owner);
	append_json_member(&buf, "quota_note", req->quota_note);
	if (req->live_output)
		appendStringInfoString(&buf, ",\"live_output\":true");
	if (req->has_owner_max_sessions)
		appendStringInfo(&buf, ",\"owner_max_sessions\":%d", req->owner_max_sessions);
	appendStringInfo(&buf,
					 ",\"timeout_ms\":%lld,\"memory_mb\":%d,\"max_file_size_mb\":%d,"
					 "\"max_output_bytes\":%d,\"workspace_quota_mb\":%d,"
					 "\"workspace_max_files\":%d}",
					 (long long) req->timeout_s * 1000, pi_max_memory_mb,
					 pi_max_file_size_mb, pi_max_output_bytes,
					 req->workspace_quota_mb > 0 ? req->workspace_quota_mb : pi_max_workspace_mb,
					 pi_max_workspace_files);
	return buf.data;
}

/*
 * Connect to the executor, waiting while it (re)starts: the launcher restarts
 * it within a second or two of a crash and it needs ~1 s to warm up.
 */
static int
connect_executor(void)
{
	struct sockaddr_un addr;
	TimestampTz start = GetCurrentTimestamp();

	memset(&addr, 0, sizeof(addr));
	addr.sun_family = AF_UNIX;
	strlcpy(addr.sun_path, PI_EXECUTOR_SOCKET_NAME, sizeof(addr.sun_path));

	for (;;)
	{
		int			sock;
		int			save_errno;

		sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (sock < 0)
			ereport(ERROR,
					(errcode_for_socket_access(),
					 errmsg("could not create a socket for the Python executor: %m")));
		if (connect(sock, (struct sockaddr *) &addr, sizeof(addr)) == 0)
		{
			if (fcntl(sock, F_SETFL, O_NONBLOCK) < 0)
			{
				save_errno = errno;
				close(sock);
				errno = save_errno;
				ereport(ERROR,
						(errcode_for_socket_access(),
						 errmsg("could not set the executor socket non-blocking: %m")));
			}
			return sock;
		}
		save_errno = errno;
		close(sock);

		if (save_errno != ENOENT && save_errno != ECONNREFUSED && save_errno != EAGAIN)
		{
			errno = save_errno;
			ereport(ERROR,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("could not connect to the Python executor: %m"),
					 errhint("See the server log for messages of pi-executor and the pi launcher.")));
		}
		if (TimestampDifferenceExceeds(start, GetCurrentTimestamp(), EXECUTOR_CONNECT_WAIT_MS))
			ereport(ERROR,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("the Python executor is not running"),
					 errdetail("No executor answered on \"%s\" within %d seconds.",
							   PI_EXECUTOR_SOCKET_NAME, EXECUTOR_CONNECT_WAIT_MS / 1000),
					 errhint("The pi launcher restarts it automatically; see the server log for why it is not up.")));

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 50, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * Whether an executor accepts connections now, without waiting for one to
 * come up: for a look that would rather show nothing than wait.
 */
bool
pi_executor_listening(void)
{
	struct sockaddr_un addr;
	int			sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool		up;

	if (sock < 0)
		return false;
	memset(&addr, 0, sizeof(addr));
	addr.sun_family = AF_UNIX;
	strlcpy(addr.sun_path, PI_EXECUTOR_SOCKET_NAME, sizeof(addr.sun_path));
	up = connect(sock, (struct sockaddr *) &addr, sizeof(addr)) == 0;
	close(sock);
	return up;
}

/* Write all of buf, waiting for the socket as needed. */
static void
send_all(int sock, const char *buf, size_t len)
{
	while (len > 0)
	{
		ssize_t		n = send(sock, buf, len, MSG_NOSIGNAL);

		if (n > 0)
		{
			buf += n;
			len -= n;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			ereport(ERROR,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("could not send the run to the Python executor: %m"),
					 errhint("The executor may have been restarted; try again.")));
		(void) WaitLatchOrSocket(MyLatch,
								 WL_LATCH_SET | WL_SOCKET_WRITEABLE | WL_EXIT_ON_PM_DEATH,
								 sock, -1, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

/* A frame goes out in one send (one system call for a run's request). */
static void
send_frame(int sock, char tag, const char *payload, uint32 len)
{
	char	   *frame = palloc(PI_FRAME_HEADER_SIZE + (Size) len);
	uint32		nlen = pg_hton32(len);

	frame[0] = tag;
	memcpy(frame + 1, &nlen, 4);
	if (len > 0)
		memcpy(frame + PI_FRAME_HEADER_SIZE, payload, len);
	send_all(sock, frame, PI_FRAME_HEADER_SIZE + (Size) len);
	pfree(frame);
}

/*
 * Handle every complete frame at the start of buf.  Returns true once the
 * result frame has been seen (*result_json then holds its payload).
 */
static bool
consume_frames(int sock, StringInfo buf, const PiRunRequest *req, const PiRunCallbacks *callbacks,
			   char **result_json)
{
	while (buf->len - buf->cursor >= PI_FRAME_HEADER_SIZE)
	{
		char	   *p = buf->data + buf->cursor;
		uint32		len;

		memcpy(&len, p + 1, 4);
		len = pg_ntoh32(len);
		if (len > PI_FRAME_MAX_PAYLOAD)
			ereport(ERROR,
					(errcode(ERRCODE_PROTOCOL_VIOLATION),
					 errmsg("the Python executor sent a frame of %u bytes", len)));
		if ((uint32) (buf->len - buf->cursor - PI_FRAME_HEADER_SIZE) < len)
			return false;

		if (p[0] == PI_FRAME_RESULT)
		{
			*result_json = pnstrdup(p + PI_FRAME_HEADER_SIZE, len);
			return true;
		}
		if (p[0] == PI_FRAME_QUERY)
		{
			char	   *payload = pnstrdup(p + PI_FRAME_HEADER_SIZE, len);
			char	   *answer;

			/* answering may run SQL; keep the frame's bytes out of reach */
			buf->cursor += PI_FRAME_HEADER_SIZE + len;
			answer = pi_answer_query(payload, req->owner);
			send_frame(sock, PI_FRAME_ANSWER, answer, strlen(answer));
			pfree(payload);
			pfree(answer);
			continue;
		}
		if (p[0] == PI_FRAME_PROGRESS && callbacks && callbacks->on_progress)
		{
			char	   *payload = pnstrdup(p + PI_FRAME_HEADER_SIZE, len);

			callbacks->on_progress(payload, callbacks->arg);
			pfree(payload);
		}
		else if (p[0] == PI_FRAME_OUTPUT && callbacks && callbacks->on_output)
		{
			char	   *payload = pnstrdup(p + PI_FRAME_HEADER_SIZE, len);

			callbacks->on_output(payload, callbacks->arg);
			pfree(payload);
		}
		buf->cursor += PI_FRAME_HEADER_SIZE + len;
	}
	return false;
}

static PiRunOutcome
await_result(int sock, const PiRunRequest *req, const PiRunCallbacks *callbacks,
			 char **result_json)
{
	StringInfoData buf;
	bool		cancel_sent = false;
	int			tick_ms = (callbacks && callbacks->tick_ms > 0) ? callbacks->tick_ms : 1000;
	TimestampTz deadline;
	TimestampTz next_tick;

	deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
										   (int64) req->timeout_s * 1000 + EXECUTOR_ANSWER_GRACE_MS);
	next_tick = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), tick_ms);
	initStringInfo(&buf);
	for (;;)
	{
		ssize_t		n;
		int			rc;

		/*
		 * Ticks go by the clock: a run that sends progress more often than
		 * tick_ms never lets the wait time out, and its lease must still be
		 * renewed.  For the same reason the cancel question is asked on
		 * every turn, not only after a wait: output that never lets the
		 * socket run dry must not keep a cancel from being sent.
		 */
		if (callbacks && callbacks->on_tick && GetCurrentTimestamp() >= next_tick)
		{
			callbacks->on_tick(callbacks->arg);
			next_tick = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), tick_ms);
		}
		if (!cancel_sent && callbacks && callbacks->should_cancel &&
			callbacks->should_cancel(callbacks->arg))
		{
			send_frame(sock, PI_FRAME_CANCEL, NULL, 0);
			cancel_sent = true;
		}

		enlargeStringInfo(&buf, 65536);
		n = recv(sock, buf.data + buf.len, buf.maxlen - buf.len - 1, 0);
		if (n > 0)
		{
			buf.len += n;
			buf.data[buf.len] = '\0';
			if (consume_frames(sock, &buf, req, callbacks, result_json))
				return PI_RUN_RESULT;
			/* drop consumed bytes so the buffer does not grow with progress */
			if (buf.cursor > 0 && buf.cursor == buf.len)
				resetStringInfo(&buf);
			continue;
		}
		if (n == 0)
			return PI_RUN_EXECUTOR_LOST;
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			return PI_RUN_EXECUTOR_LOST;

		rc = WaitLatchOrSocket(MyLatch,
							   WL_LATCH_SET | WL_SOCKET_READABLE | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							   sock, tick_ms, PG_WAIT_EXTENSION);
		if (rc & WL_LATCH_SET)
		{
			ResetLatch(MyLatch);
			CHECK_FOR_INTERRUPTS();
		}
		if (GetCurrentTimestamp() > deadline)
			ereport(ERROR,
					(errcode(ERRCODE_SYSTEM_ERROR),
					 errmsg("the Python executor did not answer within %d seconds of the run's timeout",
							EXECUTOR_ANSWER_GRACE_MS / 1000),
					 errhint("See the server log for messages of pi-executor.")));
	}
}

/*
 * Run code through the executor and return its result frame as JSON text.
 * Query cancel, statement_timeout and backend termination end the wait with
 * an error; closing the socket then makes the executor kill the run.
 */
PiRunOutcome
pi_run_code(const PiRunRequest *req, const PiRunCallbacks *callbacks,
			char **result_json)
{
	char	   *request;
	volatile int sock = -1;
	PiRunOutcome outcome;

	if (pi_shared == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("power_interpreter is not loaded at server start"),
				 errhint("Add power_interpreter to shared_preload_libraries in postgresql.conf and restart the server.")));

	request = build_request(req);
	*result_json = NULL;

	PG_TRY();
	{
		sock = connect_executor();
		send_frame(sock, PI_FRAME_REQUEST, request, strlen(request));
		outcome = await_result(sock, req, callbacks, result_json);
	}
	PG_FINALLY();
	{
		if (sock >= 0)
			close(sock);
	}
	PG_END_TRY();

	pfree(request);
	return outcome;
}

/*
 * One of the executor's own operations (op: owner_sessions, reset_session)
 * for owner or session_id, either may be NULL; its answer as jsonb, or
 * NULL when the executor gave none within 10 s.
 */
Jsonb *
pi_executor_op(const char *op, const char *owner, const char *session_id)
{
	PiRunRequest req = {0};
	char	   *result_json;

	req.op = op;
	req.kind = "sync";
	req.timeout_s = 10;
	req.owner = owner;
	req.session_id = session_id;
	if (pi_run_code(&req, NULL, &result_json) != PI_RUN_RESULT)
		return NULL;
	return pi_jsonb_parse(result_json);
}
