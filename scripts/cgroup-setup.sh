#!/bin/bash
# scripts/cgroup-setup.sh
#	As root, once per boot: create the parent cgroups under which the
#	sandbox (jail/cgroup.c) makes one cgroup per run, and hand them to
#	the server's user.  An unprivileged user cannot create cgroups at the
#	top of a hierarchy, so without this runs fall back to RLIMIT_AS and
#	RLIMIT_NPROC (per process, tmpfs not counted) and pi-executor says so
#	in its log.
#
#	usage: scripts/cgroup-setup.sh [USER] [NAME]	(default: postgres power_interpreter)
#
#	cgroup v1 (this project's reference machine): memory and pids
#	hierarchies, and freezer (a session's run is frozen between its
#	cells; v2 has cgroup.freeze in every cgroup instead); the directories
#	and their cgroup.procs/tasks files are chowned, which is how v1
#	delegates.  cgroup v2, when it offers the
#	memory controller: the directory, cgroup.procs, cgroup.subtree_control
#	and cgroup.threads are chowned (the v2 delegation set), and memory/pids
#	are enabled in the parents down to it.
#	Harmless when run again, or when a hierarchy is absent.
set -eu

owner=${1:-postgres}
name=${2:-power_interpreter}

if [ "$(id -u)" != 0 ]; then
	echo "cgroup-setup: must run as root" >&2
	exit 1
fi
if ! id "$owner" >/dev/null 2>&1; then
	echo "cgroup-setup: no such user: $owner" >&2
	exit 1
fi

# mount point of a v1 hierarchy with the given controller, or of cgroup2
mount_of() {
	awk -v c="$1" '
		c == "cgroup2" && $3 == "cgroup2" { print $2; exit }
		c != "cgroup2" && $3 == "cgroup" {
			n = split($4, o, ","); for (i = 1; i <= n; i++) if (o[i] == c) { print $2; exit }
		}' /proc/self/mounts
}

done_any=no
for controller in memory pids freezer; do
	mnt=$(mount_of "$controller")
	if [ -z "$mnt" ]; then
		echo "cgroup-setup: no cgroup v1 $controller hierarchy; skipped"
		continue
	fi
	dir="$mnt/$name"
	mkdir -p "$dir"
	chown "$owner" "$dir" "$dir/cgroup.procs" "$dir/tasks"
	# memory.use_hierarchy defaults to 1 on current kernels; a per-run
	# limit is set in each child anyway
	echo "cgroup-setup: $dir delegated to $owner"
	done_any=yes
done

v2=$(mount_of cgroup2)
if [ -n "$v2" ] && grep -qw memory "$v2/cgroup.controllers" 2>/dev/null; then
	# the controllers must be enabled in the root to reach the child
	echo "+memory" > "$v2/cgroup.subtree_control" 2>/dev/null || true
	grep -qw pids "$v2/cgroup.controllers" && echo "+pids" > "$v2/cgroup.subtree_control" 2>/dev/null || true
	dir="$v2/$name"
	mkdir -p "$dir"
	chown "$owner" "$dir" "$dir/cgroup.procs" "$dir/cgroup.subtree_control" "$dir/cgroup.threads"
	echo "cgroup-setup: $dir (cgroup v2) delegated to $owner"
	done_any=yes
elif [ -n "$v2" ]; then
	echo "cgroup-setup: cgroup v2 at $v2 has no memory controller; skipped"
fi

[ "$done_any" = yes ] || echo "cgroup-setup: no usable cgroup hierarchy; runs will use RLIMIT_AS/RLIMIT_NPROC only"
exit 0
