#!/usr/bin/env bash
# Everything from a bare Debian 12 machine to a full check: install, start PostgreSQL, run
# scripts/check.sh (extra arguments go to pytest). What CI runs.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

started=$SECONDS
"$ROOT/scripts/install.sh"
say "PostgreSQL for the tests"
postgres_out="$("$ROOT/scripts/postgres.sh")"
CALLCENTER_TEST_POSTGRES_URL="${postgres_out##*$'\n'}"
[[ $CALLCENTER_TEST_POSTGRES_URL == postgresql* ]] || die "scripts/postgres.sh printed no URL"
export CALLCENTER_TEST_POSTGRES_URL
rc=0
"$ROOT/scripts/check.sh" "$@" || rc=$?
say "scripts/test.sh finished in $((SECONDS - started)) s (exit $rc)"
exit "$rc"
