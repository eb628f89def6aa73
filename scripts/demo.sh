#!/usr/bin/env bash
# Runs the 995 service as a demo on this machine: installs what is missing, creates the embedded
# SQLite database under var/, loads the demo village and serves the operators' console (at /,
# with the demo logins printed) and the API in the foreground.
# Ctrl-C stops it and everything it started. Extra arguments go to `callcenter serve`
# (e.g. --port 9000).
#
# The demo is a list of stages (DEMO_STAGES). A stage that starts a background service registers
# its pid with `started`; all of them are stopped when the demo ends.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

CALLCENTER="$ROOT/.venv/bin/callcenter"
DEMO_SCALE="${DEMO_SCALE:-village}"
BACKGROUND_PIDS=()

started() { BACKGROUND_PIDS+=("$1"); }

stop_background() {
    local pid
    for pid in "${BACKGROUND_PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${BACKGROUND_PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
}
trap stop_background EXIT

stage_install() { "$ROOT/scripts/install.sh"; }

stage_database() {
    say "database: callcenter init-db"
    "$CALLCENTER" init-db
}

stage_demo_data() {
    say "demo data: callcenter demo-data --scale $DEMO_SCALE"
    "$CALLCENTER" demo-data --scale "$DEMO_SCALE"
}

# Foreground: the demo lasts as long as the service.
stage_serve() {
    say "service: callcenter serve $* (Ctrl-C stops the demo)"
    "$CALLCENTER" serve "$@"
}

# Background services (SIP server, simulated phones, console) go between demo data and serve.
DEMO_STAGES=(stage_install stage_database stage_demo_data)

main() {
    local stage
    for stage in "${DEMO_STAGES[@]}"; do
        "$stage"
    done
    stage_serve "$@"
}

main "$@"
