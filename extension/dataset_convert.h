/*-------------------------------------------------------------------------
 *
 * dataset_convert.h
 *	  The formats pi.load_dataset takes besides CSV (xlsx, JSON Lines), and
 *	  their conversion to a workspace CSV in a sandboxed run
 *	  (dataset_convert.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef DATASET_CONVERT_H
#define DATASET_CONVERT_H

#include "csv_analysis.h"

/*
 * What the conversion tells the load: how a line of the CSV maps back to
 * the source (line N of the CSV is "<where> N + row_offset"), and which
 * columns keep a type the CSV text cannot show.
 */
typedef struct DatasetConversion
{
	char	   *sheet;			/* xlsx: the sheet loaded; else NULL */
	char	   *where;			/* "line" or "sheet \"Data\", row" */
	int			row_offset;
	List	   *text_columns;	/* indexes: numbers stored as text stay text */
	List	   *json_columns;	/* indexes: nested JSON values, jsonb */
} DatasetConversion;

extern const char *dataset_format_detect(const char *path, int fd, const char *requested);
extern void dataset_convert(const char *job_id, const char *workspace, const char *owner,
							const char *source, const char *format, const char *sheet,
							const char *target, int64 file_bytes,
							CsvProgressFn progress, void *progress_arg,
							DatasetConversion *conv);

#endif							/* DATASET_CONVERT_H */
