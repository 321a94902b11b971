/*-------------------------------------------------------------------------
 *
 * load_options.h
 *	  Checking a load's dataset name and options (load_options.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef LOAD_OPTIONS_H
#define LOAD_OPTIONS_H

#include "csv_analysis.h"
#include "utils/jsonb.h"

extern void load_check_dataset_name(const char *name);
extern void load_parse_options(Jsonb *options, CsvLoadOptions *o);
extern void load_check_options_for_format(const CsvLoadOptions *o, const char *format);

#endif							/* LOAD_OPTIONS_H */
