#!/usr/bin/env bash
# The one check developers and CI run: ruff, mypy, the import rules (lint-imports, contracts in pyproject.toml),
# then pytest (extra arguments: one pytest run with them).
# Needs .venv (scripts/install.sh). PostgreSQL tests use CALLCENTER_TEST_POSTGRES_URL when set,
# otherwise this runs scripts/postgres.sh first. PYTEST_WORKERS (default 2) sets pytest's workers.
# Every step runs even when an earlier one failed; the exit code is non-zero if any failed.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

BIN="$ROOT/.venv/bin"
[[ -x $BIN/pytest && -x $BIN/ruff && -x $BIN/mypy && -x $BIN/lint-imports ]] || die "no .venv with the dev tools: run scripts/install.sh"

failed=()

step() {
    local name=$1
    shift
    say "$name"
    if ! "$@"; then
        failed+=("$name")
    fi
}

# schemathesis generates its tests from the OpenAPI document in one process only: this file runs
# on its own, after the others.
ALONE=tests/integration/test_api_fuzz.py

pytest_once() {
    local rc=0
    "$BIN/pytest" "$@" || rc=$?
    if [[ $rc -eq 5 ]]; then
        printf 'error: pytest collected no test: a check that ran nothing has not passed\n' >&2
    fi
    return "$rc"
}

run_pytest() {
    if [[ $# -gt 0 ]]; then  # what the caller chose, in one process
        pytest_once "$@"
        return
    fi
    local rc=0
    # Two workers, each test file on one of them: most of the suite waits on real peers (prompts
    # played over SIP, timers), so two files run at a time.
    pytest_once -n "${PYTEST_WORKERS:-2}" --dist loadfile --ignore="$ALONE" || rc=$?
    pytest_once -p no:xdist "$ALONE" || rc=$?
    return "$rc"
}

if [[ -z ${CALLCENTER_TEST_POSTGRES_URL:-} ]]; then  # one server for every worker, started once
    postgres_out="$("$ROOT/scripts/postgres.sh")"
    export CALLCENTER_TEST_POSTGRES_URL="${postgres_out##*$'\n'}"
fi

step "ruff check" "$BIN/ruff" check .
step "mypy" "$BIN/mypy"
step "import rules" "$BIN/lint-imports"
step "pytest" run_pytest "$@"

if [[ ${#failed[@]} -gt 0 ]]; then
    printf 'check FAILED: %s\n' "${failed[*]}" >&2
    exit 1
fi
say "check passed: ruff, mypy, import rules, pytest"
