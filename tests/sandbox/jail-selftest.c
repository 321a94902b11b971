/*-------------------------------------------------------------------------
 *
 * jail-selftest.c
 *	  Standalone driver of the sandbox library (jail/jail.h), without
 *	  PostgreSQL or the executor: it performs the same calls the zygote
 *	  makes for one run and then execs a program inside the sandbox, so
 *	  tests/sandbox/selftest.sh can throw escape probes at it.  (The
 *	  executor never execs; exec is fine here and keeps the probes plain
 *	  /usr/bin/python3 -c scripts.)
 *
 *	  jail-selftest [--workspace DIR] [--memory-mb N] [--pids N]
 *					[--nproc N] [--tmp-mb N] [--no-cgroup] -- PROGRAM ARG...
 *		exit status: the program's, or 128+signal; prints
 *		"jail-selftest: oom_kill" on stderr when the memory cgroup killed
 *		the run.
 *
 *	  jail-selftest --bench N [--workspace DIR]
 *		p50/p90 of fork+_exit+reap against jail_clone+jail_enter+_exit+
 *		reap (with and without the cgroup attach).
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/close_range.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "jail.h"

typedef struct Options
{
	const char *workspace;
	int			memory_mb;
	int			pids;
	int			nproc;
	int			tmp_mb;
	bool		cgroup;
	int			bench;
	char	  **argv;
} Options;

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

static void
die(const char *what, const char *err)
{
	fprintf(stderr, "jail-selftest: %s: %s\n", what, err);
	exit(125);
}

/*
 * One sandboxed run: the zygote's sequence from jail.h.  Returns the wait
 * status; *oom tells whether the memory cgroup killed it.
 */
static int
run_once(const JailConfig *cfg, const Options *opt, bool use_cgroup, bool *oom)
{
	char		err[512];
	int			sync[2];
	pid_t		pid;
	int			status;
	JailLimits	limits;
	JailCgroup	cg;

	if (jail_sync_pipe(sync) < 0)
		die("sync pipe", strerror(errno));
	pid = jail_clone(cfg);
	if (pid < 0)
		die("jail_clone", strerror(errno));
	if (pid == 0)
	{
		JailSpec	spec;

		close(sync[1]);
		memset(&spec, 0, sizeof(spec));
		spec.workspace = opt->workspace;
		spec.tmp_size_mb = opt->tmp_mb;
		spec.env = jail_default_env;
		spec.sync_fd = sync[0];
		if (opt->nproc > 0)
		{
			struct rlimit rl = {opt->nproc, opt->nproc};

			if (setrlimit(RLIMIT_NPROC, &rl) < 0)
			{
				fprintf(stderr, "jail-selftest: setrlimit NPROC: %s\n", strerror(errno));
				_exit(126);
			}
		}
		if (jail_enter(cfg, &spec, err, sizeof(err)) < 0)
		{
			fprintf(stderr, "jail-selftest: jail_enter: %s\n", err);
			_exit(126);
		}
		if (opt->argv == NULL)
			_exit(0);
		/* what the executor does with close_range: nothing inherited */
		if (syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
		{
			fprintf(stderr, "jail-selftest: close_range: %s\n", strerror(errno));
			_exit(126);
		}
		execv(opt->argv[0], opt->argv);
		fprintf(stderr, "jail-selftest: exec %s: %s\n", opt->argv[0], strerror(errno));
		_exit(127);
	}
	close(sync[0]);
	memset(&cg, 0, sizeof(cg));
	if (use_cgroup)
	{
		limits.memory_bytes = (uint64_t) opt->memory_mb * 1024 * 1024;
		limits.pids_max = opt->pids;
		limits.freezable = true;
		if (jail_cgroup_attach(cfg, pid, &limits, &cg, err, sizeof(err)) < 0)
		{
			/* the child sees EOF on the pipe and refuses to go on */
			close(sync[1]);
			waitpid(pid, &status, 0);
			die("jail_cgroup_attach", err);
		}
	}
	if (jail_sync_release(sync[1]) < 0)
		die("sync release", strerror(errno));
	while (waitpid(pid, &status, 0) < 0)
	{
		if (errno != EINTR)
			die("waitpid", strerror(errno));
	}
	*oom = use_cgroup && jail_cgroup_oom(&cg);
	if (use_cgroup)
		jail_cgroup_release(&cg);
	return status;
}

static int
cmp_double(const void *a, const void *b)
{
	double		x = *(const double *) a,
				y = *(const double *) b;

	return (x > y) - (x < y);
}

static void
report(const char *label, double *t, int n)
{
	qsort(t, n, sizeof(double), cmp_double);
	printf("%-34s p50 %.3f ms  p90 %.3f ms  (n=%d)\n",
		   label, t[n / 2], t[(n * 9) / 10], n);
}

static int
bench(const JailConfig *cfg, Options *opt)
{
	int			n = opt->bench;
	double	   *t = calloc(n, sizeof(double));
	double		fork_p50;
	int			i;
	bool		oom;

	opt->argv = NULL;			/* the child _exits right after jail_enter */
	for (i = 0; i < n; i++)
	{
		double		start = now_ms();
		pid_t		pid = fork();
		int			status;

		if (pid == 0)
			_exit(0);
		waitpid(pid, &status, 0);
		t[i] = now_ms() - start;
	}
	report("fork + _exit + reap", t, n);
	fork_p50 = t[n / 2];

	for (i = 0; i < n; i++)
	{
		double		start = now_ms();

		if (run_once(cfg, opt, false, &oom) != 0)
			die("bench", "sandboxed child failed");
		t[i] = now_ms() - start;
	}
	report("jail_clone + jail_enter + reap", t, n);
	printf("%-34s +%.3f ms over fork\n", "", t[n / 2] - fork_p50);

	if (cfg->cgroup_mode != JAIL_CGROUP_NONE)
	{
		for (i = 0; i < n; i++)
		{
			double		start = now_ms();

			if (run_once(cfg, opt, true, &oom) != 0)
				die("bench", "sandboxed child failed");
			t[i] = now_ms() - start;
		}
		report("  ... + cgroup attach/release", t, n);
		printf("%-34s +%.3f ms over fork\n", "", t[n / 2] - fork_p50);
	}
	free(t);
	return 0;
}

int
main(int argc, char **argv)
{
	Options		opt = {NULL, 256, 64, 0, 16, true, 0, NULL};
	JailConfig	cfg;
	char		err[1024];
	char		tmpws[] = "/tmp/jail-selftest-XXXXXX";
	int			i;
	int			status;
	bool		oom = false;

	for (i = 1; i < argc; i++)
	{
		if (strcmp(argv[i], "--") == 0)
		{
			opt.argv = &argv[i + 1];
			break;
		}
		else if (strcmp(argv[i], "--workspace") == 0 && i + 1 < argc)
			opt.workspace = argv[++i];
		else if (strcmp(argv[i], "--memory-mb") == 0 && i + 1 < argc)
			opt.memory_mb = atoi(argv[++i]);
		else if (strcmp(argv[i], "--pids") == 0 && i + 1 < argc)
			opt.pids = atoi(argv[++i]);
		else if (strcmp(argv[i], "--nproc") == 0 && i + 1 < argc)
			opt.nproc = atoi(argv[++i]);
		else if (strcmp(argv[i], "--tmp-mb") == 0 && i + 1 < argc)
			opt.tmp_mb = atoi(argv[++i]);
		else if (strcmp(argv[i], "--no-cgroup") == 0)
			opt.cgroup = false;
		else if (strcmp(argv[i], "--bench") == 0 && i + 1 < argc)
			opt.bench = atoi(argv[++i]);
		else
		{
			fprintf(stderr, "usage: jail-selftest [--workspace DIR] [--memory-mb N] "
					"[--pids N] [--nproc N] [--tmp-mb N] [--no-cgroup] -- PROGRAM ARG...\n"
					"       jail-selftest --bench N [--workspace DIR]\n");
			return 2;
		}
	}
	if (opt.bench <= 0 && (opt.argv == NULL || opt.argv[0] == NULL))
		die("usage", "nothing to run (give -- PROGRAM ARG... or --bench N)");
	if (opt.workspace == NULL)
	{
		if (mkdtemp(tmpws) == NULL)
			die("mkdtemp", strerror(errno));
		opt.workspace = tmpws;
	}

	memset(&cfg, 0, sizeof(cfg));
	if (jail_prepare(&cfg, err, sizeof(err)) < 0)
		die("jail_prepare", err);
	if (opt.bench > 0)
		status = bench(&cfg, &opt);
	else
	{
		fflush(stdout);
		status = run_once(&cfg, &opt, opt.cgroup && cfg.cgroup_mode != JAIL_CGROUP_NONE, &oom);
		if (oom)
			fprintf(stderr, "jail-selftest: oom_kill\n");
	}
	if (opt.workspace == tmpws)
	{
		char		cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpws);
		if (system(cmd) != 0)
			fprintf(stderr, "jail-selftest: could not remove %s\n", tmpws);
	}
	if (opt.bench > 0 || WIFEXITED(status))
		return opt.bench > 0 ? status : WEXITSTATUS(status);
	return 128 + WTERMSIG(status);
}
