#!/usr/bin/env bash
# Install the Debian packages gridlib needs, only when missing.
#   scripts/system_deps.sh demo   -> CJK fonts for map labels
#   scripts/system_deps.sh test   -> + PostgreSQL 15 / PostGIS 3 (throwaway test cluster), Chromium + driver (web-map test),
#                                    and, if the archive has it, python3-qgis (the QGIS style test; skipped without it)
set -euo pipefail
want=(fonts-noto-cjk)
if [ "${1:-test}" = "test" ]; then
  want+=(postgresql-15-postgis-3 chromium chromium-driver)
fi
missing=()
for pkg in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
optional=()
if [ "${1:-test}" = "test" ] && ! dpkg-query -W -f='${Status}' python3-qgis 2>/dev/null | grep -q "install ok installed"; then
  optional+=(python3-qgis)
fi
[ ${#missing[@]} -eq 0 ] && [ ${#optional[@]} -eq 0 ] && exit 0
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"
  elif [ ${#missing[@]} -eq 0 ]; then
    echo "warning: not root and no sudo: ${optional[*]} not installed; the QGIS style test will be skipped" >&2; exit 0
  else
    echo "error: need root (or sudo) to apt-get install ${missing[*]}" >&2; exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
if [ ${#missing[@]} -gt 0 ]; then
  echo "Installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [ ${#optional[@]} -gt 0 ]; then
  echo "Installing optional Debian packages: ${optional[*]} (about 170 packages; the QGIS test skips without them)"
  { [ ${#missing[@]} -gt 0 ] || $SUDO apt-get update -qq; } \
    && $SUDO apt-get install -y -qq --no-install-recommends "${optional[@]}" >/dev/null \
    || echo "warning: could not install ${optional[*]}; the QGIS style test will be skipped" >&2
fi
# Debian starts a default cluster on install; gridlib's tests use their own throwaway cluster.
if [ -x /usr/bin/pg_lsclusters ] && pg_lsclusters -h 2>/dev/null | grep -q online; then
  $SUDO pg_ctlcluster 15 main stop 2>/dev/null || true
fi
