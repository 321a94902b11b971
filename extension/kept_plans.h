/*-------------------------------------------------------------------------
 *
 * kept_plans.h
 *	  SPI plans prepared once per backend and kept for its life.
 *
 *-------------------------------------------------------------------------
 */
#ifndef KEPT_PLANS_H
#define KEPT_PLANS_H

#include "executor/spi.h"

extern SPIPlanPtr pi_kept_plan(SPIPlanPtr *cache, const char *sql,
							   int nargs, Oid *argtypes);

#endif							/* KEPT_PLANS_H */
