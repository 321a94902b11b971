# tests/gateway/keyfile.sh: sourced by run.sh.  API_KEY_FILE: the key from a
# file only its owner can read (what `make run` uses, so that no command
# line holds the key).
KF=$PI_TEST_DIR/api_key
KP=$(pi_free_port)
printf '%s\n' "$KEY" >"$KF"
chmod 644 "$KF"
OUT=$(env -u API_KEY API_KEY_FILE="$KF" PORT="$KP" timeout 5 "$GW" 2>&1); RC=$?
check "API_KEY_FILE readable by others: refused (exit 2, says chmod 600)" '[ "$RC" = 2 ] && [[ "$OUT" == *"chmod 600"* ]]'
chmod 600 "$KF"
OUT=$(API_KEY="$KEY" API_KEY_FILE="$KF" PORT="$KP" timeout 5 "$GW" 2>&1); RC=$?
check "API_KEY and API_KEY_FILE both: refused (exit 2)" '[ "$RC" = 2 ] && [[ "$OUT" == *"not both"* ]]'
OUT=$(env -u API_KEY API_KEY_FILE="$PI_TEST_DIR/no-such-file" PORT="$KP" timeout 5 "$GW" 2>&1); RC=$?
check "API_KEY_FILE missing: refused (exit 2)" '[ "$RC" = 2 ] && [[ "$OUT" == *"cannot open"* ]]'
env -u API_KEY API_KEY_FILE="$KF" PORT="$KP" "$GW" >>"$GWLOG" 2>&1 &
KF_PID=$!
# our process must hold the port: another run's gateway may answer on it
wait_until 10 pi_pid_listens "$KF_PID" "$KP"
S1=$(curl -s -o /dev/null -w '%{http_code}' -H "X-API-Key: $KEY" "http://127.0.0.1:$KP/api/data/datasets")
S2=$(curl -s -o /dev/null -w '%{http_code}' -H "X-API-Key: x$KEY" "http://127.0.0.1:$KP/api/data/datasets")
check "API_KEY_FILE 0600: its first line is the key (200), another is refused (401)" '[ "$S1" = 200 ] && [ "$S2" = 401 ]'
kill "$KF_PID" 2>/dev/null; wait "$KF_PID" 2>/dev/null
