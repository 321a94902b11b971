/*-------------------------------------------------------------------------
 *
 * pi_main.c
 *	  Module entry point of power_interpreter: settings, shared memory and
 *	  the launcher background worker, all of which need the library in
 *	  shared_preload_libraries.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"

#include "guc.h"
#include "shmem.h"
#include "workers.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	pi_define_settings();

	/*
	 * Without preloading there are no workers and no executor: the SQL
	 * functions say so when called (executor_client.c), so CREATE EXTENSION
	 * still works and the error points at the missing setting.
	 */
	if (!process_shared_preload_libraries_in_progress)
		return;

	pi_shmem_install_hooks();
	pi_register_launcher();
}
