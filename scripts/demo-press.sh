#!/usr/bin/env bash
# Presses a household's emergency key in the running demo (scripts/demo.sh): a sipp household phone
# calls 995 through the demo's Kamailio from the given line, presses 1 and hangs up. The incident
# appears in the console at once and the household's neighbours' simulated phones start ringing.
#   scripts/demo-press.sh EXTENSION      e.g. scripts/demo-press.sh 2001
# DEMO_SIP_PORT must match the demo's (default 5070). Exit status: sipp's (0: the call went through).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

LINE=${1:?usage: demo-press.sh EXTENSION (a demo household line, e.g. 2001)}
[[ $LINE =~ ^\+?[0-9]{3,15}$ ]] || die "not a phone line: '$LINE' (digits only, e.g. 2001)"
DEMO_SIP_PORT="${DEMO_SIP_PORT:-5070}"
LOG_DIR="${CALLCENTER_DATA_DIR:-$ROOT/var}/demo/presses"
mkdir -p "$LOG_DIR"

free_udp_port() {
    "$ROOT/.venv/bin/python" -c 'import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

"$ROOT/scripts/demo-ports.sh" answers "$DEMO_SIP_PORT" \
    || die "no demo Kamailio answers on udp:127.0.0.1:$DEMO_SIP_PORT: start scripts/demo.sh first (same DEMO_SIP_PORT)"
say "household $LINE presses the emergency key: calling 995 via udp:127.0.0.1:$DEMO_SIP_PORT"
status=0
sipp -sf "$ROOT/tests/sip/scenarios/demo_press.xml" -i 127.0.0.1 -p "$(free_udp_port)" \
    -mi 127.0.0.1 -mp "$(free_udp_port)" -m 1 -nostdin -timeout 30s -timeout_error \
    -s 995 -key household "$LINE" -trace_err -error_file "$LOG_DIR/$LINE-errors.log" \
    "127.0.0.1:$DEMO_SIP_PORT" >"$LOG_DIR/$LINE.out" 2>&1 || status=$?
if [[ $status -eq 0 ]]; then
    say "995 answered household $LINE; follow the incident in the console"
else
    warn "the call from $LINE failed (sipp exit $status): $LOG_DIR/$LINE-errors.log"
fi
exit "$status"
