#!/usr/bin/env bash
# Install the Debian 12 packages Power Interpreter needs to build, run and test.
# Installs only what is missing (apt-get update only then).  Works as root or
# through sudo.  A main cluster that Debian's postgresql package may create on
# port 5432 is left alone: the project uses its own clusters.
set -euo pipefail

PACKAGES=(
  build-essential pkg-config uuid-runtime procps
  postgresql-15 postgresql-server-dev-15 postgresql-client-15 postgresql-contrib
  libpython3.11-dev libseccomp-dev libjansson-dev libmicrohttpd-dev libpq-dev curl
  libipc-run-perl wrk bc jq
  python3-numpy python3-pandas python3-matplotlib python3-seaborn python3-plotly
  python3-scipy python3-sklearn python3-statsmodels python3-openpyxl
  python3-xlsxwriter python3-tabulate python3-pdfminer python3-pypdf
)

# Node.js and npm run the MCP client tests; the machine image may bring its
# own Node.js build, so Debian's is installed only when there is none.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  PACKAGES+=(nodejs npm)
fi

missing=()
for p in "${PACKAGES[@]}"; do
  st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [ "$st" = installed ] || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all ${#PACKAGES[@]} packages already installed"
  exit 0
fi

if [ "$(id -u)" = 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1; then
  SUDO=(sudo)
else
  echo "deps: missing packages (${missing[*]}) and not root and no sudo" >&2
  exit 1
fi

echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
  --no-install-recommends "${missing[@]}"
echo "deps: done"
