#!/usr/bin/env bash
# Installs everything kvroute needs to build, test and benchmark on Debian 12 (bookworm), as root.
# Idempotent: packages already present are left alone, and apt's index is refreshed only when
# something is missing.
set -euo pipefail

packages=(
  # toolchain
  g++ cmake ninja-build pkg-config git ca-certificates curl
  # libraries (DESIGN.md: the chosen stack)
  libboost1.81-dev libsimdjson-dev nlohmann-json3-dev libyaml-cpp-dev libspdlog-dev libfmt-dev
  libxxhash-dev libhiredis-dev libcli11-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev wrk nginx-light haproxy redis-server
)

if [ "$(id -u)" -ne 0 ]; then
  echo "setup.sh: run as root (it installs Debian packages with apt-get)" >&2
  exit 1
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js and npm for the end-to-end tests: keep an existing installation (e.g. NodeSource's
# nodejs, which bundles npm and conflicts with Debian's npm package).
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)

if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "setup.sh: all packages present"
fi

# nginx/haproxy/redis are started by tests on loopback ports; their Debian services are not needed.
for svc in nginx haproxy redis-server; do
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then
    systemctl stop "$svc" >/dev/null 2>&1 || true
  fi
done
