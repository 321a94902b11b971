/*-------------------------------------------------------------------------
 *
 * pi-exec-client.c
 *	  A minimal client of the pi-executor socket protocol, for the tests in
 *	  run.sh and for measuring run latency.
 *
 *	  pi-exec-client SOCKET [options] [--code TEXT]   (else code from stdin)
 *
 * Prints every frame it receives as one line, "P <json>" or "R <json>".
 * --cancel-after-ms sends a 'C' frame after that delay; --hangup-after-ms
 * closes the connection instead; --stall-ms reads nothing for that long
 * after sending the request (a slow client); --repeat N runs the code N times in a row
 * and prints latency percentiles instead of frames.
 *
 *-------------------------------------------------------------------------
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "executor_protocol.h"

typedef struct Options
{
	const char *socket_path;
	const char *kind;
	const char *workspace;
	const char *session_id;
	char	   *code;
	long		timeout_ms;
	long		memory_mb;
	long		max_output;
	long		cancel_after_ms;
	long		hangup_after_ms;
	long		repeat;
	long		stall_ms;		/* read nothing for this long after the request */
} Options;

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

static void
die(const char *what)
{
	fprintf(stderr, "pi-exec-client: %s: %s\n", what, strerror(errno));
	exit(2);
}

static char *
read_stdin(void)
{
	size_t		cap = 4096,
				len = 0;
	char	   *s = malloc(cap);
	size_t		n;

	while ((n = fread(s + len, 1, cap - len - 1, stdin)) > 0)
	{
		len += n;
		if (cap - len < 2)
			s = realloc(s, cap *= 2);
	}
	s[len] = '\0';
	return s;
}

static void
write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0)
	{
		ssize_t		n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EPIPE)
			return;				/* the executor has answered and closed */
		if (n <= 0)
			die("write");
		p += n;
		len -= n;
	}
}

static void
send_frame(int fd, char tag, const char *payload, size_t len)
{
	char		header[PI_FRAME_HEADER_SIZE];
	uint32_t	netlen = htonl((uint32_t) len);

	header[0] = tag;
	memcpy(header + 1, &netlen, 4);
	write_all(fd, header, sizeof(header));
	if (len > 0)
		write_all(fd, payload, len);
}

static int
connect_socket(const char *path)
{
	struct sockaddr_un addr;
	int			fd = socket(AF_UNIX, SOCK_STREAM, 0);

	memset(&addr, 0, sizeof(addr));
	addr.sun_family = AF_UNIX;
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
	if (fd < 0 || connect(fd, (struct sockaddr *) &addr, sizeof(addr)) != 0)
		die("connect");
	return fd;
}

static const char *opt_op;		/* --op: "op" member of the request */
static long opt_quota_mb;		/* --workspace-quota-mb, 0: left out */
static const char *opt_job_id;	/* --job-id: "job_id" member of the request */
static const char *opt_owner;	/* --owner: "owner" member of the request */
static bool opt_live_output;	/* --live-output: "live_output": true */
static const char *opt_owner_sessions;	/* --owner-max-sessions: its JSON text */
static long opt_answer_bytes = -1;	/* --answer-queries N: answer 'S' frames */

static char *
build_request(const Options *o)
{
	json_t	   *q = json_pack("{s:s, s:s, s:i, s:i, s:i, s:s?, s:s?, s:n}",
							  "kind", o->kind, "code", o->code,
							  "timeout_ms", (json_int_t) o->timeout_ms,
							  "memory_mb", (json_int_t) o->memory_mb,
							  "max_output_bytes", (json_int_t) o->max_output,
							  "workspace", o->workspace,
							  "session_id", o->session_id, "job_id");
	char	   *text;

	if (opt_job_id != NULL)
		json_object_set_new(q, "job_id", json_string(opt_job_id));
	if (opt_owner != NULL)
		json_object_set_new(q, "owner", json_string(opt_owner));
	if (opt_op != NULL)
		json_object_set_new(q, "op", json_string(opt_op));
	if (opt_quota_mb > 0)
		json_object_set_new(q, "workspace_quota_mb", json_integer(opt_quota_mb));
	if (opt_live_output)
		json_object_set_new(q, "live_output", json_true());
	if (opt_owner_sessions != NULL)
		json_object_set_new(q, "owner_max_sessions",
							json_loads(opt_owner_sessions, JSON_DECODE_ANY, NULL));
	text = json_dumps(q, JSON_COMPACT);

	json_decref(q);
	return text;
}

/*
 * One run: send the request, print frames until 'R' (if print_frames).
 * Returns the 'R' payload (malloc'd) or NULL when the connection ended
 * without one.
 */
static char *
one_run(const Options *o, const char *request, bool print_frames)
{
	int			fd = connect_socket(o->socket_path);
	double		start = now_ms();
	bool		cancel_sent = false;
	char	   *buf = NULL;
	size_t		len = 0,
				cap = 0;

	send_frame(fd, PI_FRAME_REQUEST, request, strlen(request));
	if (o->stall_ms > 0)
		usleep(o->stall_ms * 1000);
	for (;;)
	{
		struct pollfd pfd = {fd, POLLIN, 0};
		double		elapsed = now_ms() - start;
		int			timeout = 200;
		ssize_t		n;

		if (o->hangup_after_ms >= 0 && elapsed >= o->hangup_after_ms)
		{
			close(fd);
			return NULL;
		}
		if (o->cancel_after_ms >= 0 && !cancel_sent && elapsed >= o->cancel_after_ms)
		{
			send_frame(fd, PI_FRAME_CANCEL, NULL, 0);
			cancel_sent = true;
		}
		if (poll(&pfd, 1, timeout) <= 0)
			continue;
		if (cap - len < 65536)
			buf = realloc(buf, cap = cap * 2 + 65536);
		n = read(fd, buf + len, cap - len);
		if (n <= 0)
		{
			close(fd);
			free(buf);
			return NULL;
		}
		len += n;
		while (len >= PI_FRAME_HEADER_SIZE)
		{
			uint32_t	netlen;
			size_t		plen;
			char		tag = buf[0];

			memcpy(&netlen, buf + 1, 4);
			plen = ntohl(netlen);
			if (len < PI_FRAME_HEADER_SIZE + plen)
				break;
			if (tag == PI_FRAME_RESULT)
			{
				char	   *r = strndup(buf + PI_FRAME_HEADER_SIZE, plen);

				if (print_frames)
					printf("R %s\n", r);
				close(fd);
				free(buf);
				return r;
			}
			if (tag == PI_FRAME_QUERY && opt_answer_bytes >= 0)
			{
				/* an answer of N bytes, as pi.query would send rows */
				char	   *pad = malloc(opt_answer_bytes + 1);
				json_t	   *a;
				char	   *text;

				memset(pad, 'x', opt_answer_bytes);
				pad[opt_answer_bytes] = '\0';
				a = json_pack("{s:b, s:{s:s}}", "ok", 1, "result", "rows", pad);
				text = json_dumps(a, JSON_COMPACT);
				send_frame(fd, PI_FRAME_ANSWER, text, strlen(text));
				free(text);
				json_decref(a);
				free(pad);
			}
			else if (print_frames)
				printf("%c %.*s\n", tag, (int) plen, buf + PI_FRAME_HEADER_SIZE);
			fflush(stdout);
			memmove(buf, buf + PI_FRAME_HEADER_SIZE + plen,
					len - PI_FRAME_HEADER_SIZE - plen);
			len -= PI_FRAME_HEADER_SIZE + plen;
		}
	}
}

static int
compare_double(const void *a, const void *b)
{
	double		x = *(const double *) a,
				y = *(const double *) b;

	return (x > y) - (x < y);
}

/* --repeat: wall time per run (client side) and the executor's elapsed_ms. */
static int
benchmark(const Options *o, const char *request)
{
	double	   *wall = calloc(o->repeat, sizeof(double));
	double	   *exec = calloc(o->repeat, sizeof(double));
	long		i;

	for (i = 0; i < o->repeat; i++)
	{
		double		t0 = now_ms();
		char	   *r = one_run(o, request, false);
		json_t	   *j = r ? json_loads(r, 0, NULL) : NULL;

		wall[i] = now_ms() - t0;
		exec[i] = json_real_value(json_object_get(j, "elapsed_ms"));
		if (j == NULL || strcmp(json_string_value(json_object_get(j, "status")), "completed") != 0)
		{
			fprintf(stderr, "run %ld did not complete: %s\n", i, r ? r : "(no answer)");
			return 1;
		}
		json_decref(j);
		free(r);
	}
	qsort(wall, o->repeat, sizeof(double), compare_double);
	qsort(exec, o->repeat, sizeof(double), compare_double);
	printf("runs=%ld wall_p50_ms=%.2f wall_p90_ms=%.2f exec_p50_ms=%.2f exec_p90_ms=%.2f\n",
		   o->repeat, wall[o->repeat / 2], wall[o->repeat * 9 / 10],
		   exec[o->repeat / 2], exec[o->repeat * 9 / 10]);
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"kind", required_argument, NULL, 'k'},
		{"code", required_argument, NULL, 'c'},
		{"timeout-ms", required_argument, NULL, 't'},
		{"memory-mb", required_argument, NULL, 'm'},
		{"max-output", required_argument, NULL, 'o'},
		{"workspace", required_argument, NULL, 'w'},
		{"session-id", required_argument, NULL, 's'},
		{"cancel-after-ms", required_argument, NULL, 'C'},
		{"hangup-after-ms", required_argument, NULL, 'H'},
		{"repeat", required_argument, NULL, 'r'},
		{"stall-ms", required_argument, NULL, 'S'},
		{"op", required_argument, NULL, 'O'},
		{"workspace-quota-mb", required_argument, NULL, 'Q'},
		{"job-id", required_argument, NULL, 'J'},
		{"answer-queries", required_argument, NULL, 'A'},
		{"owner", required_argument, NULL, 'W'},
		{"live-output", no_argument, NULL, 'L'},
		{"owner-max-sessions", required_argument, NULL, 'M'},
		{NULL, 0, NULL, 0}
	};
	Options		o = {NULL, "sync", NULL, NULL, NULL, 60000, 4096, 1048576, -1, -1, 0, 0};
	char	   *request;
	char	   *r;
	int			c;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1)
	{
		switch (c)
		{
			case 'k': o.kind = optarg; break;
			case 'c': o.code = optarg; break;
			case 't': o.timeout_ms = atol(optarg); break;
			case 'm': o.memory_mb = atol(optarg); break;
			case 'o': o.max_output = atol(optarg); break;
			case 'w': o.workspace = optarg; break;
			case 's': o.session_id = optarg; break;
			case 'C': o.cancel_after_ms = atol(optarg); break;
			case 'H': o.hangup_after_ms = atol(optarg); break;
			case 'r': o.repeat = atol(optarg); break;
			case 'S': o.stall_ms = atol(optarg); break;
			case 'O': opt_op = optarg; break;
			case 'Q': opt_quota_mb = atol(optarg); break;
			case 'J': opt_job_id = optarg; break;
			case 'A': opt_answer_bytes = atol(optarg); break;
			case 'W': opt_owner = optarg; break;
			case 'L': opt_live_output = true; break;
			case 'M': opt_owner_sessions = optarg; break;
			default: return 2;
		}
	}
	if (optind != argc - 1)
	{
		fprintf(stderr, "usage: pi-exec-client SOCKET [options] [--code TEXT]\n");
		return 2;
	}
	o.socket_path = argv[optind];
	/* the executor may close after its answer while we still write: go on reading */
	signal(SIGPIPE, SIG_IGN);
	if (o.code == NULL)
		o.code = read_stdin();
	request = build_request(&o);
	if (o.repeat > 0)
		return benchmark(&o, request);
	r = one_run(&o, request, true);
	if (r == NULL)
	{
		printf("EOF\n");
		return 1;
	}
	free(r);
	return 0;
}
