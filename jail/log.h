/*-------------------------------------------------------------------------
 *
 * log.h
 *	  The pi-executor program's one logger (log.c), shared by the sandbox
 *	  library and the executor.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PI_LOG_H
#define PI_LOG_H

/* Every line of the executor and its sandbox starts with this. */
#define PI_LOG_PREFIX "pi-executor: "

extern void pi_log(const char *fmt,...)
			__attribute__((format(printf, 1, 2)));

/* The sandbox library's lines say they come from it. */
#define jail_log(fmt, ...) pi_log("sandbox: " fmt, ##__VA_ARGS__)

#endif							/* PI_LOG_H */
