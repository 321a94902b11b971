#!/bin/bash
# tests/executor/run.sh
#	End-to-end tests of executor/pi-executor: starts the executor on a
#	temporary socket and workspace root, runs snippets through the test
#	client (pi-exec-client) and checks the 'P'/'R' frames with jq.
#
#	bash tests/executor/run.sh			(builds what it needs first)
#	PI_EXEC_BENCH=1 bash tests/executor/run.sh	(also 200 x print(1) latency)
#
# Ends with "N passed, M failed" and a non-zero status on any failure.

set -u
cd "$(dirname "$0")/../.."
ROOT=$PWD
make -s -f executor/executor.mk executor/pi-executor tests/executor/pi-exec-client || exit 2

EXECUTOR=$ROOT/executor/pi-executor
CLIENT=$ROOT/tests/executor/pi-exec-client
TMP=$(mktemp -d /tmp/pi-executor-test.XXXXXX)
SOCK=pi_executor.sock			# relative, as the launcher passes it
SESSION=$TMP/root/session-1
mkdir -p "$SESSION"
PASSED=0
FAILED=0

cleanup()
{
	[ -n "${EXEC_PID:-}" ] && kill "$EXEC_PID" 2>/dev/null && wait "$EXEC_PID" 2>/dev/null
	[ -n "${K_PID:-}" ] && kill "$K_PID" 2>/dev/null && wait "$K_PID" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

pass() { PASSED=$((PASSED + 1)); echo "ok - $1"; }
fail()
{
	FAILED=$((FAILED + 1))
	echo "not ok - $1"
	[ -n "${2:-}" ] && sed 's/^/#   /' "$2" | cut -c1-400
}

# kernels_of PID: the kernels of the executor PID (executor -> zygote ->
# forkers -> kernels: the loop never forks kernels itself)
kernels_of()
{
	local z f
	for z in $(pgrep -P "$1"); do
		for f in $(pgrep -P "$z"); do pgrep -P "$f"; done
	done
}

# run NAME [client options...]: code on stdin; frames land in $TMP/NAME.out
run()
{
	local name=$1
	shift
	(cd "$TMP" && "$CLIENT" "$SOCK" "$@") > "$TMP/$name.out" 2>&1
}

# matches NAME JQ-FILTER: the 'R' frame of run NAME satisfies the filter
matches()
{
	grep -q '^R ' "$TMP/$1.out" 2>/dev/null &&
		grep '^R ' "$TMP/$1.out" | cut -c3- | jq -e "$2" > /dev/null 2>&1
}

# check NAME JQ-FILTER: a test that passes when matches does
check()
{
	local name=$1 filter=$2
	if matches "$name" "$filter"; then
		pass "$name"
	else
		fail "$name" "$TMP/$name.out"
	fi
}

# --- start the executor in its own working directory, like the launcher does
cd "$TMP"
env -i "$EXECUTOR" --socket "$SOCK" --workspace-root "$TMP/root" \
	--max-sync 2 --max-async 2 2> "$TMP/executor.log" &
EXEC_PID=$!
cd "$ROOT"
for _ in $(seq 1 100); do
	grep -q "ready in" "$TMP/executor.log" 2>/dev/null && break
	sleep 0.1
done
if ! grep -q "ready in" "$TMP/executor.log"; then
	echo "executor did not start:"; cat "$TMP/executor.log"; exit 1
fi
grep "ready in" "$TMP/executor.log"

# --- results and errors
run print_one <<< 'print(1)'
check print_one '.status == "completed" and .stdout == "1\n" and .result == null'

# an idle stateless pool kernel copies ahead the pages a typical cell writes
# (prefault.c), only while it has a core to itself: its private memory grows
# to about what the zygote learned (~3 MB without); the runs below use them
LEARNED_KB=$(sed -n 's/.*a typical cell writes [0-9]* pages (\([0-9]*\) kB).*/\1/p' "$TMP/executor.log" | tail -1)
copied_ahead()
{
	for k in $(kernels_of "$EXEC_PID"); do
		awk -v want="$1" '/^Private_Dirty:/ && $2 >= want {f = 1} END {exit !f}' "/proc/$k/smaps_rollup" 2>/dev/null && return 0
	done
	return 1
}
COPIED=no
for _ in $(seq 1 300); do
	[ "${LEARNED_KB:-0}" -gt 8192 ] && copied_ahead $((LEARNED_KB * 3 / 4)) && { COPIED=yes; break; }
	sleep 0.1
done
[ $COPIED = yes ] && pass pool_kernel_copies_ahead || fail "pool_kernel_copies_ahead (learned: ${LEARNED_KB:-nothing} kB)" "$TMP/executor.log"

run last_expression <<< $'x = 2\nx * 21;'
check last_expression '.result.type == "int" and .result.json == 42'

# the runner splits off the last expression from the source alone when it
# can (cellcode.py, _compile_without_tree): the code it makes behaves as the syntax
# tree's split does (value, printed output, names made, exception and its
# line) for hand-picked cells and 3,000 random ones, and it is taken for
# most ordinary cells
run cell_split_same_as_tree < "$ROOT/tests/executor/cell_split.py"
check cell_split_same_as_tree '.status == "completed" and .result.json[0] == 0 and .result.json[1] >= 11'

run split_semicolon <<< $'x = 1; x + 1'
check split_semicolon '.status == "completed" and .result.json == 2'
run split_error_line <<< $'y = 2\n\n\nz = y\nz / 0'
check split_error_line '.status == "failed" and .error.type == "ZeroDivisionError" and (.error.traceback | test("line 5"))'

run dataframe_table <<< $'df = pd.DataFrame({"a": range(150), "b": [0.5] * 150})\ndf["b"].iloc[3] = float("nan")\ndf'
check dataframe_table '.result.type == "DataFrame" and .result.table.shape == [150, 2]
	and .result.table.columns == ["a", "b"] and (.result.table.data | length) == 100
	and .result.table.data[3] == [3, null] and .result.table.truncated
	and (.result.text | contains("..."))'

run exception_traceback <<< $'a = 1\n\ndef f():\n    return 1 / 0\nf()'
check exception_traceback '.status == "failed" and .error.type == "ZeroDivisionError"
	and (.error.traceback | contains("File \"<cell>\", line 5, in <module>"))
	and (.error.traceback | contains("line 4, in f\n    return 1 / 0"))
	and (.error.traceback | contains("pi-runner") | not)'

run syntax_error <<< $'x = 1\nif x\n    pass'
check syntax_error '.status == "failed" and .error.type == "SyntaxError" and .error.line == 2'

# --- a workspace is bound only from beneath the workspace root, never through a link
mkdir -p "$TMP/outside"
run workspace_outside_root <<< 'print(1)' --workspace "$TMP/outside" --session-id 22222222-0000-0000-0000-000000000001
check workspace_outside_root '.status == "failed" and .error.type == "WorkspaceError"
	and (.error.message | contains("not beneath"))'
ln -s "$TMP/outside" "$TMP/root/link-out"
run workspace_through_link <<< 'print(1)' --workspace "$TMP/root/link-out" --session-id 22222222-0000-0000-0000-000000000002
check workspace_through_link '.status == "failed" and .error.type == "WorkspaceError"'
run workspace_dotdot <<< 'print(1)' --workspace "$TMP/root/session-1/../../outside" --session-id 22222222-0000-0000-0000-000000000003
check workspace_dotdot '.status == "failed" and .error.type == "WorkspaceError"'
run workspace_own_folder <<< 'print(1)' --workspace "$TMP/root/.runs" --session-id 22222222-0000-0000-0000-000000000004
check workspace_own_folder '.status == "failed" and .error.type == "WorkspaceError"'

# --- every value comes back, and an unreadable result line is an answer at once
run big_int_result <<< '2**64'
check big_int_result '.status == "completed" and .result.type == "int"
	and .result.json == "18446744073709551616" and .result.repr == "18446744073709551616"'

run big_float_result <<< '1e20'
check big_float_result '.status == "completed" and .result.json == 100000000000000000000'

run unreadable_result_line <<< $'import os, time\nos.write(3, b"{not json\\n")\ntime.sleep(20)' --timeout-ms 30000
check unreadable_result_line '.status == "failed" and .error.type == "ResultUnreadable" and .elapsed_ms < 10000'

# JSON escaping makes 64 MB of control characters ~384 MB per stream: over
# the 256 MiB frame, the answer still comes, cut and saying why
run answer_over_frame_limit <<< $'import sys\nsys.stdout.write("\\x01" * (64 << 20))\nsys.stderr.write("\\x02" * (64 << 20))' --max-output 67108864 --timeout-ms 120000
check answer_over_frame_limit '.status == "failed" and .error.type == "ResultTooLarge"
	and .stdout_truncated and (.stdout | length) < 2000000'

# --- limits
run timeout <<< $'import time\nprint("before", flush=True)\ntime.sleep(30)' --timeout-ms 1000
check timeout '.status == "timeout" and .error.type == "TimeoutError"
	and .stdout == "before\n" and .elapsed_ms < 5000'

run output_cap <<< 'print("x" * 200000)' --max-output 1000
check output_cap '.stdout_truncated and (.stdout | startswith("xxxx"))
	and (.stdout | contains("[output truncated: 199001 more bytes not shown; the limit is 1000 bytes per stream]"))'

run invalid_utf8 <<< $'import os, sys\nos.write(1, b"a\\x00b\\xff\\xfe\\xc3(c\\n")\nprint("\\udcff", file=sys.stderr)'
check invalid_utf8 '.status == "completed" and .stdout == "a\ufffdb\ufffd\ufffd\ufffd(c\n"
	and .stderr == "\\udcff\n"'

run memory_error <<< 'b = bytearray(10**10)' --memory-mb 2048
check memory_error '.status == "failed" and .error.type == "MemoryLimitExceeded"
	and (.error.message | contains("2048 MB"))'

# A fault, not kill(getpid(), SIGKILL): with the sandbox the run is PID 1 of
# its PID namespace, and PID 1 ignores signals it sends itself (a kernel-
# forced SIGSEGV still kills it).
run killed_by_signal <<< $'import ctypes\nctypes.string_at(0)'
check killed_by_signal '.status == "failed" and .error.type == "KilledBySignal"
	and (.error.message | contains("signal 11 (SIGSEGV)"))'

# --- figures, files, progress
run figure_temp <<< $'plt.plot([1, 2, 3])\nNone'
check figure_temp '(.figures | length) == 1 and .figures[0].path == null
	and .figures[0].width == 640 and .figures[0].height == 480
	and (.figures[0].png_base64 | startswith("iVBORw0KGgo"))'

# a figure's PNG is written by pi_outputs.figure_png (raw RGBA from savefig,
# encoded without PIL): it must decode to exactly the pixels of matplotlib's
# own PNG, for the figures figure_pixels.py makes
run figure_png_pixels < "$ROOT/tests/executor/figure_pixels.py"
check figure_png_pixels '.status == "completed" and .result.json == [true, true, true, true, true, true]'

run session_files <<< $'open("data.csv", "w").write("a,b\\n1,2\\n")\nplt.plot([1, 2])\nimport pi\nprint(pi.workspace, pi.session_id)' \
	--workspace "$SESSION" --session-id 11111111-2222-3333-4444-555555555555
if matches session_files '(.figures[0].path | test("^figures/figure_[0-9]{8}-[0-9]{6}_1\\.png$"))
	and ([.files[].path] | index("data.csv") != null)
	and ([.files[] | select(.path | startswith("figures/"))] | length) == 1
	and (.stdout | contains("11111111-2222-3333-4444-555555555555"))' \
	&& ls "$SESSION"/figures/figure_*.png > /dev/null 2>&1; then
	pass session_files
else
	fail session_files "$TMP/session_files.out"
fi

# --- rich outputs: an ordered list of Jupyter-like bundles
run display_outputs <<< $'class H:\n    def _repr_html_(self):\n        return "<b>h</b>"\ndisplay(1, H())\ndisplay({"text/markdown": "**m**"}, raw=True)\nprint("after")'
check display_outputs '.status == "completed" and .stdout == "after\n" and (.outputs | length) == 3
	and .outputs[0] == {"type": "display_data", "data": {"text/plain": "1"}, "metadata": {}}
	and .outputs[1].data["text/html"] == "<b>h</b>" and (.outputs[1].data["text/plain"] | startswith("<__main__.H"))
	and .outputs[2].data == {"text/markdown": "**m**"}'

run two_shows <<< $'plt.plot([1, 2])\nplt.show()\ndisplay("between")\nplt.figure(figsize=(3, 2))\nplt.plot([2, 1])\nplt.show()\nplt.plot([3, 3])\nNone'
check two_shows '.status == "completed" and ([.outputs[] | (.data | keys | join(","))] == ["image/png,text/plain", "text/plain", "image/png,text/plain", "image/png,text/plain"])
	and .outputs[2].metadata["image/png"] == {"width": 300, "height": 200}
	and (.figures | length) == 3 and ([.figures[].width] == [640, 300, 640])
	and .outputs[0].data["image/png"] == .figures[0].png_base64'

run dataframe_rich <<< $'df = pd.DataFrame({"a": range(100), "b": ["x"] * 100})\ndisplay(df.head(2))\ndf'
check dataframe_rich '.result.table.shape == [100, 2] and (.outputs | length) == 2
	and .outputs[1].type == "execute_result"
	and (.outputs[1].data["text/html"] | contains("<table") and contains("<td>x</td>"))
	and (.outputs[1].data["text/markdown"] | split("\n") | length) == 62
	and (.outputs[0].data["text/markdown"] | startswith("|    |   a | b   |"))
	and (.outputs[1].data["text/plain"] | split("\n") | length) == 62'

run pil_png <<< $'from PIL import Image\nImage.new("RGB", (30, 20), "red")'
check pil_png '.result.type == "Image" and .outputs[0].type == "execute_result"
	and (.outputs[0].data["image/png"] | startswith("iVBORw0KGgo"))
	and .outputs[0].metadata["image/png"] == {"width": 30, "height": 20}'

run figure_result <<< $'fig, ax = plt.subplots()\nax.plot([1, 2])\nfig'
check figure_result '(.outputs | length) == 1 and .outputs[0].type == "execute_result"
	and (.outputs[0].data | has("image/png")) and (.figures | length) == 1'

run styler_html <<< $'display(pd.DataFrame({"a": [1.5, 2.0]}).style.highlight_max())'
check styler_html '.status == "completed" and (.outputs[0].data["text/html"] | contains("<style") and contains("<table"))'

run plotly_show <<< $'import plotly.graph_objects as go\nfig = go.Figure(go.Bar(y=np.array([1, 3, 2])))\nfig.show()\nfig' --timeout-ms 60000
check plotly_show '.status == "completed" and (.outputs | length) == 2
	and .outputs[0].data["application/vnd.plotly.v1+json"].data[0].type == "bar"
	and .outputs[0].data["application/vnd.plotly.v1+json"].data[0].y == [1, 3, 2]
	and .outputs[0].metadata.path == null and .outputs[1].type == "execute_result"
	and (.outputs[1].data["text/plain"] | startswith("plotly figure: 1 trace(s) bar"))'

run outputs_cap <<< $'for i in range(250):\n    display(i)'
check outputs_cap '(.outputs | length) == 201
	and (.outputs[200].data["text/plain"] | contains("50 more outputs not shown"))'

run progress <<< $'import pi\npi.progress(0.5, "half")\npi.progress(1)\ntry:\n    pi.progress(2)\nexcept ValueError:\n    print("rejected")'
if grep -q '^P {"progress":0.5,"message":"half"}' "$TMP/progress.out" \
	&& grep -q '^P {"progress":1' "$TMP/progress.out"; then
	check progress '.stdout == "rejected\n"'
else
	fail progress "$TMP/progress.out"
fi

# --- isolation between runs
run state_first <<< $'import builtins, json\nbuiltins.leak = 1\njson.dumps = None\nx = 5\nnp.random.rand()'
run state_second <<< $'import builtins, json\n[hasattr(builtins, "leak"), "x" in globals(), json.dumps is None, np.random.rand()]'
A=$(grep '^R ' "$TMP/state_first.out" | cut -c3- | jq '.result.json')
if matches state_second '.result.json[0:3] == [false, false, false]' \
	&& [ "$A" != "$(grep '^R ' "$TMP/state_second.out" | cut -c3- | jq '.result.json[3]')" ]; then
	pass no_shared_state
else
	fail no_shared_state "$TMP/state_second.out"
fi

# Kernels skip Python's after-fork hooks (their forker ran them once):
# each must still draw its own random numbers, from the stdlib and from
# numpy's legacy generator, and threads and forks inside a run must work
for i in 1 2 3; do
	run "rand_$i" <<< $'import random\n[random.getrandbits(62), int(np.random.randint(1 << 62)), random.gauss(0, 1) != random.gauss(0, 1)]'
done
R1=$(grep '^R ' "$TMP/rand_1.out" | cut -c3- | jq -c '.result.json')
R2=$(grep '^R ' "$TMP/rand_2.out" | cut -c3- | jq -c '.result.json')
R3=$(grep '^R ' "$TMP/rand_3.out" | cut -c3- | jq -c '.result.json')
if jq -e -n --argjson a "$R1" --argjson b "$R2" --argjson c "$R3" \
	'[$a[0], $b[0], $c[0]] | unique | length == 3' > /dev/null 2>&1 &&
	jq -e -n --argjson a "$R1" --argjson b "$R2" --argjson c "$R3" \
	'[$a[1], $b[1], $c[1]] | unique | length == 3' > /dev/null 2>&1 &&
	jq -e -n --argjson a "$R1" '$a[2] == true' > /dev/null 2>&1; then
	pass random_differs_per_kernel
else
	fail random_differs_per_kernel "$TMP/rand_2.out"
fi
run threads_and_fork <<< $'import os, random, threading\nseen = []\nt = threading.Thread(target=lambda: seen.append(threading.get_ident() != threading.main_thread().ident))\nt.start(); t.join()\nr, w = os.pipe()\npid = os.fork()\nif pid == 0:\n    os.write(w, str(random.getrandbits(62)).encode()); os._exit(7)\nchild = int(os.read(r, 64)); _, status = os.waitpid(pid, 0)\n[seen, threading.current_thread() is threading.main_thread(), len(threading.enumerate()), os.waitstatus_to_exitcode(status), child != random.getrandbits(62)]'
check threads_and_fork '.result.json == [[true], true, 1, 7, true]'

run library_imports <<< $'import numpy, pandas, matplotlib, seaborn, plotly, scipy, sklearn, statsmodels\nimport openpyxl, xlsxwriter, tabulate, pdfminer, pypdf\nimport scipy.stats, sklearn.linear_model, statsmodels.api\nprint("ok")' --timeout-ms 60000
check library_imports '.status == "completed" and .stdout == "ok\n"'

# --- live output: with "live_output", stdout streams in 'O' frames while
# the run goes on (job workers ask for it); whole characters in each frame
# even when a character reaches the pipe in two writes
run live_output --live-output <<< $'import os, time\nfor i in range(5):\n    print("line %d" % i)\n    time.sleep(0.2)\nos.write(1, b"caf\\xc3")\ntime.sleep(0.3)\nos.write(1, b"\\xa9\\n")'
live_frames() { grep '^O ' "$TMP/$1.out" | cut -c3- | jq -s "$2" > /dev/null 2>&1; }
if live_frames live_output 'length >= 6 and (map(.stdout) | add) == "line 0\nline 1\nline 2\nline 3\nline 4\ncafé\n"
		and (map(.stdout) | all(contains("\ufffd") | not)) and (map(.gap) | all(. == false))
		and .[-1].stdout_bytes == 41 and (map(.stdout_bytes) | . == sort)' \
	&& ! sed -n '/^R /,$p' "$TMP/live_output.out" | grep -q '^O '; then
	check live_output '.status == "completed" and .stdout == "line 0\nline 1\nline 2\nline 3\nline 4\ncafé\n"'
else
	fail live_output "$TMP/live_output.out"
fi
run no_live_output <<< 'print("quiet")'
if grep -q '^O ' "$TMP/no_live_output.out"; then fail no_live_output "$TMP/no_live_output.out"; else check no_live_output '.stdout == "quiet\n"'; fi
# a client that reads nothing for 3 s while the run prints ~5 MB: the
# executor keeps only the newest output for it (a gap), never more than
# its backlog, and the last frame still ends where the output ended
run live_output_slow --live-output --stall-ms 3000 --timeout-ms 60000 <<< $'for i in range(400000):\n    print("line %d" % i)'
if live_frames live_output_slow '(map(.gap) | any) and (.[-1].stdout | endswith("line 399999\n"))
		and .[-1].stdout_bytes == 4688890 and (map(.stdout | length) | max) <= 32768'; then
	check live_output_slow '.status == "completed" and .stdout_truncated == true'
else
	fail live_output_slow "$TMP/live_output_slow.out"
fi

# pi.pdf_text and pi.pdf_tables (executor/pdf.py, on pdfminer): a two-page
# report written with matplotlib, a ruled table on page 1 and one of plain
# aligned text on page 2
run pdf_tables --timeout-ms 60000 <<< $'import matplotlib\nmatplotlib.rcParams["pdf.fonttype"] = 42\nimport matplotlib.pyplot as plt\nfrom matplotlib.backends.backend_pdf import PdfPages\nwith PdfPages("r.pdf") as pdf:\n    fig, ax = plt.subplots(figsize=(6, 3)); ax.axis("off"); ax.set_title("Quarterly sales")\n    ax.table(cellText=[["Oslo", "1,120", "3.5"], ["Rome", "95", "4.25"], ["Cairo", "210", "1.75"]], colLabels=["city", "units", "price"], loc="center")\n    pdf.savefig(fig)\n    fig = plt.figure(figsize=(6, 4))\n    fig.text(0.1, 0.9, "Notes: the second page has a table without rules.")\n    for r, row in enumerate([["name", "score", "grade"], ["Ada Lovelace", "97", "A"], ["Alan Turing", "88", "B"]]):\n        for c, cell in enumerate(row):\n            fig.text(0.1 + 0.3 * c, 0.7 - 0.06 * r, cell)\n    fig.text(0.1, 0.3, "End of report.")\n    pdf.savefig(fig)\nplt.close("all")\nimport pi\ntables = pi.pdf_tables("r.pdf")\n[[t.attrs["page"], list(t.columns), t.to_dict("split")["data"]] for t in tables] + [pi.pdf_text("r.pdf", pages=2).split("\\n")[0], len(pi.pdf_tables("r.pdf", pages=[2]))]'
check pdf_tables '.status == "completed" and .result.json == [[1, ["city", "units", "price"], [["Oslo", 1120, 3.5], ["Rome", 95, 4.25], ["Cairo", 210, 1.75]]], [2, ["name", "score", "grade"], [["Ada Lovelace", 97, "A"], ["Alan Turing", 88, "B"]]], "Notes: the second page has a table without rules.", 1]'
run pdf_missing <<< $'import pi\npi.pdf_text("no-such.pdf")'
check pdf_missing '.status == "failed" and .error.type == "FileNotFoundError"'

# what data work commonly needs beyond the stack (scripts/deps.sh), in the sandbox
run more_imports <<< $'import jinja2, PIL.Image, bs4, lxml.etree, html5lib, sympy, networkx, xlrd, odf, markdown\nimport pdfminer.high_level, pypdf\nsoup = bs4.BeautifulSoup("<p>x</p>", "lxml")\n[soup.p.text, networkx.path_graph(3).number_of_edges(), str(sympy.expand((sympy.Symbol("a") + 1) ** 2))]' --timeout-ms 60000
check more_imports '.status == "completed" and .result.json == ["x", 2, "a**2 + 2*a + 1"]'

# wait_file SECONDS PATH...: until every PATH exists (a run's own "I have
# started" mark: under load a fixed sleep may end before the run begins)
wait_file()
{
	local t=$1 f ok
	shift
	for _ in $(seq 1 $((t * 10))); do
		ok=1
		for f in "$@"; do [ -e "$f" ] || ok=0; done
		[ $ok = 1 ] && return 0
		sleep 0.1
	done
	return 1
}
mkdir -p "$TMP/root/mark/flood" "$TMP/root/mark/slow" "$TMP/root/mark/busy1" "$TMP/root/mark/busy2"

# --- a flood of output and a client that does not read stall nobody else
run flood --workspace "$TMP/root/mark/flood" <<< $'open("started", "w").close()\nimport sys\nfor _ in range(50):\n    sys.stdout.write("x" * 1000000)\nprint("done", file=sys.stderr)' &
F1=$!
run slow_reader --workspace "$TMP/root/mark/slow" <<< $'open("started", "w").close()\nprint("y" * 3000000)' --max-output 4000000 --stall-ms 6000 &
F2=$!
wait_file 20 "$TMP/root/mark/flood/started" "$TMP/root/mark/slow/started" || echo "# flood and slow_reader did not start"
T0=$(date +%s%N)
run while_stalled <<< 'print(1)' --timeout-ms 10000
WALL_MS=$(( ($(date +%s%N) - T0) / 1000000 ))
# the slow reader stalls for 6 s; this run must not wait for it
check while_stalled ".status == \"completed\" and $WALL_MS < 2000"
wait $F1 $F2
check flood '.status == "completed" and .stdout_truncated and .stderr == "done\n"
	and (.stdout | contains("[output truncated: 48951424 more bytes not shown; the limit is 1048576 bytes per stream]"))'
check slow_reader '.status == "completed" and (.stdout | length) == 3000001'

# --- slots, cancel, hang-up
run busy_1 --workspace "$TMP/root/mark/busy1" <<< $'open("started", "w").close()\nimport time; time.sleep(6)' --timeout-ms 30000 &
B1=$!
run busy_2 --workspace "$TMP/root/mark/busy2" <<< $'open("started", "w").close()\nimport time; time.sleep(6)' --timeout-ms 30000 &
B2=$!
wait_file 20 "$TMP/root/mark/busy1/started" "$TMP/root/mark/busy2/started" || echo "# busy_1 and busy_2 did not start"
run busy_3 <<< 'print(3)' --timeout-ms 500
check busy_3 '.status == "busy" and .error.type == "ExecutorBusy"
	and (.error.message | contains("all 2 Python executor slots for sync runs are busy"))'
run async_not_blocked <<< 'print("async")' --kind async --timeout-ms 5000
check async_not_blocked '.status == "completed" and .stdout == "async\n"'
wait $B1 $B2
check busy_1 '.status == "completed"'

run cancel <<< $'import time\nprint("started", flush=True)\ntime.sleep(30)' --cancel-after-ms 700
check cancel '.status == "cancelled" and .stdout == "started\n" and .elapsed_ms < 5000'

# the run's child carries a unique mark: the run is PID 1 of its own PID
# namespace, so its pid means nothing on the host
HMARK=$((600 + RANDOM % 100)).$RANDOM
run hangup <<< $'import os, subprocess, time\nsubprocess.Popen(["sleep", "'$HMARK$'"])\nopen("pid", "w").write("started")\ntime.sleep(60)' \
	--workspace "$SESSION" --hangup-after-ms 1000
HPID=$(cat "$SESSION/pid" 2>/dev/null)
# live processes with the mark (zombies wait for init to reap them)
group_alive() { pgrep -f "^sleep $HMARK\$" | while read -r p; do grep -q '^State:.*Z' /proc/$p/status 2>/dev/null || echo "$p"; done | grep -q .; }
for _ in $(seq 1 50); do
	group_alive || break
	sleep 0.1
done
# the executor's only kernels now are its pre-forked ones (2) and the
# live kernel of session_files's session (1)
for _ in $(seq 1 30); do
	[ "$(kernels_of "$EXEC_PID" | wc -l)" -le 3 ] && break
	sleep 0.1
done
if grep -q '^EOF' "$TMP/hangup.out" && [ "$HPID" = started ] && ! group_alive \
	&& [ "$(kernels_of "$EXEC_PID" | wc -l)" -le 3 ]; then
	pass hangup_kills_child
else
	fail hangup_kills_child "$TMP/hangup.out"
fi

# temporary workspaces are gone once their runs are (the pre-forked
# kernels, 2, each hold one)
for _ in $(seq 1 50); do
	[ "$(ls -A "$TMP/root/.runs" | wc -l)" -le 2 ] && break
	sleep 0.1
done
if [ "$(ls -A "$TMP/root/.runs" | wc -l)" -le 2 ]; then
	pass temp_workspaces_removed
else
	fail temp_workspaces_removed
fi


# --- kernels: a second executor with --max-sessions 2, a 10 s idle timeout
# (a margin for every other check on a loaded machine; the idle check
# polls for the kernel to go)
cd "$TMP"
env -i "$EXECUTOR" --socket k.sock --workspace-root "$TMP/kroot" \
	--max-sync 4 --max-async 2 --max-sessions 2 --session-idle-timeout 10 \
	--blas-threads 3 2> "$TMP/kexecutor.log" &
K_PID=$!
cd "$ROOT"
for _ in $(seq 1 100); do
	grep -q "ready in" "$TMP/kexecutor.log" 2>/dev/null && break
	sleep 0.1
done
SOCK=k.sock
S1=aaaaaaaa-0000-0000-0000-000000000001
S2=aaaaaaaa-0000-0000-0000-000000000002
S3=aaaaaaaa-0000-0000-0000-000000000003
mkdir -p "$TMP/kroot/ws/1" "$TMP/kroot/ws/2" "$TMP/kroot/ws/3"
srun() { local name=$1 sid=$2; shift 2; run "$name" --workspace "$TMP/kroot/ws/${sid: -1}" --session-id "$sid" "$@"; }

# pool reuse: every stateless run starts from fresh state
run pool_a <<< $'import builtins\nbuiltins.mark = 1\nglobal_x = 1'
run pool_b <<< $'import builtins\n[hasattr(builtins, "mark"), "global_x" in globals()]'
run pool_c <<< $'import builtins\n[hasattr(builtins, "mark"), "global_x" in globals()]'
check pool_a '.status == "completed"'
if matches pool_b '.result.json == [false, false]' && matches pool_c '.result.json == [false, false]'; then
	pass pool_runs_stateless
else
	fail pool_runs_stateless "$TMP/pool_c.out"
fi

srun sess_first "$S1" <<< $'import json\nx = 41\ndef f(v):\n    return v + 1'
srun sess_second "$S1" <<< 'f(x)'
check sess_first '.status == "completed" and .session.kernel == "started" and .session.state_reset == false'
check sess_second '.result.json == 42 and .session.kernel == "reused" and .session.id == "'$S1'"'

# a second run of a busy session waits, then gets SessionBusy
rm -f "$TMP/kroot/ws/1/busy-started"
srun busy_long "$S1" <<< $'open("busy-started", "w").close()\nimport time\ntime.sleep(5)\nx = 100' --timeout-ms 30000 &
BL=$!
wait_file 20 "$TMP/kroot/ws/1/busy-started" || echo "# busy_long did not start"
srun busy_short "$S1" <<< 'x' --timeout-ms 700
check busy_short '.status == "busy" and .error.type == "SessionBusy"'
wait $BL
srun busy_after "$S1" <<< 'x'
check busy_after '.result.json == 100'

# a timeout interrupts the cell and keeps the variables
srun interrupt "$S1" <<< $'import time\ny = 7\ntime.sleep(30)' --timeout-ms 1000
check interrupt '.status == "timeout" and .session.state_reset == false
	and (.session.notice | contains("variables are kept"))'
srun after_interrupt "$S1" <<< 'x + y'
check after_interrupt '.result.json == 107 and .session.kernel == "reused"'

# SIGKILL of the kernel: the next run says the state was reset
srun whoami "$S1" <<< $'open("kernel-ns-pid", "w").write("x")'
# the session kernel is the executor's kernel whose workspace is S1's
for p in $(kernels_of "$K_PID"); do
	[ "$(readlink /proc/$p/root/workspace 2>/dev/null; ls /proc/$p/root/workspace/kernel-ns-pid 2>/dev/null)" ] && SK=$p
done
[ -n "${SK:-}" ] && kill -9 "$SK"
# the executor has noticed once it reaped its child
for _ in $(seq 1 100); do
	[ -n "${SK:-}" ] && [ -e "/proc/$SK" ] || break
	sleep 0.1
done
srun after_kill "$S1" <<< '"x" in globals()'
check after_kill '.result.json == false and .session.kernel == "started"
	and .session.state_reset == true and (.session.notice | contains("died"))'

# reset_session op
run reset_op --session-id "$S1" --op reset_session --code ''
check reset_op '.status == "completed" and .kernel_stopped == true'
run reset_op_none --session-id "$S3" --op reset_session --code ''
check reset_op_none '.status == "completed" and .kernel_stopped == false'
srun after_reset "$S1" <<< '1'
check after_reset '.session.kernel == "started" and .session.state_reset == true'

# LRU eviction with --max-sessions 2: S1 (oldest) goes when S3 starts
srun lru_s2 "$S2" <<< 'z = 2'
sleep 0.1
srun lru_s3 "$S3" <<< 'z = 3'
srun lru_s1 "$S1" <<< '"z" in globals()'
check lru_s1 '.session.state_reset == true and (.session.notice | contains("make room"))'
srun lru_s3b "$S3" <<< 'z'
# S2 was least recently used when S1 came back
check lru_s3b '.result.json == 3 and .session.kernel == "reused"'

# files and state of two sessions stay apart
srun iso_a "$S3" <<< $'secret = "s3"\nopen("only3.txt", "w").write("3")'
srun iso_b "$S1" <<< $'import os\n["secret" in globals(), os.path.exists("only3.txt")]'
check iso_b '.result.json == [false, false]'

# idle reaping after 10 s: poll for S3's kernel to stop (no run of S3 may
# come meanwhile)
IK=
for p in $(kernels_of "$K_PID"); do
	[ -e "/proc/$p/root/workspace/only3.txt" ] && IK=$p
done
for _ in $(seq 1 400); do
	[ -n "$IK" ] && [ -e "/proc/$IK" ] || break
	sleep 0.1
done
if [ -n "$IK" ] && [ ! -e "/proc/$IK" ]; then pass idle_kernel_stopped; else fail idle_kernel_stopped; fi
srun idle_reaped "$S3" <<< '"z" in globals()'
check idle_reaped '.result.json == false and .session.state_reset == true
	and (.session.notice | contains("without a run"))'

# --blas-threads 3: the fixed environment of every run, pool and session
BLAS_CODE=$'import os\n[os.environ.get(v) for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")]'
run blas_pool <<< "$BLAS_CODE"
srun blas_session "$S3" <<< "$BLAS_CODE"
if matches blas_pool '.result.json == ["3", "3", "3", "3"]' \
	&& matches blas_session '.result.json == ["3", "3", "3", "3"]'; then
	pass blas_threads_env
else
	fail blas_threads_env "$TMP/blas_pool.out"
fi

# --- workspace quota (workspace_quota_mb) inside runs
S4=aaaaaaaa-0000-0000-0000-000000000004
mkdir -p "$TMP/kroot/ws/4"
WRITE20=$'import os\nkept = "yes"\nfor i in range(20):\n    with open("f%02d.bin" % i, "wb") as f:\n        f.write(os.urandom(1 << 20))'
# fast: done before the first periodic check; the check after the cell sees it
srun quota_after_cell "$S4" --workspace-quota-mb 5 <<< "$WRITE20"
check quota_after_cell '.status == "failed" and .error.type == "WorkspaceQuotaExceeded"
	and (.error.message | test("the session workspace holds [0-9]+ MB, over pi.max_workspace_mb \\(5 MB\\)"))
	and (.error.message | contains("pi.delete_file()"))
	and ([.files[].path] | length) >= 5'
srun quota_state_kept "$S4" --workspace-quota-mb 500 <<< 'kept'
check quota_state_kept '.status == "completed" and .result.json == "yes" and .session.kernel == "reused"'
rm -f "$TMP"/kroot/ws/4/f*.bin
# slow: stopped while it runs (session: interrupt, variables kept)
srun quota_during_cell "$S4" --workspace-quota-mb 5 --timeout-ms 30000 <<< $'import os, time\nslow = 1\nfor i in range(200):\n    with open("s%03d.bin" % i, "wb") as f:\n        f.write(os.urandom(1 << 20))\n    time.sleep(0.02)'
NS=$(ls "$TMP"/kroot/ws/4/s*.bin 2>/dev/null | wc -l)
check quota_during_cell '.status == "failed" and .error.type == "WorkspaceQuotaExceeded"
	and .elapsed_ms < 5000 and .session.state_reset == false
	and (.session.notice | contains("workspace quota"))'
# bounded overshoot: 250 ms between checks at ~1 MB per 20 ms
if [ "$NS" -ge 6 ] && [ "$NS" -le 40 ]; then pass "quota_overshoot_bounded ($NS MB written)"; else fail "quota_overshoot_bounded ($NS MB written)"; fi
srun quota_blocked "$S4" --workspace-quota-mb 5 <<< 'slow'
check quota_blocked '.status == "failed" and .error.type == "WorkspaceQuotaExceeded" and .result.json == 1'
srun quota_delete_py "$S4" --workspace-quota-mb 5 <<< $'import glob, os\nfor p in glob.glob("s*.bin"):\n    os.remove(p)\nslow + 1'
check quota_delete_py '.status == "completed" and .result.json == 2'
# links are never followed, and chmod 000 hides nothing
srun quota_symlink "$S4" --workspace-quota-mb 5 <<< $'import os\nos.symlink("/usr", "usr_link")\nos.symlink("/", "root_link")\nos.makedirs("deep/er", exist_ok=True)\nos.symlink("/usr/lib", "deep/er/lib")\nsorted(os.listdir("."))'
check quota_symlink '.status == "completed"'
srun quota_chmod "$S4" --workspace-quota-mb 5 <<< $'import os\nos.mkdir("hidden")\nfor i in range(8):\n    open("hidden/h%d" % i, "wb").write(os.urandom(1 << 20))\nos.chmod("hidden", 0)'
check quota_chmod '.status == "failed" and .error.type == "WorkspaceQuotaExceeded"
	and (.error.message | test("holds (8|9) MB, over pi.max_workspace_mb \\(5 MB\\)"))'
chmod 700 "$TMP/kroot/ws/4/hidden" 2>/dev/null; rm -rf "$TMP/kroot/ws/4/hidden"
# a stateless run is killed
run quota_stateless --workspace-quota-mb 5 --timeout-ms 30000 <<< $'import os, time\nfor i in range(1000):\n    open("t%d" % i, "wb").write(os.urandom(1 << 20))\n    time.sleep(0.01)'
check quota_stateless '.status == "failed" and .error.type == "WorkspaceQuotaExceeded"
	and (.error.message | contains("temporary workspace")) and .elapsed_ms < 5000'
run quota_default <<< $'open("x", "wb").write(b"x" * 1000)'
check quota_default '.status == "completed"'
(cd "$TMP" && "$CLIENT" "$SOCK" --code 1 --workspace-quota-mb 2000000) > "$TMP/quota_range.out" 2>&1
check quota_range '.status == "failed" and .error.type == "BadRequest" and (.error.message | contains("workspace_quota_mb"))'

# a plotly figure in a session: also a self-contained HTML file (plotly.js inlined)
srun plotly_session "$S4" --timeout-ms 60000 <<< $'import plotly.express as px\npx.scatter(x=[1, 2], y=[3, 4]).show()'
PHTML=$(grep '^R ' "$TMP/plotly_session.out" | cut -c3- | jq -r '.outputs[0].metadata.path')
if matches plotly_session '.outputs[0].data["application/vnd.plotly.v1+json"].data[0].type == "scatter"
	and (.outputs[0].metadata.path | test("^figures/plotly_[0-9]{8}-[0-9]{6}_1\\.html$"))
	and ([.files[].path] | index("'"$PHTML"'") != null)' \
	&& grep -q 'plotly.js v' "$TMP/kroot/ws/4/$PHTML" && grep -q 'Plotly.newPlot' "$TMP/kroot/ws/4/$PHTML" \
	&& ! grep -Eq '<script[^>]*src=' "$TMP/kroot/ws/4/$PHTML"; then
	pass plotly_session_html
else
	fail plotly_session_html "$TMP/plotly_session.out"
fi

kill "$K_PID"
wait "$K_PID" 2>/dev/null
K_PID=
SOCK=pi_executor.sock

# --- an executor killed with SIGKILL leaves no run cgroup behind once the
# next one has started (their kernels died with it: PDEATHSIG)
CGP=$(grep -o 'under /sys/fs/cgroup/[^ ]*' "$TMP/executor.log" | head -n 1 | cut -c7-)
if [ -n "$CGP" ] && [ -d "$CGP" ]; then
	cd "$TMP"
	env -i "$EXECUTOR" --socket c.sock --workspace-root "$TMP/croot" \
		--max-sync 4 --max-async 2 2> "$TMP/cexecutor.log" &
	C_PID=$!
	cd "$ROOT"
	for _ in $(seq 1 100); do grep -q "ready in" "$TMP/cexecutor.log" 2>/dev/null && break; sleep 0.1; done
	# the pool is cloned right after start: wait for its two kernels
	for _ in $(seq 1 50); do [ "$(kernels_of "$C_PID" | wc -l)" -ge 2 ] && break; sleep 0.1; done
	sleep 0.3
	C_KERNELS=$(kernels_of "$C_PID" | tr '\n' ' ')
	kill -9 "$C_PID"; wait "$C_PID" 2>/dev/null
	for _ in $(seq 1 50); do
		alive=0; for p in $C_KERNELS; do kill -0 "$p" 2>/dev/null && alive=1; done
		[ "$alive" = 0 ] && break; sleep 0.1
	done
	left_before=0; for p in $C_KERNELS; do [ -d "$CGP/run-$p" ] && left_before=$((left_before + 1)); done
	cd "$TMP"
	env -i "$EXECUTOR" --socket c.sock --workspace-root "$TMP/croot" \
		--max-sync 4 --max-async 2 2> "$TMP/cexecutor2.log" &
	C_PID=$!
	cd "$ROOT"
	for _ in $(seq 1 100); do grep -q "ready in" "$TMP/cexecutor2.log" 2>/dev/null && break; sleep 0.1; done
	left_after=0; for p in $C_KERNELS; do [ -d "$CGP/run-$p" ] && left_after=$((left_after + 1)); done
	kill "$C_PID"; wait "$C_PID" 2>/dev/null
	if [ -n "$C_KERNELS" ] && [ "$left_after" = 0 ]; then
		pass "stale_cgroups_removed_at_start ($left_before left by the killed executor)"
	else
		fail "stale_cgroups_removed_at_start ($left_after of $left_before left; kernels: $C_KERNELS)" "$TMP/cexecutor2.log"
	fi
else
	echo "# no delegated memory cgroup here: stale-cgroup check skipped"
fi

# --- nothing of a session runs between its cells: a thread the cell
# started is stopped once the cell is answered, and goes on in the next
mkdir -p "$TMP/root/frozen-ws"
FROZEN_SID=44444444-0000-0000-0000-000000000001
run freeze_start <<< $'import threading, time\ndef tick():\n    while True:\n        with open("ticks", "a") as f:\n            f.write("x")\n        time.sleep(0.02)\nthreading.Thread(target=tick, daemon=True).start()\ntime.sleep(0.3)' --workspace "$TMP/root/frozen-ws" --session-id "$FROZEN_SID"
sleep 0.2
T1=$(stat -c %s "$TMP/root/frozen-ws/ticks" 2>/dev/null || echo 0)
sleep 1
T2=$(stat -c %s "$TMP/root/frozen-ws/ticks" 2>/dev/null || echo 0)
if matches freeze_start '.status == "completed"' && [ "$T1" -gt 0 ] && [ "$T1" = "$T2" ]; then
	pass "frozen_between_cells ($T1 ticks, none while idle)"
else
	fail "frozen_between_cells (ticks $T1 then $T2 while idle)" "$TMP/freeze_start.out"
fi
run freeze_resume <<< $'import time\ntime.sleep(0.5)\nlen(open("ticks").read())' --workspace "$TMP/root/frozen-ws" --session-id "$FROZEN_SID"
check freeze_resume ".status == \"completed\" and .result.json > $T2"

# --- a final line written by the code itself keeps the caps
run final_line_capped <<< $'import os, json\nos.write(3, (json.dumps({"type": "final", "result": {"type": "str", "repr": "y" * (40 << 20)}, "error": None, "figures": [], "files": []}) + "\\n").encode())\nimport time\ntime.sleep(5)' --max-output 1024
check final_line_capped '.result.truncated == true and (.result.repr | length) < 1000'

# --- a kernel that floods pi.query() requests and never reads the answers
# stops itself (backpressure), it does not grow the executor
RSS0=$(awk '/VmRSS/ {print $2}' /proc/$EXEC_PID/status)
run query_flood <<< $'import os\nline = b\'{"type": "query", "sql": "SELECT 1", "max_rows": 1}\\n\'\nfor i in range(20000):\n    os.write(3, line)' --answer-queries 100000 --timeout-ms 8000
RSS1=$(awk '/VmRSS/ {print $2}' /proc/$EXEC_PID/status)
if matches query_flood '.status == "completed" or .status == "timeout"' && [ $((RSS1 - RSS0)) -lt 65536 ]; then
	pass "query_flood_bounded (executor +$(( (RSS1 - RSS0) / 1024 )) MB)"
else
	fail "query_flood_bounded (executor +$(( (RSS1 - RSS0) / 1024 )) MB)" "$TMP/query_flood.out"
fi

# --- one tenant's sessions never wipe another's state: 3 live kernels, at
# most 2 per tenant (owner)
cd "$TMP"
env -i "$EXECUTOR" --socket o.sock --workspace-root "$TMP/oroot" \
	--max-sync 4 --max-async 2 --max-sessions 3 --max-sessions-per-owner 2 \
	2> "$TMP/oexecutor.log" &
O_PID=$!
cd "$ROOT"
for _ in $(seq 1 100); do grep -q "ready in" "$TMP/oexecutor.log" 2>/dev/null && break; sleep 0.1; done
SAVED_SOCK=$SOCK; SOCK=o.sock
mkdir -p "$TMP/oroot/a1" "$TMP/oroot/a2" "$TMP/oroot/a3" "$TMP/oroot/b1" "$TMP/oroot/b2"
orun() { local name=$1 ws=$2 owner=$3; shift 3; run "$name" --workspace "$TMP/oroot/$ws" --session-id "00000000-0000-0000-0000-0000000000${ws: -1}${ws:0:1}" --owner "$owner" "$@"; }
orun own_b1 b1 tenant_b <<< 'mine = "b1"'
orun own_a1 a1 tenant_a <<< 'mine = "a1"'
orun own_a2 a2 tenant_a <<< 'mine = "a2"'
# tenant a at its limit: its own least recently used kernel (a1) goes, b1 stays
orun own_a3 a3 tenant_a <<< 'mine = "a3"'
orun owner_limit_keeps_other_tenant b1 tenant_b <<< 'mine'
check owner_limit_keeps_other_tenant '.status == "completed" and .result.json == "b1" and .session.state_reset == false'
orun owner_limit_evicts_own_lru a1 tenant_a <<< '"mine" in globals()'
check owner_limit_evicts_own_lru '.result.json == false and .session.state_reset == true
	and (.session.notice | contains("pi.max_sessions_per_tenant"))'
# all 3 kernels taken (a: 2, b: 1): b's second session evicts one of a's, not b1
orun own_b2 b2 tenant_b <<< 'mine = "b2"'
orun full_evicts_busiest_tenant b1 tenant_b <<< 'mine'
check full_evicts_busiest_tenant '.result.json == "b1" and .session.state_reset == false'
# the tenant's own limit sent with the run ("owner_max_sessions") wins over
# --max-sessions-per-owner: lowered to 1, b's next new session stops both
# its idle kernels; b2 run with it first is only reused, nothing stops
mkdir -p "$TMP/oroot/b3"
orun tenant_limit_reuses b2 tenant_b --owner-max-sessions 1 <<< 'mine'
check tenant_limit_reuses '.result.json == "b2" and .session.kernel == "reused"'
orun own_b3 b3 tenant_b --owner-max-sessions 1 <<< 'mine = "b3"'
orun tenant_limit_evicts_down b1 tenant_b --owner-max-sessions 1 <<< '"mine" in globals()'
check tenant_limit_evicts_down '.result.json == false and .session.state_reset == true
	and (.session.notice | contains("at most 1 live kernels")) and (.session.notice | contains("limit max_sessions"))
	and (.session.notice | contains("pi.set_tenant_limit('"'"'tenant_b'"'"', '"'"'max_sessions'"'"', n)"))'
orun tenant_limit_count b2 tenant_b --op owner_sessions <<< "1"
check tenant_limit_count '.status == "completed" and .live_sessions == 1'
orun tenant_limit_zero b2 tenant_b --owner-max-sessions 0 <<< '1'
check tenant_limit_zero '.status == "failed" and .error.type == "SessionLimitExceeded"
	and (.error.message | contains("max_sessions is 0"))'
orun tenant_limit_bad b2 tenant_b --owner-max-sessions '"two"' <<< '1'
check tenant_limit_bad '.status == "failed" and .error.type == "BadRequest"
	and (.error.message | contains("owner_max_sessions"))'
SOCK=$SAVED_SOCK
kill "$O_PID"; wait "$O_PID" 2>/dev/null

# --- no kernel inherits another client's bytes: a secret sent in one
# session's code, another printed at run time, and that session's id and
# job id must appear nowhere in the memory of any other kernel (nor of
# the zygote and forkers that clone them), also of kernels cloned after
# the secrets went through the executor
SEC=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
SECRET_CODE="pisecretcode$SEC"
SECRET_OUT="pisecretout$SEC"
SECRET_SID=5ec2e7aa-0000-4000-8000-$(printf '%s' "$SEC" | cut -c1-12)
SECRET_JOB=5ec2e7bb-0000-4000-8000-$(printf '%s' "$SEC" | cut -c13-24)
REV_OUT=$(printf '%s' "$SECRET_OUT" | rev)
mkdir -p "$TMP/root/secret-ws"
run secret_session <<< "kept = '$SECRET_CODE'
print('$REV_OUT'[::-1])" --workspace "$TMP/root/secret-ws" --session-id "$SECRET_SID" --job-id "$SECRET_JOB"
check secret_session ".status == \"completed\" and .stdout == \"$SECRET_OUT\\n\""
for i in 1 2 3 4; do run "after_secret_$i" <<< 'print(2)'; done
run after_secret_session <<< 'print(3)' --workspace "$TMP/root/session-1" --session-id 33333333-0000-0000-0000-000000000001
sleep 0.5
SECRET_KERNEL=
for p in $(kernels_of "$EXEC_PID"); do
	[ -e "/proc/$p/root/workspace/.secret-marker" ] && SECRET_KERNEL=$p
done
run secret_mark <<< 'open(".secret-marker", "w").write("1")' --workspace "$TMP/root/secret-ws" --session-id "$SECRET_SID"
for p in $(kernels_of "$EXEC_PID"); do
	[ -e "/proc/$p/root/workspace/.secret-marker" ] && SECRET_KERNEL=$p
done
printf '%s\n' "$SECRET_CODE" "$SECRET_OUT" "$SECRET_SID" "$SECRET_JOB" > "$TMP/needles"
SCAN=""
for z in $(pgrep -P "$EXEC_PID"); do
	SCAN="$SCAN $z"
	for f in $(pgrep -P "$z"); do
		SCAN="$SCAN $f"
		for p in $(pgrep -P "$f"); do [ "$p" = "$SECRET_KERNEL" ] || SCAN="$SCAN $p"; done
	done
done
NSCAN=$(echo $SCAN | wc -w)
if [ -n "$SECRET_KERNEL" ] && [ "$NSCAN" -ge 5 ] && python3 "$ROOT/tests/executor/memscan.py" "$TMP/needles" $SCAN > "$TMP/memscan.out" 2>&1; then
	pass "no_secret_in_other_kernels ($NSCAN processes searched)"
else
	fail "no_secret_in_other_kernels (secret kernel: ${SECRET_KERNEL:-not found}; $NSCAN processes searched)" "$TMP/memscan.out"
fi

# --- malformed exchanges at the socket (protocol_fuzz.py says which); seeded, the seed is printed
if python3 "$ROOT/tests/executor/protocol_fuzz.py" "$TMP/$SOCK" "$EXEC_PID" 250 "$RANDOM" > "$TMP/fuzz.out" 2>&1; then
	pass "protocol_fuzz: $(cat "$TMP/fuzz.out")"
else
	fail protocol_fuzz "$TMP/fuzz.out"
fi

# --- optional measurement
if [ -n "${PI_EXEC_BENCH:-}" ]; then
	echo "# zygote: $(grep 'ready in' "$TMP/executor.log")"
	echo "# zygote RSS now: $(awk '/VmRSS/ {print $2, $3}' /proc/$EXEC_PID/status)"
	(cd "$TMP" && "$CLIENT" "$SOCK" --repeat 200 --code 'print(1)') | sed 's/^/# print(1): /'
fi

kill "$EXEC_PID"
wait "$EXEC_PID" 2>/dev/null
EXEC_PID=
if ! grep -q "shutting down" "$TMP/executor.log" || [ -e "$TMP/$SOCK" ]; then
	fail clean_shutdown "$TMP/executor.log"
else
	pass clean_shutdown
fi

echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
