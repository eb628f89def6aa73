#!/usr/bin/env bash
# Start Kamailio in the foreground on 127.0.0.1 (never the system unit).
#   scripts/kamailio.sh PORT RUNDIR [CFG [KAMAILIO-ARGS...]]
# CFG defaults to config/kamailio/loopback.cfg; RUNDIR holds the pid file and runtime sockets.
# Arguments after CFG go to kamailio, e.g. -A 'DISPATCHER_LIST="/path/dispatcher.list"' for
# config/kamailio/dispatcher.cfg.
# Logs go to stderr; stop it with SIGTERM (Ctrl-C).
# KAMAILIO_SHM_MB sizes the shared memory that holds every transaction (default 256 MB; Debian's
# 64 MB runs out when thousands of INVITEs wait at once, and Kamailio then answers 500: see
# docs/operations.md, "Kamailio shared memory").
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PORT=${1:?usage: kamailio.sh PORT RUNDIR [CFG]}
RUNDIR=${2:?usage: kamailio.sh PORT RUNDIR [CFG]}
CFG=${3:-$ROOT/config/kamailio/loopback.cfg}
HOST=${KAMAILIO_HOST:-127.0.0.1}
SHM_MB=${KAMAILIO_SHM_MB:-256}
mkdir -p "$RUNDIR"
# -DD: stay in the foreground but keep worker processes; -E: log to stderr; -Y: runtime dir.
exec kamailio -f "$CFG" -DD -E -Y "$RUNDIR" -P "$RUNDIR/kamailio.pid" -m "$SHM_MB" -M 8 \
    -l "udp:$HOST:$PORT" -A "SIP_PORT=$PORT" "${@:4}"
