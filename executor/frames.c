/*-------------------------------------------------------------------------
 *
 * frames.c
 *	  What the zygote reads and writes for a run: the request it parses,
 *	  the frames it sends, and the run's output on its way into them
 *	  (capped stdout/stderr made valid UTF-8, result-channel lines).
 *
 * Nothing here decides when a run starts or stops; that is the event
 * business of cell.c and schedule.c.  These functions never block: the
 * client socket and the child's pipes are non-blocking, and what a slow
 * client cannot take yet waits in the connection's output buffer.
 *
 *-------------------------------------------------------------------------
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "executor.h"
#include "executor_protocol.h"






/*
 * Make captured bytes a JSON string that jsonb accepts: every byte that is
 * not part of a valid UTF-8 sequence, and every NUL, becomes U+FFFD.
 * Overlong forms, surrogates and code points above U+10FFFF are invalid.
 */
json_t *
json_text_from_bytes(const char *s, size_t len, const char *suffix)
{
	static const char fffd[] = "\xEF\xBF\xBD";
	Buf			o = {0};
	size_t		i = 0;
	json_t	   *j;

	if (len > SIZE_MAX / 3 - 256 || !buf_reserve(&o, len * 3 + strlen(suffix) + 1))
		return NULL;			/* out of memory: the caller's json_pack fails */
	while (i < len)
	{
		unsigned char c = (unsigned char) s[i];
		size_t		n = 0,
					k;
		uint32_t	cp = 0;

		if (c >= 0x01 && c < 0x80)
		{
			o.data[o.len++] = (char) c;
			i++;
			continue;
		}
		if (c >= 0xC2 && c <= 0xDF)
			n = 1, cp = c & 0x1F;
		else if (c >= 0xE0 && c <= 0xEF)
			n = 2, cp = c & 0x0F;
		else if (c >= 0xF0 && c <= 0xF4)
			n = 3, cp = c & 0x07;
		for (k = 1; n > 0 && k <= n; k++)
		{
			if (i + k >= len || ((unsigned char) s[i + k] & 0xC0) != 0x80)
			{
				n = 0;
				break;
			}
			cp = (cp << 6) | ((unsigned char) s[i + k] & 0x3F);
		}
		if (n == 0 || (n == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
			(n == 3 && (cp < 0x10000 || cp > 0x10FFFF)))
		{
			memcpy(o.data + o.len, fffd, 3);
			o.len += 3;
			i++;
			continue;
		}
		memcpy(o.data + o.len, s + i, n + 1);
		o.len += n + 1;
		i += n + 1;
	}
	memcpy(o.data + o.len, suffix, strlen(suffix));
	o.len += strlen(suffix);
	j = json_stringn_nocheck(o.data, o.len);
	buf_free(&o);
	return j;
}

/* -------------------------------------------------------------- answering */


/* Queue one serialised frame for the client and try to send it right away. */
static void
conn_send_text(Conn *c, char tag, const char *text, size_t len)
{
	uint32_t	netlen = htonl((uint32_t) len);

	if (!buf_reserve(&c->out, 5 + len))
	{
		/* out of memory: this client loses its answer, nobody else does */
		pi_log("out of memory queueing a %c frame of %zu bytes; dropping the client",
			   tag, len);
		c->dead = true;
		return;
	}
	buf_append(&c->out, &tag, 1);
	buf_append(&c->out, &netlen, 4);
	buf_append(&c->out, text, len);
	conn_flush(c);
}

/*
 * Queue one frame for the client.  False when it could not be serialised
 * or is over PI_FRAME_MAX_PAYLOAD: the caller decides what the client gets
 * instead (a progress frame may be skipped, a query must be answered).
 */
bool
conn_send_frame(Conn *c, char tag, json_t *payload)
{
	char	   *text = json_dumps(payload, JSON_COMPACT | JSON_ENSURE_ASCII);
	size_t		len;

	if (text == NULL)
	{
		pi_log("could not serialise a %c frame (out of memory?)", tag);
		return false;
	}
	len = strlen(text);
	if (len > PI_FRAME_MAX_PAYLOAD)
	{
		pi_log("not sending a %c frame of %zu bytes (limit %u)",
			   tag, len, PI_FRAME_MAX_PAYLOAD);
		free(text);
		return false;
	}
	conn_send_text(c, tag, text, len);
	free(text);
	return true;
}

void
conn_flush(Conn *c)
{
	while (!c->dead && c->out_sent < c->out.len)
	{
		ssize_t		n = send(c->fd, c->out.data + c->out_sent,
							 c->out.len - c->out_sent, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n > 0)
			c->out_sent += n;
		else if (n < 0 && errno == EINTR)
			continue;
		else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		else
			c->dead = true;		/* client went away; nobody to answer */
	}
	if (c->out_sent == c->out.len)
	{
		c->out.len = c->out_sent = 0;
		if (c->state == CONN_FLUSHING)
			c->dead = true;		/* the 'R' frame is out: done */
	}
}

/* What is kept of each stream when a whole answer does not fit a frame. */
#define TOO_LARGE_KEEP_BYTES	(1024 * 1024)

/* The beginning of a captured stream, for an answer that had to shrink. */
static json_t *
capture_head(const Capture *cap)
{
	size_t		keep = cap->kept.len < TOO_LARGE_KEEP_BYTES ? cap->kept.len : TOO_LARGE_KEEP_BYTES;
	char		marker[200];

	snprintf(marker, sizeof(marker),
			 "\n[output truncated: the whole answer was too large to send; "
			 "the first %zu bytes are shown]", keep);
	return json_text_from_bytes(cap->kept.data ? cap->kept.data : "", keep, marker);
}

/*
 * The answer when the real one cannot be sent: over the frame limit (JSON
 * escaping can multiply captured text by six, figures add more) or not
 * serialisable.  The run still ends at once with an answer that says
 * why, the beginning of its output, and what to do.
 */
static json_t *
too_large_answer(Conn *c, size_t size)
{
	char		msg[400];

	if (size > 0)
		snprintf(msg, sizeof(msg),
				 "the run's answer was %zu bytes once encoded, over the executor's limit "
				 "of %u bytes, so its result value and figures were dropped and its "
				 "output cut; print less (pi.max_output_bytes caps each stream) or "
				 "write large output to a file in the workspace",
				 size, PI_FRAME_MAX_PAYLOAD);
	else
		snprintf(msg, sizeof(msg),
				 "the run's answer could not be encoded (the executor is short of "
				 "memory); its result value and figures were dropped and its output "
				 "cut; retry, or print less");
	return json_pack("{s:s, s:o, s:o, s:b, s:b, s:n, s:o, s:[], s:[], s:f}",
					 "status", "failed",
					 "stdout", capture_head(&c->out_cap),
					 "stderr", capture_head(&c->err_cap),
					 "stdout_truncated", 1, "stderr_truncated", 1,
					 "result", "error", make_error("ResultTooLarge", msg),
					 "figures", "files", "elapsed_ms", c->elapsed_ms);
}

/*
 * Send the 'R' frame (consumes result) and let the connection finish.  An
 * answer too large for a frame becomes too_large_answer(); every run ends
 * with an answer.
 */
static void
conn_finish(Conn *c, json_t *result)
{
	char	   *text = result ? json_dumps(result, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
	size_t		len = text ? strlen(text) : 0;

	c->state = CONN_FLUSHING;
	c->deadline = executor_now_ms() + EXECUTOR_FLUSH_TIMEOUT_MS;
	if (text == NULL || len > PI_FRAME_MAX_PAYLOAD)
	{
		json_t	   *small = too_large_answer(c, text ? len : 0);

		pi_log("run answer of %zu bytes replaced by a ResultTooLarge answer", len);
		free(text);
		text = small ? json_dumps(small, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
		json_decref(small);
		if (text == NULL)
		{
			/* nothing can be said: the client sees the connection close */
			c->dead = true;
			json_decref(result);
			return;
		}
		len = strlen(text);
	}
	conn_send_text(c, PI_FRAME_RESULT, text, len);
	free(text);
	json_decref(result);
}

void
conn_answer_json(Conn *c, json_t *result)
{
	conn_finish(c, result);
}

json_t *
make_error(const char *type, const char *message)
{
	return json_pack("{s:s, s:s}", "type", type, "message", message);
}

/* An 'R' frame for a run that never started: busy, cancelled, bad request. */
void
conn_answer(Conn *c, const char *status, json_t *error)
{
	conn_finish(c, json_pack("{s:s, s:s, s:s, s:b, s:b, s:n, s:o, s:[], s:[], s:f}",
							 "status", status, "stdout", "", "stderr", "",
							 "stdout_truncated", 0, "stderr_truncated", 0,
							 "result", "error", error ? error : json_null(),
							 "figures", "files", "elapsed_ms", 0.0));
}

static json_t *
capture_text(const Capture *cap)
{
	char		marker[200] = "";

	if (cap->dropped > 0)
		snprintf(marker, sizeof(marker),
				 "\n[output truncated: %llu more bytes not shown; the limit is %zu bytes per stream]",
				 cap->dropped, cap->limit);
	return json_text_from_bytes(cap->kept.data ? cap->kept.data : "",
								cap->kept.len, marker);
}

/* The error of a run whose child ended without a usable final line. */
static json_t *
death_error(const Conn *c)
{
	char		msg[400];
	int			st = c->wait_status;

	if (WIFSIGNALED(st))
	{
		int			sig = WTERMSIG(st);
		const char *abbrev = sigabbrev_np(sig);
		int			off;

		off = snprintf(msg, sizeof(msg),
					   "the Python process was killed by signal %d (SIG%s)",
					   sig, abbrev ? abbrev : "?");
		if (sig == SIGKILL && c->oom_detectable)
			snprintf(msg + off, sizeof(msg) - off,
					 "; not for memory (its memory cgroup saw no out-of-memory kill, "
					 "limit %d MB): another process killed it, e.g. an administrator "
					 "or the system's own OOM killer",
					 c->req.memory_mb);
		else if (sig == SIGKILL)
			snprintf(msg + off, sizeof(msg) - off,
					 "; either the system ran out of memory (no memory cgroup is "
					 "delegated here to tell; the run's limit is %d MB) or another "
					 "process killed it",
					 c->req.memory_mb);
		else if (sig == SIGXCPU)
			snprintf(msg + off, sizeof(msg) - off,
					 "; it used up its CPU time limit of %d s",
					 (c->req.timeout_ms + 999) / 1000 + 1);
		return make_error("KilledBySignal", msg);
	}
	snprintf(msg, sizeof(msg),
			 "the Python process exited with code %d without reporting a result%s",
			 WEXITSTATUS(st),
			 c->line_overflow ? " (its result was larger than the executor accepts)" : "");
	return make_error("ExitedWithoutResult", msg);
}

/*
 * WorkspaceQuotaExceeded: the workspace grew past its quota or
 * pi.max_workspace_files, counting what the run holds without a name, or
 * what the run holds could not be measured.  The quota is
 * pi.max_workspace_mb unless the request names another limit (quota_note:
 * the tenant's workspace limit across its sessions).
 */
static json_t *
quota_error(const Conn *c)
{
	char		msg[1500];
	char		freed[300] = "";
	const char *what = c->req.workspace_is_session ? "the session workspace" :
		"the run's temporary workspace";

	if (c->quota_release && c->is_session)
		snprintf(freed, sizeof(freed),
				 "; the deleted files were freed by ending the session's Python "
				 "kernel (its variables are gone, named files remain)");
	if (c->quota_why[0] != '\0')
		snprintf(msg, sizeof(msg),
				 "the workspace quota could not be checked: the executor %s, so the "
				 "run was stopped%s; this is a fault of the server's set-up, "
				 "report it to its administrator",
				 c->quota_why, freed);
	else if (c->quota_unmeasurable > 0)
		snprintf(msg, sizeof(msg),
				 "a process of the run keeps %ld deleted workspace file%s mapped in "
				 "memory with no descriptor open, and the size of such a file cannot "
				 "be measured against pi.max_workspace_mb (%d MB), so the run was "
				 "stopped%s; keep a file open, or keep its name, for as long as it "
				 "is mapped",
				 c->quota_unmeasurable, c->quota_unmeasurable == 1 ? "" : "s",
				 c->req.workspace_quota_mb, freed);
	else if (c->quota_too_many || c->quota_files_over)
		snprintf(msg, sizeof(msg),
				 "%s holds more than %ld files and folders (deleted files still "
				 "open count too), over pi.max_workspace_files%s; delete files with "
				 "pi.delete_file() or from Python (fewer, larger files), or raise "
				 "pi.max_workspace_files",
				 what, c->req.workspace_max_files, freed);
	else if (c->quota_held > 0)
		snprintf(msg, sizeof(msg),
				 "%s holds %llu MB, over pi.max_workspace_mb (%d MB); %llu MB of it "
				 "are deleted files that the run still held open%s; close files "
				 "before deleting them, delete other files with pi.delete_file() or "
				 "from Python, or raise pi.max_workspace_mb",
				 what, (c->quota_used + (1ULL << 20) - 1) >> 20,
				 c->req.workspace_quota_mb, (c->quota_held + (1ULL << 20) - 1) >> 20,
				 freed);
	else if (c->req.quota_note != NULL)
		snprintf(msg, sizeof(msg),
				 "%s holds %llu MB, over its quota of %d MB: %s%s",
				 what, (c->quota_used + (1ULL << 20) - 1) >> 20,
				 c->req.workspace_quota_mb, c->req.quota_note, freed);
	else
		snprintf(msg, sizeof(msg),
				 "%s holds %llu MB, over pi.max_workspace_mb (%d MB); delete files "
				 "with pi.delete_file() or from Python, or raise pi.max_workspace_mb",
				 what, (c->quota_used + (1ULL << 20) - 1) >> 20,
				 c->req.workspace_quota_mb);
	return make_error("WorkspaceQuotaExceeded", msg);
}

/* Compose the 'R' frame of a run that was started. */
void
conn_answer_run(Conn *c)
{
	const char *status;
	json_t	   *error = NULL;
	json_t	   *r;
	json_t	   *final = c->final;

	if (c->cancelled)
		status = "cancelled",
			error = make_error("Cancelled", "the run was cancelled by the client");
	else if (c->timed_out)
	{
		char		msg[200];

		snprintf(msg, sizeof(msg),
				 "execution exceeded the %g s time limit and was stopped; output up to that point is kept",
				 c->req.timeout_ms / 1000.0);
		status = "timeout", error = make_error("TimeoutError", msg);
	}
	else if (c->quota_exceeded)
		status = "failed", error = quota_error(c);
	else if (c->oom && (final == NULL ||
						json_is_null(json_object_get(final, "error")) == false))
	{
		char		msg[300];

		/* the memory cgroup's OOM killer ended (part of) the run */
		snprintf(msg, sizeof(msg),
				 "the run used more than its memory limit of %d MB (pi.max_memory_mb; "
				 "the whole process tree counts, files in /tmp and /dev/shm included) "
				 "and was killed",
				 c->req.memory_mb);
		status = "failed", error = make_error("MemoryLimitExceeded", msg);
	}
	else if (final == NULL)
		status = "failed", error = death_error(c);
	else
	{
		error = json_incref(json_object_get(final, "error"));
		status = (error && !json_is_null(error)) ? "failed" : "completed";
	}

	r = json_pack("{s:s, s:o, s:o, s:b, s:b, s:f}",
				  "status", status,
				  "stdout", capture_text(&c->out_cap),
				  "stderr", capture_text(&c->err_cap),
				  "stdout_truncated", c->out_cap.dropped > 0,
				  "stderr_truncated", c->err_cap.dropped > 0,
				  "elapsed_ms", c->elapsed_ms);
	json_object_set_new(r, "error", error ? error : json_null());
	if (final != NULL && !c->cancelled && !c->timed_out)
	{
		json_object_set(r, "result", json_object_get(final, "result"));
		json_object_set(r, "outputs", json_object_get(final, "outputs"));
		json_object_set(r, "figures", json_object_get(final, "figures"));
		json_object_set(r, "files", json_object_get(final, "files"));
	}
	if (!json_object_get(r, "result"))
		json_object_set_new(r, "result", json_null());
	if (!json_is_array(json_object_get(r, "outputs")))
		json_object_set_new(r, "outputs", json_array());
	if (!json_is_array(json_object_get(r, "figures")))
		json_object_set_new(r, "figures", json_array());
	if (!json_is_array(json_object_get(r, "files")))
		json_object_set_new(r, "files", json_array());
	if (c->is_session)
		json_object_set_new(r, "session",
							json_pack("{s:s, s:s, s:b, s:s?}",
									  "id", c->req.session_id,
									  "kernel", c->kernel_use ? c->kernel_use : "started",
									  "state_reset", c->state_reset,
									  "notice", c->notice));
	conn_finish(c, r);
}

/* --------------------------------------------------------------- requests */

/* An optional integer member within [lo, hi]; false if present but bad. */
static bool
get_int(json_t *obj, const char *key, long long def, long long lo,
		long long hi, long long *out)
{
	json_t	   *v = json_object_get(obj, key);

	*out = def;
	if (v == NULL || json_is_null(v))
		return true;
	if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
		return false;
	*out = json_integer_value(v);
	return true;
}

/* An optional string member: NULL for absent or null; false if not text. */
static bool
get_text(json_t *obj, const char *key, char **out)
{
	json_t	   *v = json_object_get(obj, key);

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return true;
	if (!json_is_string(v))
		return false;
	*out = strdup(json_string_value(v));
	return true;
}

/* Fill c->req from a 'Q' payload; returns NULL or what is wrong with it. */
const char *
parse_request(Conn *c, const char *payload, size_t len)
{
	json_t	   *root = json_loadb(payload, len, 0, NULL);
	json_t	   *code;
	const char *kind;
	const char *err = NULL;
	long long	timeout,
				mem,
				fsize,
				output,
				quota,
				maxfiles,
				owner_sessions;
	struct stat st;

	const char *op = NULL;

	if (root != NULL && json_is_object(root))
		op = json_string_value(json_object_get(root, "op"));
	if (root == NULL || !json_is_object(root))
		err = "the request is not a JSON object";
	else if (op != NULL && strcmp(op, "run") != 0 && strcmp(op, "reset_session") != 0 &&
			 strcmp(op, "owner_sessions") != 0)
		err = "\"op\" must be \"run\", \"reset_session\" or \"owner_sessions\"";
	else if (op != NULL && strcmp(op, "owner_sessions") == 0)
	{
		if (!get_text(root, "owner", &c->req.owner))
			err = "\"owner\" must be a string or null";
		else
			c->req.is_count = true;
		json_decref(root);
		return err;
	}
	else if (op != NULL && strcmp(op, "reset_session") == 0)
	{
		if (!get_text(root, "session_id", &c->req.session_id) || c->req.session_id == NULL)
			err = "\"reset_session\" needs a \"session_id\"";
		else
			c->req.is_reset = true;
		json_decref(root);
		return err;
	}
	else if ((kind = json_string_value(json_object_get(root, "kind"))) == NULL ||
			 (strcmp(kind, "sync") != 0 && strcmp(kind, "async") != 0))
		err = "\"kind\" must be \"sync\" or \"async\"";
	else if (!json_is_string(code = json_object_get(root, "code")))
		err = "\"code\" must be a string";
	else if (!get_int(root, "timeout_ms", EXECUTOR_DEFAULT_TIMEOUT_MS, 1, 86400000LL, &timeout))
		err = "\"timeout_ms\" must be an integer between 1 and 86400000";
	else if (!get_int(root, "memory_mb", EXECUTOR_DEFAULT_MEMORY_MB, 16, 1048576, &mem))
		err = "\"memory_mb\" must be an integer between 16 and 1048576";
	else if (!get_int(root, "max_file_size_mb", EXECUTOR_DEFAULT_FILE_SIZE_MB, 1, 1048576, &fsize))
		err = "\"max_file_size_mb\" must be an integer between 1 and 1048576";
	else if (!get_int(root, "max_output_bytes", EXECUTOR_DEFAULT_OUTPUT_BYTES, 0, 64 * 1024 * 1024, &output))
		err = "\"max_output_bytes\" must be an integer between 0 and 67108864";
	else if (!get_int(root, "workspace_quota_mb", EXECUTOR_DEFAULT_WORKSPACE_MB, 1, 1048576, &quota))
		err = "\"workspace_quota_mb\" must be an integer between 1 and 1048576";
	else if (!get_int(root, "workspace_max_files", EXECUTOR_DEFAULT_WORKSPACE_FILES, 1,
					  PI_MAX_WORKSPACE_FILES, &maxfiles))
		err = "\"workspace_max_files\" must be an integer between 1 and 1000000";
	else if (!get_int(root, "owner_max_sessions", -1, 0, 1000000, &owner_sessions))
		err = "\"owner_max_sessions\" must be null or an integer between 0 and 1000000";
	else if (!get_text(root, "workspace", &c->req.workspace) ||
			 !get_text(root, "session_id", &c->req.session_id) ||
			 !get_text(root, "job_id", &c->req.job_id) ||
			 !get_text(root, "owner", &c->req.owner) ||
			 !get_text(root, "quota_note", &c->req.quota_note))
		err = "\"workspace\", \"session_id\", \"job_id\", \"owner\" and \"quota_note\" must be strings or null";
	else if (json_object_get(root, "live_output") != NULL &&
			 !json_is_boolean(json_object_get(root, "live_output")))
		err = "\"live_output\" must be true or false";
	else if (c->req.workspace != NULL &&
			 (c->req.workspace[0] != '/' || stat(c->req.workspace, &st) != 0 ||
			  !S_ISDIR(st.st_mode)))
		err = "\"workspace\" must be the absolute path of an existing directory";
	if (err == NULL)
	{
		c->req.is_async = strcmp(kind, "async") == 0;
		c->req.code_len = json_string_length(code);
		c->req.code = malloc(c->req.code_len + 1);
		memcpy(c->req.code, json_string_value(code), c->req.code_len + 1);
		c->req.timeout_ms = (int) timeout;
		c->req.memory_mb = (int) mem;
		c->req.max_file_size_mb = (int) fsize;
		c->req.max_output_bytes = (size_t) output;
		c->req.workspace_quota_mb = (int) quota;
		c->req.workspace_max_files = (long) maxfiles;
		c->req.owner_max_sessions = (int) owner_sessions;
		c->req.live_output = json_is_true(json_object_get(root, "live_output"));
		c->req.workspace_is_session = c->req.workspace != NULL;
		c->is_session = c->req.workspace != NULL && c->req.session_id != NULL;
	}
	json_decref(root);
	return err;
}
