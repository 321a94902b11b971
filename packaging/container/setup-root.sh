#!/bin/sh
# packaging/container/setup-root.sh DEB
#	Turns a Debian 12 root into the image's root: installs our package DEB
#	with apt (which brings PostgreSQL 15 and the Python packages it
#	depends on), curl for the health check, mount (the
#	entrypoint makes the container's cgroup writable), the entrypoint, and the
#	gateway's system user; makes sure no cluster is baked into the image
#	(the entrypoint makes one on the volume at first start).
#	Run inside the root, as root: by the Containerfile's RUN, and by
#	tests/image (mmdebstrap's customize hook, chroot).  The entrypoint is
#	next to this script.
set -eu

deb=$1
here=$(cd "$(dirname "$0")" && pwd)
export DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8

# postgresql-common would create and start 15/main at installation
mkdir -p /etc/postgresql-common/createcluster.d
echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.d/power-interpreter.conf

# A root that already holds this very package (tests/image installs it
# with mmdebstrap, then builds the image from that root) is left as it is.
want=$(dpkg-deb -f "$deb" Version)
have=$(dpkg-query -W -f='${Version}' postgresql-15-power-interpreter 2>/dev/null || true)
if [ "$have" != "$want" ] || ! command -v curl >/dev/null || ! command -v mount >/dev/null; then
	apt-get update -q
	apt-get install -y -q --no-install-recommends "$deb" curl mount
fi
# should a main cluster exist anyway (an older postgresql-common), it goes
if [ -d /etc/postgresql/15/main ]; then
	pg_dropcluster --stop 15 main
fi

# The gateway's own system user: PostgreSQL's peer authentication maps it
# to the role pi_gateway (the entrypoint's pg_ident.conf).
if ! getent passwd pi-gateway >/dev/null; then
	adduser --system --group --no-create-home --home /nonexistent pi-gateway
fi

install -m 755 "$here/entrypoint.sh" /usr/local/sbin/pi-entrypoint
install -d -m 755 /var/lib/power-interpreter

apt-get clean
rm -rf /var/lib/apt/lists/* /var/log/apt/* /var/log/dpkg.log
