#!/bin/sh
# Install the Debian packages the tests need when they are missing (idempotent; a no-op when all are present).
# PostgreSQL (initdb/pg_ctl for tests/pgkit.py's throwaway cluster) and Chromium (the Playwright browser tests;
# never `playwright install`). Needs root or sudo and apt. `make test` runs it first.
set -eu

missing=""
if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 && ! command -v pg_ctl >/dev/null 2>&1; then
    missing="$missing postgresql"
fi
command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || missing="$missing chromium"
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -eq 0 ]; then SUDO=""; elif command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "missing system packages:$missing; install them as root (apt-get install$missing)" >&2; exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "missing system packages:$missing; no apt-get here: install them with this system's package manager" >&2
    exit 1
fi
echo "installing system packages:$missing"
$SUDO apt-get update -qq
# Only the binaries are used: pgkit starts its own throwaway clusters on free ports.
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing
