#!/usr/bin/env bash
# tests/datasets/run.sh: pi.load_csv, pi.load_dataset and pi.query on a real cluster, for what
# pg_regress cannot show: a reader that holds the old table while a load
# replaces it, progress of a large load, cancelling a load, very wide files.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/cluster.sh"

pi_cluster_start || { echo "cluster did not start"; echo "0 passed, 1 failed"; exit 1; }
SID=$(pi_sql "SELECT pi.create_session('datasets')")
WS=$(pi_sql "SELECT workspace FROM pi.sessions WHERE id = '$SID'")

# load PATH NAME [OPTIONS]: submit and wait; sets LAST_JOB and LAST_STATUS
LAST_JOB=; LAST_STATUS=
load() {
  local st=
  LAST_JOB=$(pi_sql "SELECT pi.load_csv('$1', '$2', '$SID', '${3:-{\}}')") || { LAST_STATUS=error; return 1; }
  for _ in $(seq 1 600); do
    st=$(pi_sql "SELECT status FROM pi.jobs WHERE id = '$LAST_JOB'")
    case "$st" in pending|running) sleep 0.1 ;; *) break ;; esac
  done
  LAST_STATUS=$st
}

echo "# a reader keeps seeing the old table while a load replaces it"
printf 'x\n1\n2\n' | as_pg tee "$WS/v1.csv" >/dev/null
printf 'x\n10\n20\n30\n' | as_pg tee "$WS/v2.csv" >/dev/null
load v1.csv swap
check "first load" "[ \"$LAST_STATUS\" = completed ]"
coproc READER { as_pg "$PI_PGBIN/psql" -X -A -t -q -h "$PI_TEST_DIR" -p "$PI_TEST_PORT" -d "$PI_TEST_DB" 2>&1; }
echo "BEGIN; SELECT 'r1', count(*) FROM pi_data.swap;" >&"${READER[1]}"
read -r -t 10 first <&"${READER[0]}"
job=$(pi_sql "SELECT pi.load_csv('v2.csv', 'swap', '$SID')")
# poll for the state (running, and some backend waiting on a lock) rather
# than sleep a guessed time: a busy machine may take seconds to start it
check "the replacing load waits for the reader" \
  "wait_sql 30 \"SELECT status FROM pi.jobs WHERE id = '$job'\" running &&
   wait_sql 20 \"SELECT count(*) > 0 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()\" t &&
   [ \"\$(pi_sql \"SELECT status FROM pi.jobs WHERE id = '$job'\")\" = running ]"
echo "SELECT 'r2', count(*) FROM pi_data.swap; COMMIT;" >&"${READER[1]}"
read -r -t 10 second <&"${READER[0]}"
check "the reader saw the old rows throughout" "[ \"$first\" = 'r1|2' ] && [ \"$second\" = 'r2|2' ]"
exec {READER[1]}>&-
check "after the reader commits, the new table is in place" \
  wait_sql 20 "SELECT count(*) FROM pi_data.swap" 3
check "one table for the dataset" \
  "[ \"\$(pi_sql \"SELECT count(*) FROM pg_tables WHERE schemaname = 'pi_data' AND tablename LIKE 'swap%'\")\" = 1 ]"

echo "# very wide files"
as_pg /usr/bin/python3 -c "
import sys
with open('$WS/wide.csv', 'w') as f:
    f.write(','.join('c%d' % i for i in range(1601)) + '\n')
    f.write(','.join(str(i) for i in range(1601)) + '\n')
with open('$WS/wide_ok.csv', 'w') as f:
    f.write(','.join('c%d' % i for i in range(1600)) + '\n')
    f.write(','.join(str(i) for i in range(1600)) + '\n')
"
load wide.csv wide
check "1601 columns: failed" "[ \"$LAST_STATUS\" = failed ]"
check "1601 columns: the error says why" \
  "pi_sql \"SELECT pi.job_result('$LAST_JOB')->'error'->>'message'\" | grep -q 'at most 1600'"
load wide_ok.csv wide_ok
check "1600 columns load" "[ \"$LAST_STATUS\" = completed ]"
check "1600 columns are there" \
  "[ \"\$(pi_sql \"SELECT jsonb_array_length(columns) FROM pi.datasets WHERE name = 'wide_ok'\")\" = 1600 ]"

echo "# a wide latin1 file loads like its UTF-8 twin (header names converted, kept in memory)"
as_pg /usr/bin/python3 -c "
for enc, name in (('latin-1', 'wide_latin1.csv'), ('utf-8', 'wide_utf8.csv')):
    with open('$WS/' + name, 'w', encoding=enc) as f:
        f.write(','.join('caf\u00e9_%d' % i for i in range(1200)) + '\n')
        for r in range(20):
            f.write(','.join(str(i * r) for i in range(1200)) + '\n')
"
load wide_utf8.csv wide_utf8
t_utf8=$(pi_sql "SELECT (result->>'elapsed_ms')::numeric FROM pi.jobs WHERE id = '$LAST_JOB'")
s_utf8=$(pi_sql "SELECT octet_length(result::text) FROM pi.jobs WHERE id = '$LAST_JOB'")
load wide_latin1.csv wide_latin1 '{"encoding": "latin1"}'
check "1200 latin1 columns: completed" "[ \"$LAST_STATUS\" = completed ]"
t_lat=$(pi_sql "SELECT (result->>'elapsed_ms')::numeric FROM pi.jobs WHERE id = '$LAST_JOB'")
s_lat=$(pi_sql "SELECT octet_length(result::text) FROM pi.jobs WHERE id = '$LAST_JOB'")
echo "#     UTF-8: ${s_utf8} bytes of result, ${t_utf8} ms; latin1: ${s_lat} bytes, ${t_lat} ms"
check "1200 latin1 columns: the result is the size of the UTF-8 one" \
  "[ \"$s_lat\" -gt 0 ] && [ \"$s_lat\" -le \$(( s_utf8 + 1000 )) ] && [ \"$s_lat\" -ge \$(( s_utf8 - 1000 )) ]"
check "1200 latin1 columns: the load takes no more than 3x the UTF-8 one (+500 ms)" \
  "awk -v a='$t_lat' -v b='$t_utf8' 'BEGIN { exit !(a <= 3 * b + 500) }'"
check "1200 latin1 columns: original header names are the converted text" \
  "[ \"\$(pi_sql \"SELECT count(*) FROM pi.datasets, jsonb_array_elements(columns) c WHERE name = 'wide_latin1' AND c->>'original' = 'café_' || substring(c->>'name' from '[0-9]+\$')\")\" = 1200 ]"
as_pg /usr/bin/python3 -c "
with open('$WS/wide1600_latin1.csv', 'w', encoding='latin-1') as f:
    f.write(','.join('caf\u00e9_%d' % i for i in range(1600)) + '\n')
    f.write(','.join(str(i) for i in range(1600)) + '\n')
"
load wide1600_latin1.csv wide1600_latin1 '{"encoding": "latin1"}'
check "1600 latin1 columns: completed" "[ \"$LAST_STATUS\" = completed ]"
check "1600 latin1 columns: table and registry row agree with the job" \
  "[ \"\$(pi_sql \"SELECT count(*) FROM pi.datasets WHERE name = 'wide1600_latin1'\")\" = 1 ]"

echo "# a load that fails before its table is set up leaves no file mapped in the worker"
as_pg /usr/bin/python3 -c "
with open('$WS/wide_big.csv', 'w') as f:
    f.write(','.join('c%d' % i for i in range(1601)) + '\n')
    row = ','.join('1' for i in range(1601)) + '\n'
    for _ in range((40 << 20) // len(row)):
        f.write(row)
"
load wide_big.csv wide_big
check "40 MB file of 1601 columns: failed" "[ \"$LAST_STATUS\" = failed ]"
wpid=$(pi_sql "SELECT worker_pid FROM pi.jobs WHERE id = '$LAST_JOB'")
check "the worker that ran it no longer maps the file" \
  "[ -n '$wpid' ] && [ -r /proc/$wpid/maps ] && ! grep -q wide_big.csv /proc/$wpid/maps"

echo "# large files are analysed on two cores; the halves must agree with one pass"
as_pg /usr/bin/python3 -c "
with open('$WS/split_types.csv', 'w') as f:
    f.write('id,v,d\\n')
    n = 2000000
    for i in range(n):
        v = '%d.5' % i if i == n - 10 else str(i)
        d = '2024-02-30' if i == n - 5 else '2024-01-%02d' % (1 + i % 28)
        f.write('%d,%s,%s\\n' % (i, v, d))
with open('$WS/split_quotes.csv', 'w') as f:
    f.write('id,note,x\\n')
    for i in range(1100000):
        f.write('%d,\"first, line\\nsecond %d\",%d\\n' % (i, i, i % 7))
"
load split_types.csv split_types
check "two-core analysis: completed, on two cores" \
  "[ \"$LAST_STATUS\" = completed ] && [ \"\$(pi_sql \"SELECT pi.job_result('$LAST_JOB')->>'analysis_cores'\")\" = 2 ]"
check "a decimal near the end makes the column numeric, an impossible date near the end makes it text" \
  "[ \"\$(pi_sql \"SELECT string_agg(c->>'type', ',' ORDER BY o) FROM pi.datasets, jsonb_array_elements(columns) WITH ORDINALITY AS t(c, o) WHERE name = 'split_types'\")\" = 'integer,numeric,text' ]"
check "every row loaded" "[ \"\$(pi_sql 'SELECT count(*) FROM pi_data.split_types')\" = 2000000 ]"
load split_quotes.csv split_quotes
check "quoted newlines around the split: completed" "[ \"$LAST_STATUS\" = completed ]"
check "quoted newlines around the split: every row, newlines kept" \
  "[ \"\$(pi_sql \"SELECT count(*) || '/' || count(*) FILTER (WHERE position(chr(10) in note) > 0) FROM pi_data.split_quotes\")\" = 1100000/1100000 ]"

echo "# progress of a large load, and cancelling one"
as_pg /usr/bin/python3 -c "
import random
r = random.Random(1)
with open('$WS/big.csv', 'w') as f:
    f.write('id,v,t\n')
    for i in range(1500000):
        f.write('%d,%d.%02d,text number %d\n' % (i, r.randrange(10**6), r.randrange(100), i))
"
job=$(pi_sql "SELECT pi.load_csv('big.csv', 'big', '$SID')")
seen=0
for _ in $(seq 1 300); do
  p=$(pi_sql "SELECT coalesce(pi.job_status('$job')->>'progress', '0')")
  st=$(pi_sql "SELECT status FROM pi.jobs WHERE id = '$job'")
  case "$p" in 0|0.0|"") ;; 1|1.0) ;; *) seen=1 ;; esac
  case "$st" in pending|running) sleep 0.05 ;; *) break ;; esac
done
check "job_status showed progress between 0 and 1 while loading" "[ $seen = 1 ]"
check "the large load completed" "[ \"\$(pi_sql \"SELECT status FROM pi.jobs WHERE id = '$job'\")\" = completed ]"
check "all rows are there" "[ \"\$(pi_sql 'SELECT count(*) FROM pi_data.big')\" = 1500000 ]"
job=$(pi_sql "SELECT pi.load_csv('big.csv', 'big_cancelled', '$SID')")
wait_sql 10 "SELECT status FROM pi.jobs WHERE id = '$job'" running
pi_sql "SELECT pi.cancel_job('$job')" >/dev/null
check "a cancelled load ends cancelled" wait_sql 30 "SELECT status FROM pi.jobs WHERE id = '$job'" cancelled
check "a cancelled load leaves no table and no registry row" \
  "[ \"\$(pi_sql \"SELECT count(*) FROM pg_tables WHERE tablename = 'big_cancelled'\")\$(pi_sql \"SELECT count(*) FROM pi.datasets WHERE name = 'big_cancelled'\")\" = 00 ]"

# a load on two backends; crashes and cancels in each of its phases
. "$HERE/split.sh"

# pi.load_dataset: xlsx and JSON Lines
. "$HERE/formats.sh"

summary
