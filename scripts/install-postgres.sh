#!/usr/bin/env bash
# Installs the PostgreSQL server the tests start a throwaway copy of (tests/postgres.py), from
# Debian's packages; skipped when one is there. The service itself does not need it: SQLite is
# its default store.
set -euo pipefail
if command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  exit 0
fi
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q >/dev/null
$SUDO apt-get install -y -q postgresql >/dev/null
