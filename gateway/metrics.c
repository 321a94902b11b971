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

/* The kinds of pi.jobs rows: each gets a series, 0 when it has no rows. */
static const char *const job_kinds[] = {"async", "load_csv", "sync"};

static void
render_by_kind(FILE *f, const char *name, const char *help, json_t *counts)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
	for (size_t i = 0; i < sizeof(job_kinds) / sizeof(job_kinds[0]); i++)
		fprintf(f, "%s{kind=\"%s\"} %" JSON_INTEGER_FORMAT "\n", name, job_kinds[i],
				json_integer_value(json_object_get(counts, job_kinds[i])));
}

/*
 * Job figures from PostgreSQL, one cheap call of pi.job_counts() (a
 * SECURITY DEFINER function, so a gateway logged in as a plain role, which
 * cannot read pi.jobs, gets them too).  When PostgreSQL is down or the
 * function is missing, a comment says why and the gateway's own metrics
 * are still served.
 */
static void
render_jobs(FILE *f)
{
	GwError		err = {0};
	PGconn	   *conn = db_acquire(&err);
	json_t	   *c = NULL;
	json_t	   *row;
	size_t		i;

	if (conn != NULL)
	{
		c = db_exec_json(conn, "SELECT pi.job_counts()", 0, NULL, &err);
		db_release(conn);
	}
	if (!json_is_object(c))
	{
		/* one line: a message never holds a newline that ends the comment */
		err.message[strcspn(err.message, "\r\n")] = '\0';
		fprintf(f, "# job figures unavailable: %s\n", err.message[0] ? err.message :
				"pi.job_counts() answered no object");
		json_decref(c);
		return;
	}
	render_by_kind(f, "pi_jobs_queued", "Jobs waiting for a worker (pending), by kind.",
				   json_object_get(c, "queued"));
	render_by_kind(f, "pi_jobs_running", "Jobs running, by kind.",
				   json_object_get(c, "running"));
	fprintf(f, "# HELP pi_jobs_finished_last_hour Jobs that ended in the last hour, "
			"by kind and status (completed, failed, timeout, cancelled).\n"
			"# TYPE pi_jobs_finished_last_hour gauge\n");
	json_array_foreach(json_object_get(c, "finished_last_hour"), i, row)
		fprintf(f, "pi_jobs_finished_last_hour{kind=\"%s\",status=\"%s\"} %"
				JSON_INTEGER_FORMAT "\n",
				json_string_value(json_object_get(row, "kind")) ?: "",
				json_string_value(json_object_get(row, "status")) ?: "",
				json_integer_value(json_object_get(row, "jobs")));
	fprintf(f, "# HELP pi_executor_busy_slots Executor slots running a job or an execute call.\n"
			"# TYPE pi_executor_busy_slots gauge\n"
			"pi_executor_busy_slots %" JSON_INTEGER_FORMAT "\n",
			json_integer_value(json_object_get(json_object_get(c, "running"), "async")) +
			json_integer_value(json_object_get(json_object_get(c, "running"), "load_csv")) +
			json_integer_value(json_object_get(c, "sync_runs_active")));
	json_decref(c);
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
