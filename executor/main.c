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
#define PY_SSIZE_T_CLEAN
#include <Python.h>				/* first: it sets feature macros */

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
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <dirent.h>
#include <time.h>
#include <unistd.h>

#include "executor.h"
#include "tree_remove.h"
#include "executor_protocol.h"

/* The interpreter whose prefix and site-packages we embed (Debian's). */
#ifndef PI_PYTHON_PROGRAM
#define PI_PYTHON_PROGRAM L"/usr/bin/python3.11"
#endif

/*
 * Modules every run gets for free.  sklearn, statsmodels and scipy are left
 * out on purpose: preloading them doubles the zygote and slows every fork
 * (docs/architecture.md, measured); runs that need them import them.
 */
static const char *const preload_modules[] = {
	"numpy", "pandas", "matplotlib", "matplotlib.pyplot", NULL
};

/* Upper bound for --max-sync/--max-async: one child, three pipes each. */
#define EXECUTOR_MAX_SLOTS 256



static void __attribute__((noreturn))
usage_exit(const char *why)
{
	pi_log("%s", why);
	pi_log("usage: pi-executor --socket PATH --workspace-root DIR "
				 "--max-sync N --max-async N [--sandbox on|off] [--prefork N] "
				 "[--max-sessions N] [--session-idle-timeout SECONDS] "
				 "[--blas-threads N]");
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
		{"session-idle-timeout", required_argument, NULL, 'i'},
		{"blas-threads", required_argument, NULL, 'b'},
		{NULL, 0, NULL, 0}
	};
	int			c;

	memset(config, 0, sizeof(*config));
	config->max_sync = 2;
	config->max_async = 2;
	config->prefork = -1;		/* default: min(2, max_sync) */
	config->max_sessions = EXECUTOR_DEFAULT_MAX_SESSIONS;
	config->session_idle_timeout_s = EXECUTOR_DEFAULT_SESSION_IDLE_S;
	config->blas_threads = PI_DEFAULT_BLAS_THREADS;
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
			case 'i':
				{
					char	   *end;
					long		n;

					errno = 0;
					n = strtol(optarg, &end, 10);
					if (errno != 0 || *end != '\0' || n < 1 || n > 86400 * 365)
						usage_exit("--session-idle-timeout must be 1..31536000 seconds");
					config->session_idle_timeout_s = (int) n;
				}
				break;
			case 'b':
				{
					char	   *end;
					long		n;

					errno = 0;
					n = strtol(optarg, &end, 10);
					if (errno != 0 || *end != '\0' || n < 1 || n > 64)
						usage_exit("--blas-threads must be 1..64");
					config->blas_threads = (int) n;
				}
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
 * The environment Python and the libraries see, set before Py_Initialize.
 * The thread variables matter beyond speed: OpenBLAS otherwise sizes its
 * pool by the CPU count and reserves enough address space to break
 * RLIMIT_AS (docs/architecture.md).  The zygote itself always gets 1: with more,
 * numexpr and OpenMP start worker threads at import, and a zygote with
 * threads cannot clone sandboxed kernels.  Runs get --blas-threads in
 * their fixed environment, and runner.py resizes the pools loaded in the
 * zygote to it (threadpoolctl, numexpr, OpenBLAS/OpenMP/MKL setters).
 * MPLCONFIGDIR is persistent so matplotlib's font cache is built once per
 * workspace root, not on every start.
 */
static void
set_environment(const ExecutorConfig *config)
{
	char		mplconfig[PATH_MAX + 32];
	int			j;

	snprintf(mplconfig, sizeof(mplconfig), "%s/.mplconfig", config->workspace_root);
	clearenv();
	setenv("PATH", "/usr/bin:/bin", 1);
	setenv("LANG", "C.UTF-8", 1);
	setenv("HOME", config->workspace_root, 1);
	setenv("MPLBACKEND", "Agg", 1);
	setenv("MPLCONFIGDIR", mplconfig, 1);
	for (j = 0; executor_blas_thread_vars[j] != NULL; j++)
		setenv(executor_blas_thread_vars[j], "1", 1);
	setenv("PYTHONDONTWRITEBYTECODE", "1", 1);
	if (!executor_settings_set_blas_threads(config->blas_threads))
	{
		pi_log("out of memory building the runs' environment");
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
	{
		int			removed = jail_cgroup_sweep_stale(&executor_jail);

		if (removed > 0)
			pi_log("removed %d stale run cgroup(s)", removed);
	}
	if (executor_jail.cg_memory_parent[0] != '\0')
		pi_log("memory limit in force: cgroup per run (whole process tree, "
					 "tmpfs included) + RLIMIT_AS per process");
	else
		pi_log("memory limit in force: RLIMIT_AS per process only "
					 "(no delegated memory cgroup; run scripts/cgroup-setup.sh as root)");
}

/* Number of threads of this process; jail_clone needs exactly one. */
static int
thread_count(void)
{
	DIR		   *d = opendir("/proc/self/task");
	struct dirent *e;
	int			n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* Py_Initialize, the preloaded modules, the runner, gc.freeze(). */
static bool
start_python(void)
{
	PyConfig	pyconfig;
	PyStatus	status;
	int			i;

	PyConfig_InitPythonConfig(&pyconfig);
	/* signals belong to the event loop; no ~/.local packages; no .pyc */
	pyconfig.install_signal_handlers = 0;
	pyconfig.user_site_directory = 0;
	pyconfig.write_bytecode = 0;
	pyconfig.parse_argv = 0;
	status = PyConfig_SetString(&pyconfig, &pyconfig.program_name,
								PI_PYTHON_PROGRAM);
	if (!PyStatus_Exception(status))
		status = Py_InitializeFromConfig(&pyconfig);
	PyConfig_Clear(&pyconfig);
	if (PyStatus_Exception(status))
	{
		pi_log("could not initialise Python: %s",
					 status.err_msg ? status.err_msg : "unknown error");
		return false;
	}

	for (i = 0; preload_modules[i] != NULL; i++)
	{
		PyObject   *module = PyImport_ImportModule(preload_modules[i]);

		if (module == NULL)
		{
			pi_log("could not import %s:", preload_modules[i]);
			PyErr_Print();
			return false;
		}
		Py_DECREF(module);
	}
	if (!executor_child_prepare())
		return false;

	/*
	 * Move everything loaded so far out of the collector's reach: otherwise
	 * the first collection in a child touches every object and copies the
	 * whole heap page by page.
	 */
	if (PyRun_SimpleString("import gc\ngc.collect()\ngc.freeze()\n") != 0)
		return false;
	return true;
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

/* Resident set size in kB, for the ready message; 0 if unknown. */
static long
rss_kb(void)
{
	FILE	   *f = fopen("/proc/self/status", "r");
	char		line[256];
	long		kb = 0;

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
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

int
main(int argc, char **argv)
{
	ExecutorConfig config;
	double		started = executor_now_ms();
	int			listen_fd;
	int			rc;

	/* die with the launcher; getppid() == 1 means it is already gone */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() == 1)
		return 1;
	ensure_standard_fds();

	parse_command_line(argc, argv, &config);
	prepare_workspace_root(&config);
	prepare_sandbox(&config);
	set_environment(&config);
	if (!start_python())
		return 1;
	if (executor_sandbox_mode == SANDBOX_ON && thread_count() != 1)
	{
		/* jail_clone (raw clone) is only safe in a single-threaded zygote */
		executor_sandbox_mode = SANDBOX_UNAVAILABLE;
		snprintf(executor_sandbox_error, sizeof(executor_sandbox_error),
				 "the kernel refused the sandbox (the zygote has %d threads after "
				 "loading Python; it must have one); no code runs without it. "
				 "Set pi.sandbox = off to run unsandboxed (unsafe)", thread_count());
		pi_log("sandbox unavailable: %s", executor_sandbox_error);
	}

	listen_fd = open_listen_socket(config.socket_path);
	if (listen_fd < 0)
		return 1;
	pi_log("ready in %.0f ms (RSS %ld MB), listening on \"%s\" "
				 "with %d sync and %d async slots, %d pre-forked kernels, "
				 "at most %d session kernels (idle timeout %d s), %d BLAS thread(s) "
				 "per run; sandbox %s",
				 executor_now_ms() - started, rss_kb() / 1024,
				 config.socket_path, config.max_sync, config.max_async,
				 config.prefork, config.max_sessions, config.session_idle_timeout_s,
				 config.blas_threads,
				 executor_sandbox_mode == SANDBOX_ON ? "on" :
				 executor_sandbox_mode == SANDBOX_OFF ? "OFF (unsafe)" :
				 "unavailable (runs refused)");

	rc = executor_loop_run(&config, listen_fd);
	close(listen_fd);
	unlink(config.socket_path);
	/* no Py_Finalize: children may share its state, and exit is enough */
	return rc;
}
