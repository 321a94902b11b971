/*-------------------------------------------------------------------------
 *
 * workers.h
 *	  The background workers (bgworker/launcher.c, bgworker/worker.c): the
 *	  launcher's registration and the entry points the postmaster calls by
 *	  name.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PI_WORKERS_H
#define PI_WORKERS_H

extern void pi_register_launcher(void);
extern PGDLLEXPORT void pi_launcher_main(Datum main_arg);
extern PGDLLEXPORT void pi_worker_main(Datum main_arg);
extern PGDLLEXPORT void pi_load_helper_main(Datum main_arg);
extern bool pi_executor_died(pid_t executor);
extern void pi_wait_for_executor(void);

#endif							/* PI_WORKERS_H */
