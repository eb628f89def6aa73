#!/usr/bin/env bash
# The one check developers and CI run: ruff, mypy, the import rules (lint-imports, contracts in pyproject.toml),
# then pytest (extra arguments: one pytest run with them).
# Needs .venv (scripts/install.sh). PostgreSQL tests use CALLCENTER_TEST_POSTGRES_URL when set,
# otherwise this runs scripts/postgres.sh first. PYTEST_WORKERS (default 4) sets pytest's workers.
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

# schemathesis generates its tests from the OpenAPI document in one process only (under xdist its
# cases reach almost no handler): this file runs in a pytest of its own, beside the others.
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
    local rc=0 fuzz_rc=0 fuzz_log
    fuzz_log="$(mktemp)"
    # The fuzz file beside the others, at low priority: it takes the CPU the other workers leave
    # while they wait on their peers, and never slows them (its output follows theirs).
    nice -n 15 "$BIN/pytest" -p no:xdist "$ALONE" >"$fuzz_log" 2>&1 &
    local fuzz=$!
    # Four workers, each test file on one of them (files marked slow start first, tests/conftest.py):
    # most of the suite waits on real peers (prompts played over SIP, ring and redial timers), so
    # four files at a time keep two cores busy.
    pytest_once -n "${PYTEST_WORKERS:-4}" --dist loadfile --ignore="$ALONE" || rc=$?
    wait "$fuzz" || fuzz_rc=$?
    say "pytest $ALONE"
    cat "$fuzz_log"
    rm -f "$fuzz_log"
    if [[ $fuzz_rc -eq 5 ]]; then
        printf 'error: pytest collected no test: a check that ran nothing has not passed\n' >&2
    fi
    [[ $fuzz_rc -eq 0 ]] || rc=$fuzz_rc
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
