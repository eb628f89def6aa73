#!/usr/bin/env bash
# Runs the 995 service as a demo on this machine: installs what is missing, creates the embedded
# SQLite database under var/, loads the demo village, starts Kamailio on loopback with simulated
# SIP phones for every household and responder, and serves the operators' console (at /, with the
# demo logins printed) and the API. Alert calls are real SIP calls (engine.call_channel = "sip");
# SMS stay simulated. Press a household's emergency key from a second terminal:
#     scripts/demo-press.sh 2001
# Ctrl-C or SIGTERM stops it and everything it started. Extra arguments go to `callcenter serve`
# (e.g. --port 9000).
#
# UDP ports on 127.0.0.1, all counted from DEMO_SIP_PORT (default 5070):
#   +0 Kamailio (config/kamailio/demo.cfg)   +1..+4 simulated phones (sipp UAS, by last digit)
#   +5 the service's SIP phone (extension 995)   +10..+25 the simulated phones' RTP
# The service's RTP range is sip.rtp_port_low..high (CALLCENTER_SIP__RTP_PORT_LOW/HIGH).
# DEMO_SKIP_INSTALL=1 skips the installation stage (the tests run the demo that way).
#
# The demo is a list of stages (DEMO_STAGES). A stage that starts a background service registers
# its pid with `started`; all of them are stopped when the demo ends.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

CALLCENTER="$ROOT/.venv/bin/callcenter"
DEMO_SCALE="${DEMO_SCALE:-village}"
DEMO_SIP_PORT="${DEMO_SIP_PORT:-5070}"
DEMO_RUN_DIR="${CALLCENTER_DATA_DIR:-$ROOT/var}/demo"
SCENARIOS="$ROOT/tests/sip/scenarios"
# Behaviour of the phone on DEMO_SIP_PORT + index (index 1..4), as routed by config/kamailio/demo.cfg.
DEMO_PHONES=(demo_ack demo_decline demo_busy demo_no_answer)
BACKGROUND_PIDS=()

started() { BACKGROUND_PIDS+=("$1"); }

# SIGTERM, up to 15 s to finish, then SIGKILL: a stuck child never keeps the demo from ending.
stop_pid() {
    local pid=$1 attempt
    kill "$pid" 2>/dev/null || return 0
    for attempt in $(seq 75); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
    done
    if kill -0 "$pid" 2>/dev/null; then
        warn "process $pid did not stop after $attempt tries: killing it"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

# Newest first: the service un-registers from Kamailio before Kamailio goes.
stop_background() {
    local index
    trap - TERM INT
    for ((index = ${#BACKGROUND_PIDS[@]} - 1; index >= 0; index--)); do
        stop_pid "${BACKGROUND_PIDS[$index]}"
    done
    say "demo stopped"
}
trap stop_background EXIT
# Background children of a script ignore Ctrl-C: end the script, and with it (EXIT) all of them.
trap 'exit 130' INT
trap 'exit 143' TERM

stage_install() {
    if [[ ${DEMO_SKIP_INSTALL:-0} == 1 ]]; then
        return
    fi
    "$ROOT/scripts/install.sh"
}

stage_database() {
    say "database: callcenter init-db"
    "$CALLCENTER" init-db
}

stage_demo_data() {
    say "demo data: callcenter demo-data --scale $DEMO_SCALE"
    "$CALLCENTER" demo-data --scale "$DEMO_SCALE"
}

stage_kamailio() {
    local run="$DEMO_RUN_DIR/kamailio" pid attempt
    say "SIP: Kamailio on udp:127.0.0.1:$DEMO_SIP_PORT (config/kamailio/demo.cfg, log $run/kamailio.log)"
    # Everything the demo binds, checked before anything starts (another demo still running, say).
    "$ROOT/scripts/demo-ports.sh" free $(seq "$DEMO_SIP_PORT" $((DEMO_SIP_PORT + 5))) \
        || die "set DEMO_SIP_PORT to a free range (6 UDP ports from it, default 5070) or stop what holds them"
    mkdir -p "$run"
    rm -f "$run/kamailio.pid"  # a stale pid file from an earlier demo would stop Kamailio starting
    "$ROOT/scripts/kamailio.sh" "$DEMO_SIP_PORT" "$run" "$ROOT/config/kamailio/demo.cfg" >"$run/kamailio.log" 2>&1 &
    pid=$!
    started "$pid"
    for attempt in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || die "Kamailio exited (port $DEMO_SIP_PORT taken?): $(tail -5 "$run/kamailio.log")"
        if "$ROOT/scripts/demo-ports.sh" answers "$DEMO_SIP_PORT"; then
            return
        fi
        sleep 0.2
    done
    die "Kamailio did not answer on udp:127.0.0.1:$DEMO_SIP_PORT after $attempt attempts"
}

stage_phones() {
    local run="$DEMO_RUN_DIR/phones" index scenario port
    mkdir -p "$run"
    for index in "${!DEMO_PHONES[@]}"; do
        scenario=${DEMO_PHONES[$index]}
        port=$((DEMO_SIP_PORT + index + 1))
        # No -m: each phone answers calls for as long as the demo runs.
        sipp -sf "$SCENARIOS/$scenario.xml" -i 127.0.0.1 -p "$port" -mi 127.0.0.1 \
            -mp $((DEMO_SIP_PORT + 10 + 4 * index)) -nostdin -trace_err \
            -error_file "$run/$scenario-errors.log" >"$run/$scenario.out" 2>&1 &
        started "$!"
    done
    sleep 0.3
    for pid in "${BACKGROUND_PIDS[@]}"; do
        kill -0 "$pid" 2>/dev/null || die "a simulated phone did not start: see $run/*.out"
    done
    say "simulated phones on udp:127.0.0.1:$((DEMO_SIP_PORT + 1))-$((DEMO_SIP_PORT + 4)), by a number's last digit:"
    say "    0-5 answer and press 1 (coming) | 6-7 press 2 (cannot come) | 8 busy (486) | 9 never answer"
}

# The service's own settings for the demo; anything already set in the environment wins.
export_sip_settings() {
    export CALLCENTER_ENGINE__CALL_CHANNEL="${CALLCENTER_ENGINE__CALL_CHANNEL:-sip}"
    export CALLCENTER_SIP__REGISTRAR_HOST="${CALLCENTER_SIP__REGISTRAR_HOST:-127.0.0.1}"
    export CALLCENTER_SIP__REGISTRAR_PORT="${CALLCENTER_SIP__REGISTRAR_PORT:-$DEMO_SIP_PORT}"
    export CALLCENTER_SIP__SIP_PORT="${CALLCENTER_SIP__SIP_PORT:-$((DEMO_SIP_PORT + 5))}"
}

# The demo lasts as long as the service; it runs in the background so a signal reaches our traps.
stage_serve() {
    local pid status=0
    export_sip_settings
    say "service: callcenter serve $* (alert calls over SIP; Ctrl-C stops the demo)"
    say "press a household's key from another terminal: scripts/demo-press.sh 2001"
    "$CALLCENTER" serve "$@" &
    pid=$!
    started "$pid"
    wait "$pid" || status=$?
    # The service runs until stopped: SIGTERM ends it with 143, and uvicorn ends a Ctrl-C with 0. When
    # Ctrl-C reached the whole group and bash reaped the service before running its INT trap, that 0
    # is all we see: it still means Ctrl-C.
    if ((status == 0)); then
        status=130
    fi
    return "$status"
}

DEMO_STAGES=(stage_install stage_database stage_demo_data stage_kamailio stage_phones)

main() {
    local stage
    for stage in "${DEMO_STAGES[@]}"; do
        "$stage"
    done
    stage_serve "$@"
}

main "$@"
