# scripts/common.sh: helpers shared by the service scripts and the tests.
# Source it from bash.

# PGBIN: PostgreSQL 15's binaries (pg_config's, else Debian's path).
PGBIN=$(pg_config --bindir 2>/dev/null || true)
[ -x "$PGBIN/pg_ctl" ] || PGBIN=/usr/lib/postgresql/15/bin

# as_pg CMD...: run as the postgres user (initdb refuses root), from / since
# the caller's directory may not be readable by postgres.
as_pg() {
  if [ "$(id -u)" = "$(id -u postgres)" ]; then
    (cd / && "$@")
  elif [ "$(id -u)" = 0 ]; then
    (cd / && runuser -u postgres -- "$@")
  else
    (cd / && sudo -u postgres -- "$@")
  fi
}

# as_root CMD...: run as root (sudo when not root).
as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}
