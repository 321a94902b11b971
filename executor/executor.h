/*-------------------------------------------------------------------------
 *
 * executor.h
 *	  Types and entry points shared by the parts of the pi-executor
 *	  program.  The files, from the lowest layer up (a file calls only
 *	  files listed before it; tests/layout/check.sh verifies it):
 *
 *	   util.c		buffers, clock, descriptors (plus jail/log.c, the logger)
 *	   hugepages.c	the preloaded memory in 2 MB pages
 *	   arenas.c		the zygote's Python arenas side by side, for hugepages.c
 *	   heap.c		malloc's free lists settled before kernels are cloned
 *	   prefault.c	pages a typical cell writes, copied by an idle pool kernel
 *	   settings.c	sandbox mode, runs' environment, BLAS threads
 *	   held.c		files a run holds open or mapped after their names are gone
 *	   quota.c		the incremental workspace walk (names, then held.c)
 *	   frames.c		requests parsed, frames and answers written
 *	   child.c		a kernel's side: sandbox, then runner.py
 *	   fdpass.c		a record and its descriptors over a SEQPACKET socket
 *	   forker.c		a forker process: clones kernels, hands over their pipes
 *	   zygote.c		the zygote process: Python preloaded, then the forkers
 *	   forkers.c	the loop's side of the forkers: requests and replies
 *	   notices.c	why a session's state is gone, until its next run
 *	   kernel_io.c	control pipe, memory limit, freeze, cgroup removal
 *	   kernel.c		the kernel table: spawn, pool, sessions, stop, reap
 *	   output.c		a kernel's stdout, stderr and result channel
 *	   cell.c		the life of one cell: start, stop, finish, answer
 *	   requests.c	connections and the frames that come in on them
 *	   schedule.c	slots, queue, sessions' turns, deadlines
 *	   loop.c		poll, dispatch, signals
 *	   main.c		start-up: command line, Python, socket
 *
 * The wire format the executor speaks is in include/executor_protocol.h;
 * this header only holds what the executor itself needs internally.  It does not
 * include Python.h, so the event loop stays free of the Python C API (the
 * loop never calls into Python: a Python call there could block or run
 * arbitrary finalisers in the one process that serves every run).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PI_EXECUTOR_H
#define PI_EXECUTOR_H

#include <dirent.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#include "jail.h"
#include "log.h"
#include "pi_defaults.h"
#include "util.h"

/*
 * Defaults for request members and options a client leaves out: the GUC
 * defaults of the extension (include/pi_defaults.h), so a hand-written
 * request behaves like pi.execute.
 */
#define EXECUTOR_DEFAULT_TIMEOUT_MS		(PI_DEFAULT_EXECUTION_TIME_S * 1000)
#define EXECUTOR_DEFAULT_MEMORY_MB		PI_DEFAULT_MEMORY_MB
#define EXECUTOR_DEFAULT_FILE_SIZE_MB	PI_DEFAULT_FILE_SIZE_MB
#define EXECUTOR_DEFAULT_OUTPUT_BYTES	PI_DEFAULT_OUTPUT_BYTES
#define EXECUTOR_DEFAULT_WORKSPACE_MB	PI_DEFAULT_WORKSPACE_MB
#define EXECUTOR_DEFAULT_WORKSPACE_FILES PI_DEFAULT_WORKSPACE_FILES

/*
 * Workspace quota checks (quota.c).  While a cell runs its
 * workspace is measured every INTERVAL (a walk starts at most that often),
 * and once more after the cell; a walk looks at STEP_ENTRIES entries per
 * loop turn, its further steps STEP_GAP apart, and stops counting at
 * MAX_ENTRIES (then the workspace counts as over the quota).  The
 * overshoot is what the cell can write between two completed walks: about
 * INTERVAL plus the walk's own duration (a few ms for ordinary
 * workspaces) at the disk's write speed, and never more than one file of
 * pi.max_file_size_mb past the check that stops the cell.
 */
#define EXECUTOR_QUOTA_INTERVAL_MS		250.0
#define EXECUTOR_QUOTA_STEP_GAP_MS		10.0
#define EXECUTOR_QUOTA_STEP_ENTRIES		4096
#define EXECUTOR_QUOTA_MAX_ENTRIES		1000000L
/* final walks that find a process of the run not stopped yet, at most */
#define EXECUTOR_QUOTA_STOP_PASSES		20
/* how often and how long the final walk waits for a cgroup freeze */
#define EXECUTOR_FREEZE_POLL_MS			1.0
#define EXECUTOR_FREEZE_WAIT_MS			3000.0
/* v1 freezer: how long kernel_freeze waits for a run to freeze */
#define EXECUTOR_FREEZE_V1_WAIT_MS		100.0

/*
 * Sandbox sizes of one run (docs/sandbox.md).  The private /tmp and
 * /dev/shm are tmpfs: their pages count against the run's memory cgroup,
 * and these caps keep a disk-fill of /tmp from growing up to the memory
 * limit.  The pids limit counts processes and threads of the whole run.
 */
#define EXECUTOR_TMP_MB				512
#define EXECUTOR_SHM_MB				64
#define EXECUTOR_PIDS_MAX			256

/*
 * One stateless pool kernel at a time copies ahead the pages a typical
 * cell writes (prefault.c, at most 24 MB): two would only take turns on
 * the free core, and the loop gives that one to the next run.  Only with
 * a memory ceiling of at least this, and only to runs allowed at least
 * this much: the copied pages count in the run's memory cgroup, and would
 * otherwise be a noticeable part of a small limit.
 */
#define EXECUTOR_PREFAULT_MIN_MEMORY_MB	512

/* What the command line configures. */
typedef struct ExecutorConfig
{
	const char *socket_path;	/* relative to the data directory, or absolute */
	const char *workspace_root; /* absolute, exists */
	int			max_sync;		/* concurrent "sync" runs (pi.execute) */
	int			max_async;		/* concurrent "async" runs (job workers) */
	bool		sandbox_off;	/* --sandbox off: runs are NOT confined */
	int			prefork;		/* ready stateless kernels kept (--prefork) */
	int			max_sessions;	/* live session kernels (--max-sessions) */
	int			max_sessions_per_owner; /* --max-sessions-per-owner: for runs
										 * without "owner_max_sessions" */
	int			session_idle_timeout_s; /* --session-idle-timeout */
	int			blas_threads;	/* --blas-threads: BLAS/OpenMP threads per run */
	int			forkers;		/* --forkers: processes that clone kernels */
} ExecutorConfig;

/*
 * What a forker is told about one kernel (include/forker_protocol.h): no
 * path, no id, nothing a client sent.  The folder bound at /workspace
 * comes as a descriptor.
 */
typedef struct KernelSpec
{
	int			workspace_fd;
	bool		is_session;
	bool		workspace_is_session;
	int			memory_mb;
	int			max_file_size_mb;
	bool		copy_ahead;		/* while it waits (prefault.c) */
} KernelSpec;

/* a deadline that never comes */
#define NO_DEADLINE					1e300

#define EXECUTOR_DEFAULT_MAX_SESSIONS		PI_DEFAULT_MAX_SESSIONS
#define EXECUTOR_DEFAULT_SESSION_IDLE_S	PI_DEFAULT_SESSION_IDLE_S
/* how long a session kernel gets to answer SIGINT before SIGKILL */
#define EXECUTOR_INTERRUPT_GRACE_MS		2000.0

/*
 * Whether runs are sandboxed.  ON: every run goes through jail_clone and
 * jail_enter.  OFF: explicitly requested (pi.sandbox = off), plain fork.
 * UNAVAILABLE: the kernel refused the sandbox at start-up; every run is
 * answered with SandboxUnavailable and no code runs.
 */
typedef enum SandboxMode
{
	SANDBOX_ON,
	SANDBOX_OFF,
	SANDBOX_UNAVAILABLE
} SandboxMode;

extern SandboxMode executor_sandbox_mode;
extern JailConfig executor_jail;		/* valid when SANDBOX_ON */
extern char executor_sandbox_error[512];	/* why, when UNAVAILABLE */

/*
 * The fixed environment of every run ("NAME=value", NULL-terminated):
 * jail_default_env with the BLAS/OpenMP thread counts of --blas-threads.
 */
extern const char *const *executor_run_env;
extern int	executor_blas_threads;	/* --blas-threads */

/* One parsed 'Q' request; strings are owned by the connection. */
typedef struct RunRequest
{
	bool		is_reset;		/* op "reset_session" */
	bool		is_count;		/* op "owner_sessions" */
	bool		is_async;
	char	   *code;
	size_t		code_len;
	int			timeout_ms;
	int			memory_mb;
	int			max_file_size_mb;
	size_t		max_output_bytes;
	int			workspace_quota_mb;	/* pi.max_workspace_mb, or less: what the
									 * tenant's workspace limit leaves */
	char	   *quota_note;		/* NULL, or which limit set the quota (errors) */
	long		workspace_max_files;	/* pi.max_workspace_files */
	char	   *workspace;		/* session workspace or the run's temp dir */
	bool		workspace_is_session;
	char	   *session_id;		/* NULL when not given */
	char	   *job_id;			/* NULL when not given */
	char	   *owner;			/* the tenant (role) the run is for; NULL = "" */
	int			owner_max_sessions; /* the tenant's live session kernels at
									 * most ("owner_max_sessions"); -1 when
									 * not given: --max-sessions-per-owner */
	bool		live_output;	/* stream stdout in 'O' frames while it runs */
} RunRequest;

/*
 * Limits of the zygote's buffers.  A client gets FLUSH_TIMEOUT_MS to read
 * its answer; progress frames are dropped (the result never is) while more
 * than PROGRESS_BACKLOG bytes wait for a slow client; one result-channel
 * line may hold figures as base64, but must leave room in the 'R' frame
 * (PI_FRAME_MAX_PAYLOAD) for the two captured streams.
 */
#define EXECUTOR_FLUSH_TIMEOUT_MS	60000.0
#define EXECUTOR_PROGRESS_BACKLOG	(1024 * 1024)
/*
 * While more than this many bytes of answers wait for a kernel that does
 * not read them, its result channel is not read either: a kernel that
 * sends pi.query() requests and never reads the answers stops itself,
 * instead of growing the executor.
 */
#define EXECUTOR_CONTROL_BACKLOG	(4 * 1024 * 1024)
/*
 * pi.query() calls of one cell relayed and not yet answered.  runner.py
 * waits for each answer, so one is in flight; more come only from code
 * writing on the result channel itself, and get an error at once.
 */
#define EXECUTOR_MAX_QUERIES_IN_FLIGHT	4
/* Figures of one final line beyond what pi.max_output_bytes allows. */
#define EXECUTOR_FIGURES_MAX		(64U * 1024 * 1024)
#define EXECUTOR_RESULT_LINE_MAX	(192U * 1024 * 1024)
#define EXECUTOR_RESULT_LINE_MAX_TEXT "192 MiB"
#define EXECUTOR_READ_CHUNK			65536

/*
 * stdout of a run with "live_output": bytes read and not yet sent in an 'O'
 * frame are kept up to this many, the latest ones; older ones are dropped
 * (the frame then says "gap"), so a client that reads slowly costs the
 * executor a bounded buffer and still sees the newest output.
 */
#define EXECUTOR_LIVE_PENDING_MAX	(32 * 1024)

/* stdout or stderr of a run: kept up to limit, the rest only counted */
typedef struct Capture
{
	int			fd;
	Buf			kept;
	size_t		limit;
	unsigned long long dropped;
	bool		live;			/* stream it: pending gets every byte read */
	Buf			pending;		/* read, not yet in an 'O' frame */
	bool		gap;			/* bytes were dropped from pending since */
} Capture;

typedef enum ConnState
{
	CONN_READING,
	CONN_QUEUED,
	CONN_RUNNING,
	CONN_FLUSHING
} ConnState;

struct Kernel;

/* A set of (device, inode) pairs (held.c): hard links and held files count once. */
typedef struct InoKey
{
	dev_t		dev;
	ino_t		ino;
	bool		used;
	bool		zygote;			/* mapped by the zygote too (held.c) */
} InoKey;

typedef struct InoSet
{
	InoKey	   *slots;
	size_t		cap;			/* a power of two, or 0 */
	size_t		n;
} InoSet;

/* An incremental scan of what a run holds without a name (held.c). */
typedef struct HeldScan
{
	bool		active;
	pid_t		kernel;
	dev_t		dev;			/* the workspace's device */
	pid_t	   *pids;			/* the run's processes */
	int			npids;
	int			ipid;
	pid_t	   *tids;			/* the threads of pids[ipid] */
	int			ntids;
	int			tids_cap;
	int			itid;
	bool		tasks_read;
	bool		stop_all;		/* SIGSTOP any task not stopped yet */
	bool		unsettled;		/* one was not: scan again */
	DIR		   *fds;			/* /proc/<pid>/task/<tid>/fd being read */
	FILE	   *maps;			/* /proc/<pid>/maps being read */
	InoSet		held;			/* deleted files held by a descriptor */
	InoSet		mapped;			/* deleted files seen in a mapping */
	pid_t		mapped_by;
	unsigned long long bytes;	/* blocks of the held files */
	long		files;
	long		unmeasurable;	/* deleted files held only by a mapping */
	bool		failed;			/* the run's processes could not be read */
	char		why[256];
} HeldScan;

/* An incremental walk of a workspace (quota.c). */
typedef struct QuotaWalk
{
	bool		active;			/* started and not complete */
	int			root_fd;		/* O_PATH of the workspace; 0 = none */
	DIR		   *dir;			/* the directory being read */
	char	   *dir_rel;		/* its path below the workspace */
	char	  **pending;		/* directories still to read */
	int			npending;
	int			cap;
	unsigned long long bytes;	/* counted so far */
	long		entries;
	long		max_entries;	/* the file-count limit */
	bool		too_many;		/* stopped past max_entries (or out of memory) */
	dev_t		dev;			/* the workspace's device */
	InoSet		links;			/* files with several names, counted once */
	pid_t		kernel;			/* whose held files to count after the names */
	char	   *cgdir;			/* its cgroup directory, "" without one */
	bool		stop_all;		/* the cell is over: every process must be stopped */
	bool		names_done;
	HeldScan	held;
} QuotaWalk;

typedef struct Conn
{
	int			fd;
	ConnState	state;
	bool		dead;			/* free at the end of this loop iteration */
	unsigned long long seq;		/* arrival order, for the queue */
	double		deadline;		/* meaning depends on state */
	Buf			in;
	Buf			out;
	size_t		out_sent;

	RunRequest	req;
	bool		is_session;		/* session_id and workspace: a session run */

	struct Kernel *kernel;		/* while RUNNING */
	const char *kernel_use;		/* session runs: "started" or "reused" */
	bool		state_reset;	/* session runs: earlier state was lost */
	char	   *notice;			/* session runs: why, or other news */
	bool		interrupted;	/* session run: SIGINT sent, waiting */
	bool		oom;			/* the memory cgroup OOM-killed in the run */
	bool		oom_detectable; /* the kernel has a memory cgroup to ask */
	double		started;
	double		elapsed_ms;
	int			wait_status;
	bool		died;			/* the kernel died during the cell */
	Capture		out_cap;
	Capture		err_cap;
	bool		line_overflow;
	struct json_t *final;			/* the runner's final line */
	int			queries_in_flight;	/* 'S' frames sent, not yet answered */
	bool		cancelled;
	bool		timed_out;
	bool		client_gone;

	/* the workspace quota of the running cell */
	QuotaWalk	qwalk;
	double		quota_next;		/* next walk step, while RUNNING */
	double		quota_walk_started;
	bool		quota_final;	/* the final line is in; waiting for the walk */
	int			quota_passes;	/* final walks so far (until the run is stopped) */
	bool		freeze_wait;	/* final walk waits for the cgroup freezer */
	bool		freeze_failed;	/* ... and it did not freeze every task in time */
	double		freeze_deadline;
	bool		quota_exceeded;
	unsigned long long quota_used;	/* bytes, when exceeded */
	unsigned long long quota_held;	/* of which in deleted files still held */
	long		quota_files;	/* names plus held deleted files */
	bool		quota_too_many; /* exceeded by the number of entries */
	bool		quota_files_over;	/* over workspace_max_files */
	long		quota_unmeasurable; /* deleted files held only by a mapping */
	bool		quota_release;	/* only the kernel's end frees what it holds */
	char		quota_why[256]; /* why the run's files could not be read */
} Conn;

/*
 * A kernel: a sandboxed child forked from the zygote that waits on a
 * control pipe for cells (kernel.c).  A stateless kernel runs one
 * cell and is then killed; a session kernel keeps its namespace and waits
 * for the session's next cell.
 */
typedef struct Kernel
{
	pid_t		pid;			/* 0 while spawning */
	bool		spawning;		/* asked of a forker, not answered yet */
	unsigned int token;			/* the forker protocol's name for it */
	bool		is_session;
	char	   *session_id;		/* session kernels */
	char	   *owner;			/* session kernels: the tenant they belong to */
	char	   *workspace;		/* host path bound at /workspace */
	char	   *temp_workspace; /* pool kernels: removed after the reap */
	JailCgroup	cg;
	int			memory_mb;		/* limit at creation (RLIMIT_AS hard) */
	int			cg_memory_mb;	/* what the cgroup says now */
	int			max_file_size_mb;
	int			ctl_fd;			/* write end of the control pipe */
	int			out_fd;
	int			err_fd;
	int			res_fd;
	Buf			ctl_out;		/* cells and query answers not yet written */
	Buf			line;			/* partial result-channel line */
	bool		line_overflow;
	Conn	   *conn;			/* the cell running now, or NULL */
	double		last_used;
	int			cells;
	bool		stopping;		/* killed, waiting for the reap */
	bool		frozen;			/* session kernel stopped between cells */
	bool		cg_frozen;		/* ... and held by the cgroup freezer (v2) */
	bool		reaped;			/* exited: freed at the end of the loop turn */
	bool		retired;		/* stateless and done: to be killed */
	bool		copies_ahead;	/* a pool kernel told to copy ahead */
	char	   *stop_notice;	/* session: why its state is gone */
} Kernel;

/* heap.c */
extern void executor_heap_setup(void);
extern void executor_heap_settle(void);

/* hugepages.c */
extern size_t executor_collapse_memory(void);

/* arenas.c */
extern void executor_arenas_install(void);
extern void executor_arenas_seal(void);

/* prefault.c */
extern size_t executor_prefault_learn(pid_t probe);
extern size_t executor_prefault_pages(int control_fd);

/* settings.c */
extern const char *const executor_blas_thread_vars[];
extern bool executor_settings_set_blas_threads(int n);

/* held.c */
extern void held_set_zygote(pid_t pid);
extern int	ino_set_add(InoSet *s, dev_t dev, ino_t ino);
extern bool ino_set_has(const InoSet *s, dev_t dev, ino_t ino);
extern void ino_set_free(InoSet *s);
extern void held_start(HeldScan *h, pid_t pid, const char *cgdir, dev_t dev,
					   bool stop_all);
extern bool held_step(HeldScan *h, long budget);
extern void held_free(HeldScan *h);

/* quota.c */
extern void quota_walk_start(QuotaWalk *w, const char *root, long max_entries,
							 pid_t kernel, const char *cgdir);
extern bool quota_walk_running(const QuotaWalk *w);
extern bool quota_walk_step(QuotaWalk *w, long budget);
extern void quota_walk_free(QuotaWalk *w);

/* frames.c */
extern struct json_t *make_error(const char *type, const char *message);
extern bool conn_send_frame(Conn *c, char tag, struct json_t *payload);
extern void conn_flush(Conn *c);
extern void conn_answer(Conn *c, const char *status, struct json_t *error);
extern void conn_answer_run(Conn *c);
extern void conn_answer_json(Conn *c, struct json_t *result);
extern const char *parse_request(Conn *c, const char *payload, size_t len);
extern struct json_t *json_text_from_bytes(const char *s, size_t len, const char *suffix);

/* child.c */
extern bool executor_child_prepare(void);
extern bool executor_child_probe(const char *workspace);
extern void executor_before_fork(void);
extern void executor_after_fork_parent(void);
extern void executor_child_main(const KernelSpec *k, int ctl_fd, int stdout_fd,
								int stderr_fd, int result_fd, int sync_fd)
			__attribute__((noreturn));

/* forker.c */
extern void forker_main(int sock, bool sandbox_ok, const char *sandbox_error)
			__attribute__((noreturn));

/* zygote.c */
extern void zygote_main(const ExecutorConfig *config, const int *socks,
						int nforkers) __attribute__((noreturn));

/* forkers.c (struct ForkerRequest/ForkerReply: include/forker_protocol.h) */
struct ForkerRequest;
struct ForkerReply;
extern bool forkers_init(const int *fds, int n);
extern int	forkers_count(void);
extern int	forkers_fd(int i);
extern bool forkers_can_spawn(void);
extern int	forkers_spawn(const struct ForkerRequest *req, int workspace_fd);
extern int	forkers_receive(int i, struct ForkerReply *reply, int *fds, int *nfds);
extern bool forkers_wait_ready(double timeout_ms, bool *sandbox_ok,
							   char *why, size_t whylen);

/* kernel.c */
extern Kernel **kernels;
extern int	nkernels;
extern void kernels_init(const ExecutorConfig *cfg);
extern void kernel_spawned(const struct ForkerReply *reply, const int *fds, int nfds);
extern Kernel *kernel_by_token(unsigned int token);
extern Kernel *kernel_spawn(const char *workspace, bool is_session,
							const char *session_id, const char *owner, int memory_mb,
							int max_file_size_mb, const char **errtype,
							const char **err);
extern Kernel *kernel_take_pooled(const RunRequest *req);
extern Kernel *kernel_find_session(const char *session_id);
extern int	kernel_count_sessions(void);
extern Kernel *kernel_lru_idle_session(const char *owner);
extern int	kernel_count_owner_sessions(const char *owner);
extern const char *kernel_busiest_owner(void);
extern void kernel_stop(Kernel *k, const char *notice);
extern void kernel_retire(Kernel *k);
extern void kernel_pool_refill(void);
extern void kernel_kill_retired(void);
extern void kernel_reap_idle(double now);
extern bool kernel_send_cell(Kernel *k, const Conn *c);
extern bool kernel_send_line(Kernel *k, const char *json);
extern void kernel_flush_ctl(Kernel *k);
extern void kernel_set_memory(Kernel *k, int memory_mb);
extern void kernel_freeze(Kernel *k);
extern void kernel_end_run(Kernel *k);
extern bool kernel_thaw(Kernel *k);
extern int	kernel_frozen_yet(const Kernel *k);
extern bool kernel_stopped_yet(const Kernel *k);
extern void kernel_thaw_killed(Kernel *k);
extern Kernel *kernel_by_pid(pid_t pid);
extern void kernel_free(Kernel *k);
extern void kernel_shutdown_all(void);
extern void kernel_release_cgroups(bool wait);
extern void kernel_sweep_stale_cgroups(void);
extern void kernel_release_cg_later(const JailCgroup *cg);
extern char *kernel_take_notice(const char *session_id);
extern void kernel_put_notice(const char *session_id, const char *notice);

/* output.c: on_final gets each final line of the kernel's cell */
typedef void (*ResultFinalFn) (Kernel *k, void *arg);
extern bool capture_read(Capture *cap, int fd);
extern void capture_send_live(Conn *c, bool last);
extern bool result_read(Kernel *k, ResultFinalFn on_final, void *arg);

/* cell.c */
extern void cell_start(Conn *c, Kernel *k);
extern void conn_kill_run(Conn *c);
extern void cell_check_quota(Conn *c, double now, bool force);
extern bool cell_read_results(Kernel *k);
extern void cell_kernel_exited(Kernel *k, int status);
extern void cell_spawn_failed(Kernel *k, const char *errtype, const char *message);
extern int	cells_running(bool async);

/* requests.c */
extern Conn **conns;
extern int	nconns;
extern bool requests_can_accept(void);
extern void accept_connections(int listen_fd);
extern void conn_read(Conn *c);
extern void conn_discard_input(Conn *c);
extern void conn_hangup(Conn *c);
extern void conn_free(Conn *c);
extern void sweep_connections(void);

/* schedule.c */
extern void schedule_init(const ExecutorConfig *cfg);
extern void start_queued_runs(void);
extern void check_deadlines(double now);
extern void check_quotas(double now);

/* loop.c */
extern int	executor_loop_run(const ExecutorConfig *config, int listen_fd,
							  pid_t zygote);

#endif							/* PI_EXECUTOR_H */
