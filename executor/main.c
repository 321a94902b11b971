/*-------------------------------------------------------------------------
 *
 * main.c
 *	  Start-up of pi-executor: command line, the process's own environment,
 *	  CPython with the preloaded data stack (the "zygote"), and the
 *	  listening socket.  The event loop itself is in loop.c.
 *
 * The launcher background worker fork+execs this binary with an empty
 * environment, stdin on /dev/null and stdout/stderr on the server log, in
 * the data directory (docs/architecture.md, rule 1).  Everything here runs once; a
 * failure is logged and ends the process with a non-zero status, and the
 * launcher restarts it.
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <dirent.h>
#include <time.h>
#include <unistd.h>

#include "executor.h"
#include "tree_remove.h"
#include "executor_protocol.h"

/* Upper bound for --max-sync/--max-async: one child, three pipes each. */
#define EXECUTOR_MAX_SLOTS 256
/* Upper bound for --forkers: more clone in parallel than cores help. */
#define EXECUTOR_MAX_FORKERS 16



static void __attribute__((noreturn))
usage_exit(const char *why)
{
	pi_log("%s", why);
	pi_log("usage: pi-executor --socket PATH --workspace-root DIR "
				 "--max-sync N --max-async N [--sandbox on|off] [--prefork N] "
				 "[--max-sessions N] [--session-idle-timeout SECONDS] "
				 "[--max-sessions-per-owner N] [--blas-threads N] [--forkers N]");
	exit(2);
}

static int
parse_slots(const char *text, const char *name)
{
	char	   *end;
	long		n;

	errno = 0;
	n = strtol(text, &end, 10);
	if (errno != 0 || *end != '\0' || n < 1 || n > EXECUTOR_MAX_SLOTS)
	{
		pi_log("invalid value for %s: \"%s\" (expected 1..%d)",
					 name, text, EXECUTOR_MAX_SLOTS);
		exit(2);
	}
	return (int) n;
}

/* An integer option in lo..hi, or the usage message why not. */
static int
parse_int(const char *text, long lo, long hi, const char *why)
{
	char	   *end;
	long		n;

	errno = 0;
	n = strtol(text, &end, 10);
	if (errno != 0 || end == text || *end != '\0' || n < lo || n > hi)
		usage_exit(why);
	return (int) n;
}

static void
parse_command_line(int argc, char **argv, ExecutorConfig *config)
{
	static const struct option options[] = {
		{"socket", required_argument, NULL, 's'},
		{"workspace-root", required_argument, NULL, 'w'},
		{"max-sync", required_argument, NULL, 'y'},
		{"max-async", required_argument, NULL, 'a'},
		{"sandbox", required_argument, NULL, 'x'},
		{"prefork", required_argument, NULL, 'p'},
		{"max-sessions", required_argument, NULL, 'm'},
		{"max-sessions-per-owner", required_argument, NULL, 'o'},
		{"session-idle-timeout", required_argument, NULL, 'i'},
		{"blas-threads", required_argument, NULL, 'b'},
		{"forkers", required_argument, NULL, 'f'},
		{NULL, 0, NULL, 0}
	};
	int			c;

	memset(config, 0, sizeof(*config));
	config->max_sync = 2;
	config->max_async = 2;
	config->prefork = -1;		/* default: min(2, max_sync) */
	config->max_sessions = EXECUTOR_DEFAULT_MAX_SESSIONS;
	config->max_sessions_per_owner = 0;	/* default: --max-sessions */
	config->session_idle_timeout_s = EXECUTOR_DEFAULT_SESSION_IDLE_S;
	config->blas_threads = PI_DEFAULT_BLAS_THREADS;
	config->forkers = 0;		/* default: one per online core */
	while ((c = getopt_long(argc, argv, "", options, NULL)) != -1)
	{
		switch (c)
		{
			case 's':
				config->socket_path = optarg;
				break;
			case 'w':
				config->workspace_root = optarg;
				break;
			case 'y':
				config->max_sync = parse_slots(optarg, "--max-sync");
				break;
			case 'a':
				config->max_async = parse_slots(optarg, "--max-async");
				break;
			case 'p':
				config->prefork = strcmp(optarg, "0") == 0 ? 0 :
					parse_slots(optarg, "--prefork");
				break;
			case 'm':
				config->max_sessions = parse_slots(optarg, "--max-sessions");
				break;
			case 'o':
				config->max_sessions_per_owner =
					parse_slots(optarg, "--max-sessions-per-owner");
				break;
			case 'i':
				config->session_idle_timeout_s =
					parse_int(optarg, 1, 86400 * 365,
							  "--session-idle-timeout must be 1..31536000 seconds");
				break;
			case 'b':
				config->blas_threads =
					parse_int(optarg, 1, 64, "--blas-threads must be 1..64");
				break;
			case 'f':
				config->forkers = parse_int(optarg, 1, EXECUTOR_MAX_FORKERS,
											"--forkers must be 1..16");
				break;
			case 'x':
				if (strcmp(optarg, "off") == 0)
					config->sandbox_off = true;
				else if (strcmp(optarg, "on") == 0)
					config->sandbox_off = false;
				else
					usage_exit("--sandbox must be \"on\" or \"off\"");
				break;
			default:
				usage_exit("unknown option");
		}
	}
	if (optind != argc)
		usage_exit("unexpected argument");
	if (config->socket_path == NULL || config->workspace_root == NULL)
		usage_exit("--socket and --workspace-root are required");
	if (config->prefork < 0)
		config->prefork = config->max_sync < 2 ? config->max_sync : 2;
	if (config->max_sessions_per_owner == 0 ||
		config->max_sessions_per_owner > config->max_sessions)
		config->max_sessions_per_owner = config->max_sessions;
	if (config->forkers == 0)
	{
		long		cores = sysconf(_SC_NPROCESSORS_ONLN);

		config->forkers = cores < 1 ? 1 : cores > EXECUTOR_MAX_FORKERS ?
			EXECUTOR_MAX_FORKERS : (int) cores;
	}
}


/*
 * Make the workspace root absolute and create the directories the executor
 * owns below it.  Temporary run workspaces left by a previous executor that
 * crashed are removed here: no run of ours can still be using them.
 */
static void
prepare_workspace_root(ExecutorConfig *config)
{
	static char root[PATH_MAX];
	char		path[PATH_MAX + 32];

	if (mkdir(config->workspace_root, 0700) != 0 && errno != EEXIST)
	{
		pi_log("could not create workspace root \"%s\": %m",
					 config->workspace_root);
		exit(1);
	}
	if (realpath(config->workspace_root, root) == NULL)
	{
		pi_log("could not resolve workspace root \"%s\": %m",
					 config->workspace_root);
		exit(1);
	}
	config->workspace_root = root;

	snprintf(path, sizeof(path), "%s/.runs", root);
	if (pi_tree_remove(AT_FDCWD, path) < 0)
	{
		char		aside[PATH_MAX + 64];

		/*
		 * Nothing a run left behind may keep the executor from starting:
		 * move what could not be removed out of the way and go on.
		 */
		snprintf(aside, sizeof(aside), "%s/.runs-stale-%ld-%d",
				 root, (long) time(NULL), (int) getpid());
		pi_log("could not remove old temporary workspaces in \"%s\": %m; "
			   "moved them to \"%s\"", path, aside);
		if (rename(path, aside) != 0)
			pi_log("could not move \"%s\" aside: %m", path);
	}
	if (mkdir(path, 0700) != 0)
	{
		pi_log("could not create \"%s\": %m", path);
		exit(1);
	}
	snprintf(path, sizeof(path), "%s/.mplconfig", root);
	if (mkdir(path, 0700) != 0 && errno != EEXIST)
	{
		pi_log("could not create \"%s\": %m", path);
		exit(1);
	}
}





/*
 * The kernel sandbox, before Py_Initialize: jail_prepare compiles the
 * seccomp filter (doing it after Py_Initialize leaves freed chunks that
 * slow every child) and makes a full trial run in a throw-away child, so a
 * kernel that refuses some step is reported now, with the step.  A refusal
 * does not stop the executor: it starts, and answers every run with
 * SandboxUnavailable (loop.c), so the reason reaches the user and
 * no code ever runs unconfined unless pi.sandbox = off says so.
 */
static void
prepare_sandbox(const ExecutorConfig *config)
{
	char		err[sizeof(executor_sandbox_error) - 200];

	if (config->sandbox_off)
	{
		executor_sandbox_mode = SANDBOX_OFF;
		pi_log("WARNING: sandbox is OFF, code runs unconfined "
					 "(pi.sandbox = off): it can read the data directory, "
					 "reach the network and PostgreSQL's socket");
		return;
	}
	memset(&executor_jail, 0, sizeof(executor_jail));
	if (jail_prepare(&executor_jail, err, sizeof(err)) < 0)
	{
		executor_sandbox_mode = SANDBOX_UNAVAILABLE;
		snprintf(executor_sandbox_error, sizeof(executor_sandbox_error),
				 "the kernel refused the sandbox (%s); no code runs without it. "
				 "Set pi.sandbox = off to run unsandboxed (unsafe)", err);
		pi_log("sandbox unavailable: %s", err);
		pi_log("every run will fail with SandboxUnavailable until this is fixed "
					 "(or pi.sandbox = off is set, which is unsafe)");
		return;
	}
	executor_sandbox_mode = SANDBOX_ON;
	kernel_sweep_stale_cgroups();
	if (executor_jail.cg_memory_parent[0] != '\0')
		pi_log("memory limit in force: cgroup per run (whole process tree, "
					 "tmpfs included) + RLIMIT_AS per process");
	else
		pi_log("memory limit in force: RLIMIT_AS per process only "
					 "(no delegated memory cgroup; run scripts/cgroup-setup.sh as root)");
}



static int
open_listen_socket(const char *path)
{
	struct sockaddr_un addr;
	int			fd;

	if (strlen(path) >= sizeof(addr.sun_path))
	{
		pi_log("socket path \"%s\" is too long (at most %zu bytes)",
					 path, sizeof(addr.sun_path) - 1);
		return -1;
	}
	memset(&addr, 0, sizeof(addr));
	addr.sun_family = AF_UNIX;
	strcpy(addr.sun_path, path);

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
	{
		pi_log("could not create socket: %m");
		return -1;
	}
	/* a stale socket of a previous executor would make bind fail */
	if (unlink(path) != 0 && errno != ENOENT)
		pi_log("could not remove old socket \"%s\": %m", path);
	/* 0600 from the start: no window in which others could connect */
	{
		mode_t		old = umask(0177);
		int			rc = bind(fd, (struct sockaddr *) &addr, sizeof(addr));

		umask(old);
		if (rc != 0)
		{
			pi_log("could not bind socket \"%s\": %m", path);
			close(fd);
			return -1;
		}
	}
	if (listen(fd, 64) != 0)
	{
		pi_log("could not listen on socket \"%s\": %m", path);
		close(fd);
		return -1;
	}
	return fd;
}


/* stdin/stdout/stderr must exist, or a pipe could land on fd 0-2. */
static void
ensure_standard_fds(void)
{
	int			fd;

	while ((fd = open("/dev/null", O_RDWR)) >= 0 && fd <= 2)
		;
	if (fd > 2)
		close(fd);
}

/*
 * As many descriptors as the hard limit allows: four per kernel and one
 * per connection, both bounded by the configuration (kernel.c), so the
 * soft default of 1024 is what would run out first.
 */
static void
raise_descriptor_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max)
	{
		rl.rlim_cur = rl.rlim_max;
		(void) setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/*
 * Start the zygote (Python, then the forkers) as a child of this process,
 * before any client can connect, and wait until every forker is ready.
 * Returns the zygote's pid, or -1.
 */
static pid_t
start_zygote(const ExecutorConfig *config)
{
	int			loop_ends[EXECUTOR_MAX_FORKERS];
	int			forker_ends[EXECUTOR_MAX_FORKERS];
	bool		sandbox_ok;
	char		why[512] = "";
	pid_t		pid;
	int			i;

	for (i = 0; i < config->forkers; i++)
	{
		int			sv[2];

		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
		{
			pi_log("could not create a forker socket: %m");
			return -1;
		}
		loop_ends[i] = sv[0];
		forker_ends[i] = sv[1];
	}
	pid = fork();
	if (pid < 0)
	{
		pi_log("could not fork the zygote: %m");
		return -1;
	}
	if (pid == 0)
	{
		for (i = 0; i < config->forkers; i++)
			close(loop_ends[i]);
		zygote_main(config, forker_ends, config->forkers);
	}
	for (i = 0; i < config->forkers; i++)
		close(forker_ends[i]);
	if (!forkers_init(loop_ends, config->forkers))
	{
		pi_log("out of memory at start-up");
		return -1;
	}
	/* Python and the preload take about half a second; allow for slow disks */
	if (!forkers_wait_ready(120000.0, &sandbox_ok, why, sizeof(why)))
	{
		pi_log("the zygote did not start its forkers (see the lines above)");
		kill(pid, SIGKILL);
		return -1;
	}
	if (!sandbox_ok && executor_sandbox_mode == SANDBOX_ON)
	{
		executor_sandbox_mode = SANDBOX_UNAVAILABLE;
		snprintf(executor_sandbox_error, sizeof(executor_sandbox_error), "%s", why);
		pi_log("sandbox unavailable: %s", executor_sandbox_error);
	}
	return pid;
}

/* Resident set size in kB of process pid, for the ready message; 0 if unknown. */
static long
rss_kb_of(pid_t pid)
{
	char		path[64];
	FILE	   *f;
	char		line[256];
	long		kb = 0;

	snprintf(path, sizeof(path), "/proc/%d/status", (int) pid);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

int
main(int argc, char **argv)
{
	ExecutorConfig config;
	double		started = executor_now_ms();
	int			listen_fd;
	pid_t		zygote;
	int			rc;

	/* die with the launcher; getppid() == 1 means it is already gone */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() == 1)
		return 1;
	ensure_standard_fds();
	raise_descriptor_limit();

	parse_command_line(argc, argv, &config);
	prepare_workspace_root(&config);
	prepare_sandbox(&config);
	if ((zygote = start_zygote(&config)) < 0)
		return 1;

	listen_fd = open_listen_socket(config.socket_path);
	if (listen_fd < 0)
		return 1;
	pi_log("ready in %.0f ms (zygote RSS %ld MB, loop RSS %ld MB), listening on \"%s\" "
		   "with %d sync and %d async slots, %d pre-forked kernels, %d forkers, "
		   "at most %d session kernels (idle timeout %d s), %d BLAS thread(s) "
		   "per run; sandbox %s",
		   executor_now_ms() - started, rss_kb_of(zygote) / 1024,
		   rss_kb_of(getpid()) / 1024,
		   config.socket_path, config.max_sync, config.max_async,
		   config.prefork, config.forkers, config.max_sessions,
		   config.session_idle_timeout_s, config.blas_threads,
		   executor_sandbox_mode == SANDBOX_ON ? "on" :
		   executor_sandbox_mode == SANDBOX_OFF ? "OFF (unsafe)" :
		   "unavailable (runs refused)");

	rc = executor_loop_run(&config, listen_fd, zygote);
	close(listen_fd);
	unlink(config.socket_path);
	return rc;
}
