/*-------------------------------------------------------------------------
 *
 * metrics.c
 *	  Prometheus metrics of pi-gateway: requests by route and status, a
 *	  latency histogram, requests in flight, and (read from PostgreSQL at
 *	  scrape time) jobs by status and busy executor slots.
 *
 *-------------------------------------------------------------------------
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

/*
 * Histogram bucket bounds in seconds: from a /health round trip (~0.1 ms)
 * to a long pi.execute (the 60 s default timeout).
 */
static const double bucket_le[] = {0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 60};
#define N_BUCKETS (int) (sizeof(bucket_le) / sizeof(bucket_le[0]))

/* Distinct (route, status) pairs are few: routes x a handful of statuses. */
#define MAX_SERIES 256

typedef struct Series
{
	const char *route;
	int			status;
	uint64_t	count;
} Series;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static Series series[MAX_SERIES];
static int	n_series;
static uint64_t buckets[N_BUCKETS + 1];
static double latency_sum;
static uint64_t latency_count;
static int	inflight;

void
metrics_inflight(int delta)
{
	pthread_mutex_lock(&lock);
	inflight += delta;
	pthread_mutex_unlock(&lock);
}

void
metrics_observe(const char *route, int status, double seconds)
{
	int			i;

	pthread_mutex_lock(&lock);
	for (i = 0; i < n_series; i++)
		if (series[i].status == status && strcmp(series[i].route, route) == 0)
			break;
	if (i == n_series && n_series < MAX_SERIES)
	{
		series[i].route = route;	/* a route table pattern: static */
		series[i].status = status;
		n_series++;
	}
	if (i < MAX_SERIES)
		series[i].count++;
	for (i = 0; i < N_BUCKETS && seconds > bucket_le[i]; i++)
		;
	buckets[i]++;
	latency_sum += seconds;
	latency_count++;
	pthread_mutex_unlock(&lock);
}

/* Jobs by status and running jobs, from PostgreSQL; skipped if it is down. */
static void
render_jobs(FILE *f)
{
	GwError		err = {0};
	PGconn	   *conn = db_acquire(&err);
	PGresult   *res;

	if (conn == NULL)
		return;
	res = db_exec(conn, "SELECT status, count(*) FROM pi.jobs GROUP BY 1 ORDER BY 1",
				  0, NULL, NULL, NULL, 0, &err);
	if (res != NULL)
	{
		fprintf(f, "# HELP pi_jobs Jobs in pi.jobs by status.\n# TYPE pi_jobs gauge\n");
		for (int i = 0; i < PQntuples(res); i++)
			fprintf(f, "pi_jobs{status=\"%s\"} %s\n", PQgetvalue(res, i, 0),
					PQgetvalue(res, i, 1));
		fprintf(f, "# HELP pi_executor_busy_slots Executor slots running a job or an execute call.\n"
				"# TYPE pi_executor_busy_slots gauge\n");
		PQclear(res);
		res = db_exec(conn,
					  "SELECT (SELECT count(*) FROM pi.jobs WHERE status = 'running')"
					  " + (SELECT count(*) FROM pg_stat_activity"
					  "    WHERE state = 'active' AND query LIKE '%pi.execute(%'"
					  "    AND pid <> pg_backend_pid())",
					  0, NULL, NULL, NULL, 0, &err);
		if (res != NULL)
			fprintf(f, "pi_executor_busy_slots %s\n", PQgetvalue(res, 0, 0));
	}
	PQclear(res);
	db_release(conn);
}

/* The Prometheus text, malloc'd; NULL when out of memory. */
char *
metrics_render(void)
{
	char	   *buf = NULL;
	size_t		len = 0;
	FILE	   *f = open_memstream(&buf, &len);
	uint64_t	cum = 0;

	if (f == NULL)
		return NULL;
	pthread_mutex_lock(&lock);
	fprintf(f, "# HELP pi_gateway_requests_total HTTP requests by route and status.\n"
			"# TYPE pi_gateway_requests_total counter\n");
	for (int i = 0; i < n_series; i++)
		fprintf(f, "pi_gateway_requests_total{route=\"%s\",status=\"%d\"} %llu\n",
				series[i].route, series[i].status,
				(unsigned long long) series[i].count);
	fprintf(f, "# HELP pi_gateway_request_duration_seconds Request latency.\n"
			"# TYPE pi_gateway_request_duration_seconds histogram\n");
	for (int i = 0; i < N_BUCKETS; i++)
	{
		cum += buckets[i];
		fprintf(f, "pi_gateway_request_duration_seconds_bucket{le=\"%g\"} %llu\n",
				bucket_le[i], (unsigned long long) cum);
	}
	fprintf(f, "pi_gateway_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n"
			"pi_gateway_request_duration_seconds_sum %.6f\n"
			"pi_gateway_request_duration_seconds_count %llu\n",
			(unsigned long long) latency_count, latency_sum,
			(unsigned long long) latency_count);
	fprintf(f, "# HELP pi_gateway_requests_in_flight Requests being served.\n"
			"# TYPE pi_gateway_requests_in_flight gauge\n"
			"pi_gateway_requests_in_flight %d\n", inflight);
	pthread_mutex_unlock(&lock);
	render_jobs(f);
	fclose(f);
	return buf;
}
