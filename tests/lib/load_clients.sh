# tests/lib/load_clients.sh: the client side of tests/load and tests/faults.
# Source it after tests/lib/cluster.sh, once load_procedures.sql is in.
#
#   load_clients_start DIR SECONDS SYNC JOBS SESSIONS
#       starts that many psql clients of load_sync, load_jobs and
#       load_session for SECONDS each, in the background; their pids are
#       in LOAD_CLIENT_PIDS, each writes DIR/KIND-N.out
#   load_clients_tally DIR
#       after they ended: sets LOAD_OK, LOAD_BUSY, LOAD_BAD, LOAD_MISSING
#       (clients that reported nothing) and LOAD_KINDS (the kinds of the
#       bad answers, space-separated), and prints a comment line for each
#       client with bad answers or none reported

load_clients_start() {
	local dir=$1 seconds=$2 kind n i
	as_pg mkdir -p "$dir"
	LOAD_CLIENT_PIDS=()
	for kind in sync jobs session; do
		case $kind in sync) n=$3 ;; jobs) n=$4 ;; session) n=$5 ;; esac
		for i in $(seq 1 "$n"); do
			as_pg "$PI_PGBIN/psql" -X -A -t -q -F '|' -h "$PI_TEST_DIR" -p "$PI_TEST_PORT" \
				-d "$PI_TEST_DB" -c "CALL load_$kind($seconds)" > "$dir/$kind-$i.out" 2>&1 &
			LOAD_CLIENT_PIDS+=($!)
		done
	done
}

load_clients_tally() {
	local f line o b x kinds last
	LOAD_OK=0; LOAD_BUSY=0; LOAD_BAD=0; LOAD_MISSING=0; LOAD_KINDS=""
	for f in "$1"/*.out; do
		line=$(grep -E '^[0-9]+\|[0-9]+\|[0-9]+\|' "$f" | tail -n 1)
		if [ -z "$line" ]; then
			LOAD_MISSING=$((LOAD_MISSING + 1)); echo "# $(basename "$f"): $(head -c 300 "$f")"; continue
		fi
		IFS='|' read -r o b x kinds last <<< "$line"
		LOAD_OK=$((LOAD_OK + o)); LOAD_BUSY=$((LOAD_BUSY + b)); LOAD_BAD=$((LOAD_BAD + x))
		LOAD_KINDS="$LOAD_KINDS $kinds"
		[ "$x" -gt 0 ] && echo "# $(basename "$f"): $x other answers ($kinds), e.g. $last"
	done
	return 0
}
