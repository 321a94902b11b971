/*-------------------------------------------------------------------------
 *
 * zygote.c
 *	  The zygote: the process, forked from pi-executor's loop before any
 *	  client connects, that embeds CPython, preloads numpy, pandas and
 *	  matplotlib once, and then forks the forkers (forker.c) that clone
 *	  every kernel from that warm state.
 *
 * The zygote and its forkers never receive a client's bytes (rule 7 of
 * docs/architecture.md): the loop, which does, is their parent and never
 * runs Python.  The zygote itself only waits for its forkers: if one
 * dies, it exits, which ends the others (PDEATHSIG) and tells the loop
 * (SIGCHLD), whose launcher then restarts the whole executor.
 *
 *-------------------------------------------------------------------------
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>				/* first: it sets feature macros */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "executor.h"

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
	{
		PyObject   *gc = PyImport_ImportModule("gc");
		PyObject   *collected = gc ? PyObject_CallMethod(gc, "collect", NULL) : NULL;
		PyObject   *frozen = collected ? PyObject_CallMethod(gc, "freeze", NULL) : NULL;

		Py_XDECREF(collected);
		Py_XDECREF(gc);
		if (frozen == NULL)
		{
			PyErr_Print();
			return false;
		}
		Py_DECREF(frozen);
	}

	/*
	 * Consolidate malloc's free chunks and give free pages back: a forker
	 * copies the page table of every anonymous page at each clone and a
	 * kernel tears it down at exit, and a kernel whose first malloc
	 * consolidates fastbins left by the imports copies those pages
	 * (measured: ~5 MB less anonymous memory per clone).
	 */
	malloc_trim(0);
	executor_heap_settle();
	executor_arenas_seal();
	{
		size_t		collapsed = executor_collapse_memory();

		if (collapsed > 0)
			pi_log("zygote: %zu MB of the preloaded memory in 2 MB pages",
				   collapsed >> 20);
	}
	return true;
}

/*
 * Fork a throwaway probe that runs a typical cell, and learn from it the
 * pages such a cell writes (prefault.c).  Before the forkers exist, so
 * they and every kernel inherit the result.  Failure only means that pool
 * kernels copy nothing ahead.
 */
static void
learn_written_pages(const ExecutorConfig *config)
{
	int			ready[2];
	pid_t		pid;
	char		byte = 0;
	struct pollfd wait_ready;
	size_t		pages = 0;

	if (pipe2(ready, O_CLOEXEC) != 0)
		return;
	pid = fork();
	if (pid == 0)
	{
		bool		ok;

		close(ready[0]);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		ok = executor_child_probe(config->workspace_root);
		(void) write(ready[1], ok ? "y" : "n", 1);
		for (;;)
			pause();			/* read, then killed, by the zygote */
	}
	close(ready[1]);
	if (pid < 0)
	{
		close(ready[0]);
		return;
	}
	wait_ready.fd = ready[0];
	wait_ready.events = POLLIN;
	if (poll(&wait_ready, 1, 60 * 1000) == 1 && read(ready[0], &byte, 1) == 1 &&
		byte == 'y')
		pages = executor_prefault_learn(pid);	/* logs why if it cannot */
	else
		pi_log("zygote: the probe of a typical cell failed; "
			   "pool kernels copy nothing ahead");
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	close(ready[0]);
	if (pages > 0)
		pi_log("zygote: a typical cell writes %zu pages (%zu kB); "
			   "pool kernels copy them while they wait",
			   pages, pages * (size_t) sysconf(_SC_PAGESIZE) / 1024);
}

/*
 * The zygote's life: Python, then the forkers, then waiting.  socks are
 * the forkers' ends of their socketpairs with the loop (the loop's ends
 * are already closed here).  Never returns.
 */
void
zygote_main(const ExecutorConfig *config, const int *socks, int nforkers)
{
	bool		sandbox_ok = executor_sandbox_mode != SANDBOX_UNAVAILABLE;
	const char *sandbox_error = executor_sandbox_error;
	int			i;

	prctl(PR_SET_NAME, "pi-zygote");
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	signal(SIGINT, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	set_environment(config);
	executor_heap_setup();
	executor_arenas_install();
	if (!start_python())
		_exit(1);
	learn_written_pages(config);
	if (executor_sandbox_mode == SANDBOX_ON && thread_count() != 1)
	{
		/* jail_clone (raw clone) is only safe in a single-threaded process */
		snprintf(executor_sandbox_error, sizeof(executor_sandbox_error),
				 "the kernel refused the sandbox (the zygote has %d threads after "
				 "loading Python; it must have one); no code runs without it. "
				 "Set pi.sandbox = off to run unsandboxed (unsafe)", thread_count());
		sandbox_ok = false;
	}

	for (i = 0; i < nforkers; i++)
	{
		pid_t		pid;

		executor_before_fork();
		pid = fork();
		if (pid == 0)
		{
			int			j;

			PyOS_AfterFork_Child();
			for (j = 0; j < nforkers; j++)
				if (j != i)
					close(socks[j]);
			forker_main(socks[i], sandbox_ok, sandbox_ok ? NULL : sandbox_error);
			_exit(1);
		}
		executor_after_fork_parent();
		if (pid < 0)
		{
			pi_log("could not fork forker %d: %m", i);
			_exit(1);
		}
	}
	for (i = 0; i < nforkers; i++)
		close(socks[i]);

	/* a forker that dies takes the zygote with it: the loop restarts all */
	for (;;)
	{
		int			status;
		pid_t		pid = wait(&status);

		if (pid < 0 && errno == EINTR)
			continue;
		if (pid < 0)
			_exit(1);
		pi_log("forker %d exited (status %d); the executor restarts", (int) pid, status);
		_exit(1);
	}
}
