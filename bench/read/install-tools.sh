#!/usr/bin/env bash
# Installs what the read benchmark runs besides Node: pgbench (Debian ships it in the PostgreSQL
# server package, postgresql-15 on bookworm) and the wrk load generator. A no-op when both exist.
set -euo pipefail
missing=()
command -v pgbench >/dev/null 2>&1 || missing+=("postgresql-${PG_MAJOR:-15}")
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "bench:read needs ${missing[*]}: run 'sudo apt-get install -y ${missing[*]}'" >&2
  exit 1
fi
echo "bench:read: installing ${missing[*]}" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
