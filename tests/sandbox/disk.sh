# tests/sandbox/disk.sh: attacks on the workspace quota through what a run
# holds without a name (unlinked files still open or mapped, in any process
# or thread), hard links, inodes (pi.max_workspace_files), and writes after
# the cell.  Sourced by run.sh, whose helpers (attack, check, out, wanted,
# healthy, sc, libc, $RAND, $DATA) it uses; not run alone.
echo "# --- disk held without a name (workspace quota 5 MB, pi.max_workspace_files)"
# The quota counts names and what the run's processes hold after unlinking
# (descriptors of every process and thread, mappings); over it because of
# held files, a session's kernel is ended, the only way to free them.
SQ=$(pi_sql "SELECT pi.create_session('held')")
WS_Q=$DATA/pi_workspaces/$SQ
[ -d "$WS_Q" ] || WS_Q=$(find "$DATA" -maxdepth 3 -type d -name "$SQ" | head -n 1)
Q5='SET pi.max_workspace_mb = 5;
'
# held_now: processes that hold a deleted file of these attacks (named
# with $RAND; the path shown may be the host's or the sandbox's)
held_now() { find /proc/[0-9]*/fd /proc/[0-9]*/task/[0-9]*/fd -maxdepth 1 -lname "*-$RAND.bin (deleted)" 2>/dev/null | head -n 3; }
# ...or map one (a mapping without a descriptor shows only in maps)
mapped_now() { grep -l -- "-$RAND.bin (deleted)" /proc/[0-9]*/maps 2>/dev/null | head -n 3; }
held_err() { printf '.status == "failed" and .error.type == "WorkspaceQuotaExceeded" and (.error.message | contains("%s"))%s' "$1" "${2:-}"; }
RESET=' and .session.state_reset == true and (.session.notice | contains("held deleted files"))'
PRE_SQL=$Q5 attack held_unlinked_fd "$(held_err 'MB of it are deleted files that the run still held open' "$RESET and .elapsed_ms < 20000")" "
import time
keep = open('big-$RAND.bin', 'wb'); keep.write(b'\1' * (30 << 20)); keep.flush(); os.unlink('big-$RAND.bin')
print('held'); time.sleep(25)" "$SQ" 40
check held_unlinked_fd_freed '[ -z "$(held_now)" ]'
attack held_kernel_was_ended "$(out fresh)" "print('stale' if 'keep' in dir() else 'fresh')" "$SQ"
PRE_SQL=$Q5 attack held_unlinked_after_cell "$(held_err 'deleted files that the run still held open' "$RESET")" "
keep = open('big-$RAND.bin', 'wb'); keep.write(b'\1' * (30 << 20)); keep.flush(); os.unlink('big-$RAND.bin'); print('held')" "$SQ"
check held_unlinked_after_cell_freed '[ -z "$(held_now)" ]'
PRE_SQL=$Q5 attack held_fallocate "$(held_err 'deleted files that the run still held open' "$RESET")" "
keep = open('alloc-$RAND.bin', 'wb'); os.posix_fallocate(keep.fileno(), 0, 30 << 20); os.unlink('alloc-$RAND.bin'); print('held')" "$SQ"
# Python's mmap keeps a duplicate of the descriptor: counted as held open
PRE_SQL=$Q5 attack held_by_python_mmap "$(held_err 'deleted files that the run still held open' "$RESET")" "
import mmap
with open('pymap-$RAND.bin', 'wb') as f: f.write(b'\1' * (30 << 20))
with open('pymap-$RAND.bin', 'r+b') as f: m = mmap.mmap(f.fileno(), 4096)
os.unlink('pymap-$RAND.bin'); print('mapped')" "$SQ"
# mmap(2) and close(2): only the mapping holds the file, whose size the
# executor cannot read (map_files needs CAP_CHECKPOINT_RESTORE): refused
PRE_SQL=$Q5 attack held_by_mapping_only "$(held_err 'mapped in memory with no descriptor open' "$RESET")" "
with open('map-$RAND.bin', 'wb') as f: f.write(b'\1' * (30 << 20))
fd = os.open('map-$RAND.bin', os.O_RDWR)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
addr = libc.mmap(None, 4096, 1, 1, fd, 0)
os.close(fd); os.unlink('map-$RAND.bin'); print('mapped', addr is not None and addr != ctypes.c_void_p(-1).value)" "$SQ"
check held_by_mapping_only_freed '[ -z "$(mapped_now)" ]'
# the same with a small file: under the quota in bytes, still unmeasurable
PRE_SQL=$Q5 attack held_small_mapping_only "$(held_err 'mapped in memory with no descriptor open' "$RESET")" "
with open('smallmap-$RAND.bin', 'wb') as f: f.write(b'\1' * 4096)
fd = os.open('smallmap-$RAND.bin', os.O_RDONLY)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
addr = libc.mmap(None, 4096, 1, 1, fd, 0)
os.close(fd); os.unlink('smallmap-$RAND.bin'); print('mapped')" "$SQ"
PRE_SQL=$Q5 attack held_by_forked_child "$(held_err 'deleted files that the run still held open' "$RESET")" "
import time
r, w = os.pipe()
if os.fork() == 0:
    os.setsid()
    f = open('child-$RAND.bin', 'wb'); f.write(b'\1' * (30 << 20)); f.flush(); os.unlink('child-$RAND.bin')
    os.write(w, b'x'); time.sleep(120); os._exit(0)
os.read(r, 1); print('child holds it')" "$SQ"
check held_by_forked_child_freed '[ -z "$(held_now)" ]'
# a zombie (or exiting) child shows its /proc entries as root's: skipped,
# not a refusal (a run that leaves one was stopped as unreadable)
attack zombie_child_is_not_a_refusal "$(out 'zombie zombie')" "
import time
kids = []
for i in range(2):
    pid = os.fork()
    if pid == 0: os._exit(0)
    kids.append(pid)
time.sleep(0.5)
print(*[open('/proc/%d/status' % p).read().split('State:')[1].split()[0] == 'Z' and 'zombie' or 'alive' for p in kids])" "$SQ"
# a child killed as the cell ends is still tearing its memory down when
# the workspace is measured: /proc refuses it then, and it is skipped
for i in 1 2 3; do
attack exiting_child_is_not_a_refusal_$i "$(out killed)" "
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    big = b'\1' * (300 << 20); os.write(w, b'x'); import time; time.sleep(60); os._exit(0)
os.read(r, 1); os.kill(pid, 9); print('killed')" "$SQ"
done
# A stateless run: what it holds counts while it runs (the walk every
# 250 ms stops it); at its end it is killed at once, which frees what it
# held, so the last measurement counts names only (docs/sandbox.md)
PRE_SQL=$Q5 attack held_stateless "$(held_err 'deleted files that the run still held open')" "
keep = open('big-$RAND.bin', 'wb'); keep.write(b'\1' * (30 << 20)); keep.flush(); os.unlink('big-$RAND.bin'); print('held')
import time; time.sleep(3)"
check held_stateless_freed '[ -z "$(held_now)" ]'
PRE_SQL=$Q5 attack held_stateless_at_end_freed "$(out held)" "
keep = open('end-$RAND.bin', 'wb'); keep.write(b'\1' * (30 << 20)); keep.flush(); os.unlink('end-$RAND.bin'); print('held')"
# killed before the answer went out; its exit may still be under way
check held_stateless_at_end_nothing_left 'for i in $(seq 30); do [ -z "$(held_now)" ] && break; sleep 0.1; done; [ -z "$(held_now)" ]'
# a sparse file holds no blocks (40 MB apparent): within the quota, and
# the kernel is kept
PRE_SQL=$Q5 attack held_sparse_is_not_counted "$(out sparse)" "
sparse = open('sparse.bin', 'wb'); sparse.truncate(40 << 20); os.unlink('sparse.bin'); print('sparse')" "$SQ"
attack held_within_quota_kernel_kept "$(out kept)" "print('kept' if 'sparse' in dir() else 'lost')" "$SQ"
# a file with many names counts once (3 MB, eleven names, under 5 MB)
PRE_SQL=$Q5 attack hard_links_count_once "$(out 11)" "
with open('linked.bin', 'wb') as f: f.write(b'\1' * (3 << 20))
for i in range(10): os.link('linked.bin', 'link%d.bin' % i)
print(os.stat('linked.bin').st_nlink)" "$SQ"
attack hard_links_removed "$(out done)" "
for n in os.listdir('.'): os.unlink(n)
print('done')" "$SQ"
PRE_SQL="SET pi.max_workspace_files = 1000;
" attack many_empty_files "$(held_err 'files and folders (deleted files still open count too), over pi.max_workspace_files')" "
import time
for i in range(20000): open('e%05d' % i, 'w').close()
time.sleep(1); print('made')" "$SQ"
check many_empty_files_kept '[ "$(ls "$WS_Q" | wc -l)" -ge 1000 ]'
# from SQL too: pi.write_file of a new file past the limit is refused
if wanted write_file_past_file_count; then
  r=$(pi_psql -c "SET pi.max_workspace_files = 1000" -c "SELECT pi.write_file('$SQ', 'one-more.txt', 'x')" 2>&1)
  if [[ $r == *"would hold more than pi.max_workspace_files (1000) files and folders"* ]] && [ ! -e "$WS_Q/one-more.txt" ]; then
    pass write_file_past_file_count
  else fail write_file_past_file_count "$r"; fi
fi
attack many_empty_files_removed "$(out done)" "
for n in os.listdir('.'): os.unlink(n)
print('done')" "$SQ"
PRE_SQL="SET pi.max_workspace_files = 1000;
" attack many_empty_folders "$(held_err 'over pi.max_workspace_files')" "
for i in range(3000): os.mkdir('d%05d' % i)
print('made')" "$SQ"
attack many_empty_folders_removed "$(out done)" "
for n in os.listdir('.'): os.rmdir(n)
print('done')" "$SQ"
PRE_SQL="SET pi.max_workspace_files = 500;
" attack many_held_empty_files "$(held_err 'over pi.max_workspace_files' "$RESET")" "
held = []
for i in range(900):
    held.append(open('h%05d' % i, 'w')); os.unlink('h%05d' % i)
print('made')" "$SQ"
# a run that makes itself non-dumpable would hide its descriptors
attack prctl_set_dumpable "$(out 'EPERM 1')" "print(sc(157, 4, 0, 0, 0, 0), libc.prctl(3, 0, 0, 0, 0))"
attack prctl_set_dumpable_high_bits "$(out EPERM)" "print(sc(157, (1 << 32) | 4, 0, 0, 0, 0))"
# a child left running after its cell writes nothing until the next cell
attack writer_outlives_cell "$(out started)" "
import time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        for i in range(400):
            with open('late%03d.bin' % i, 'wb') as f: f.write(b'\1' * (1 << 20))
            time.sleep(0.01)
        os._exit(0)
    os._exit(0)
print('started')" "$SQ"
if wanted writer_outlives_cell_frozen; then
  sleep 1; n1=$(ls "$WS_Q" | grep -c late); sleep 3; n2=$(ls "$WS_Q" | grep -c late)
  if [ "$n1" = "$n2" ] && [ "$n1" -lt 100 ]; then pass "writer_outlives_cell_frozen ($n1 files)"
  else fail writer_outlives_cell_frozen "$n1 then $n2 files of 1 MB written after the cell"; fi
fi
# a chain of processes, each forking the next and exiting, is forking
# whenever the cell ends: SIGSTOP to the listed processes misses the child
# being made (it went on writing in 1 run of 3); the cgroup freezer
# freezes it as it is made
SC=$(pi_sql "SELECT pi.create_session('chain')")
WS_C=$DATA/pi_workspaces/$SC
[ -d "$WS_C" ] || WS_C=$(find "$DATA" -maxdepth 3 -type d -name "$SC" | head -n 1)
attack writer_fork_chain '.status == "completed" or .error.type == "WorkspaceQuotaExceeded"' "
import signal, time
signal.signal(signal.SIGCHLD, signal.SIG_IGN)
r, w = os.pipe()
if os.fork() == 0:
    os.setsid(); n = 0
    while True:
        if os.fork() != 0: os._exit(0)
        n += 1
        if n == 20: os.write(w, b'x')
        if n % 20 == 0:
            with open('chain%07d' % n, 'wb') as f: f.write(b'\1' * 65536)
os.read(r, 1); print('chain running')" "$SC"
if wanted writer_fork_chain_frozen; then
  sleep 1; n1=$(ls "$WS_C" | grep -c chain); sleep 3; n2=$(ls "$WS_C" | grep -c chain)
  if [ "$n1" = "$n2" ]; then pass "writer_fork_chain_frozen ($n1 files)"
  else fail writer_fork_chain_frozen "$n1 then $n2 files written after the cell"; fi
fi
# the session's next cell thaws the run: the chain goes on while it runs,
# and is frozen again (a new child included) after it
attack writer_fork_chain_resumes "$(out resumed)" "
import time
def n(): return len([f for f in os.listdir('.') if f.startswith('chain')])
a = n(); t = time.time()
while n() == a and time.time() - t < 20: time.sleep(0.05)
print('resumed' if n() > a else 'still frozen')" "$SC"
if wanted writer_fork_chain_frozen_again; then
  sleep 1; n1=$(ls "$WS_C" | grep -c chain); sleep 3; n2=$(ls "$WS_C" | grep -c chain)
  if [ "$n1" = "$n2" ]; then pass "writer_fork_chain_frozen_again ($n1 files)"
  else fail writer_fork_chain_frozen_again "$n1 then $n2 files written after the second cell"; fi
fi
pi_sql "SELECT pi.close_session('$SC')" >/dev/null
pi_sql "SELECT pi.close_session('$SQ')" >/dev/null
healthy after_held_files

