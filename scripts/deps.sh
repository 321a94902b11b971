#!/usr/bin/env bash
# Install the Debian 12 packages Power Interpreter needs to build, run and test,
# and the plotly.js copy that runs' plotly HTML files inline.
# Installs only what is missing (apt-get update only then).  Works as root or
# through sudo.  A main cluster that Debian's postgresql package may create on
# port 5432 is left alone: the project uses its own clusters.
set -euo pipefail

PACKAGES=(
  build-essential pkg-config uuid-runtime procps
  postgresql-15 postgresql-server-dev-15 postgresql-client-15 postgresql-contrib
  libpython3.11-dev libseccomp-dev libjansson-dev libmicrohttpd-dev libpq-dev curl
  libipc-run-perl wrk bc jq
  debhelper lintian dpkg-dev fakeroot
  mmdebstrap podman runc
  python3-numpy python3-pandas python3-matplotlib python3-seaborn python3-plotly
  python3-scipy python3-sklearn python3-statsmodels python3-openpyxl
  python3-xlsxwriter python3-tabulate python3-pdfminer python3-pypdf
  python3-jinja2 python3-pil python3-bs4 python3-lxml python3-html5lib
  python3-sympy python3-networkx python3-xlrd python3-odf python3-markdown
)

# plotly.js for the self-contained HTML files of plotly figures (the sandbox
# has no network, so no CDN).  Pinned to the plotly.js that Debian's
# python3-plotly (5.4) was built against; the minified build is 3.6 MB where
# Debian's own /usr/share/python3-plotly/plotly.js is 8.6 MB.  /usr/local
# is inside the sandbox's read-only /usr.
PLOTLY_JS_VERSION=2.6.3
PLOTLY_JS=/usr/local/share/power-interpreter/plotly.min.js

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

have_plotly_js() { head -c 200 "$PLOTLY_JS" 2>/dev/null | grep -q "plotly.js v$PLOTLY_JS_VERSION"; }

if [ ${#missing[@]} -eq 0 ] && have_plotly_js; then
  echo "deps: all ${#PACKAGES[@]} packages and plotly.js already installed"
  exit 0
fi

if [ "$(id -u)" = 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1; then
  SUDO=(sudo)
else
  echo "deps: missing packages (${missing[*]:-none}, plotly.js) and not root and no sudo" >&2
  exit 1
fi

if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all ${#PACKAGES[@]} packages already installed"
else
  echo "deps: installing ${missing[*]}"
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
    --no-install-recommends "${missing[@]}"
fi

if ! have_plotly_js; then
  echo "deps: installing plotly.js $PLOTLY_JS_VERSION into $PLOTLY_JS (npm plotly.js-dist-min)"
  tmp=$(mktemp -d)
  if (cd "$tmp" && npm pack --silent "plotly.js-dist-min@$PLOTLY_JS_VERSION" >/dev/null &&
      tar -xzf "plotly.js-dist-min-$PLOTLY_JS_VERSION.tgz" package/plotly.min.js package/LICENSE) &&
     "${SUDO[@]}" install -d -m 755 "$(dirname "$PLOTLY_JS")" &&
     "${SUDO[@]}" install -m 644 "$tmp/package/plotly.min.js" "$PLOTLY_JS" &&
     "${SUDO[@]}" install -m 644 "$tmp/package/LICENSE" "$(dirname "$PLOTLY_JS")/plotly.js-LICENSE"; then
    rm -rf "$tmp"
  else
    rm -rf "$tmp"
    echo "deps: could not install plotly.js (npm pack plotly.js-dist-min@$PLOTLY_JS_VERSION)" >&2
    exit 1
  fi
fi
echo "deps: done"
