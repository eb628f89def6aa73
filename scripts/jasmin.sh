#!/usr/bin/env bash
# Run one process of the Jasmin SMS gateway (the real SMPP server the SMPP channel is tested against)
# in the foreground on 127.0.0.1, never the system units. Each process is started on its own, so a
# test can restart the gateway while its broker and store keep running:
#   scripts/jasmin.sh redis    RUNDIR REDIS_PORT
#   scripts/jasmin.sh rabbitmq RUNDIR AMQP_PORT          (Erlang distribution on AMQP_PORT+1)
#   scripts/jasmin.sh jasmind  RUNDIR BASE_PORT AMQP_PORT REDIS_PORT
# jasmind listens on BASE_PORT (SMPP server), BASE_PORT+1 (jCli, no login: loopback only),
# BASE_PORT+2 (HTTP API), BASE_PORT+3..+5 (its internal PB services), with the DLR lookup, DLR
# thrower and deliver_sm thrower in the same process. Jasmin 0.11.0: 0.11.1 never maps receipts for
# its SMPP server users (jookies/jasmin#1236, AttributeError in submit_sm_resp_event). RUNDIR holds data, logs and Jasmin's store.
# Jasmin lives in its own virtual environment (.tools/jasmin, made by scripts/install.sh): its pins
# (Twisted 23.10, cryptography 41) are not ours. Logs go to RUNDIR/*.log; stop with SIGTERM.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
USAGE="usage: jasmin.sh redis|rabbitmq|jasmind RUNDIR PORT..."
WHAT=${1:?$USAGE}
RUNDIR=${2:?$USAGE}
JASMIN_VENV=${JASMIN_VENV:-$ROOT/.tools/jasmin}
mkdir -p "$RUNDIR"
RUNDIR="$(cd "$RUNDIR" && pwd)"

run_redis() {
    local port=${1:?$USAGE}
    mkdir -p "$RUNDIR/redis"
    exec redis-server --port "$port" --bind 127.0.0.1 --dir "$RUNDIR/redis" --save "" --appendonly no \
        --daemonize no --logfile "$RUNDIR/redis.log"
}

run_rabbitmq() {
    local port=${1:?$USAGE}
    mkdir -p "$RUNDIR/rabbitmq/home" "$RUNDIR/rabbitmq/mnesia" "$RUNDIR/rabbitmq/log"
    echo "[]." >"$RUNDIR/rabbitmq/plugins"
    : >"$RUNDIR/rabbitmq/rabbitmq.conf"
    cd "$RUNDIR/rabbitmq"  # where Erlang writes erl_crash.dump if the broker dies
    # Debian's /usr/sbin/rabbitmq-server switches to the rabbitmq user; the server itself runs as us,
    # with everything (cookie, database, logs) under RUNDIR.
    HOME="$RUNDIR/rabbitmq/home" RABBITMQ_NODENAME="jasmin$port@localhost" RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 \
        RABBITMQ_NODE_PORT="$port" RABBITMQ_DIST_PORT="$((port + 1))" \
        RABBITMQ_MNESIA_BASE="$RUNDIR/rabbitmq/mnesia" RABBITMQ_LOG_BASE="$RUNDIR/rabbitmq/log" \
        RABBITMQ_ENABLED_PLUGINS_FILE="$RUNDIR/rabbitmq/plugins" RABBITMQ_CONFIG_FILE="$RUNDIR/rabbitmq/rabbitmq" \
        RABBITMQ_PID_FILE="$RUNDIR/rabbitmq/pid" \
        exec /usr/lib/rabbitmq/bin/rabbitmq-server
}

run_jasmind() {
    local base=${1:?$USAGE} amqp=${2:?$USAGE} redis=${3:?$USAGE}
    [[ -x $JASMIN_VENV/bin/jasmind.py ]] || die "Jasmin is not installed in $JASMIN_VENV: run scripts/install.sh"
    local root="$RUNDIR/jasmin"
    mkdir -p "$root/etc/jasmin/store" "$root/etc/jasmin/resource" "$root/var/log/jasmin"
    cp "$("$JASMIN_VENV/bin/python" -c 'import txamqp, os; print(os.path.dirname(txamqp.__file__))')/specs/standard/amqp0-9-1.stripped.xml" \
        "$root/etc/jasmin/resource/amqp0-9-1.xml"
    cat >"$RUNDIR/jasmin.cfg" <<EOF
[smpp-server]
bind = 127.0.0.1
port = $base
dlr_expiry = 86400
[jcli]
bind = 127.0.0.1
port = $((base + 1))
authentication = False
[http-api]
bind = 127.0.0.1
port = $((base + 2))
[router]
bind = 127.0.0.1
port = $((base + 3))
persistence_timer_secs = 0
[client-management]
bind = 127.0.0.1
port = $((base + 4))
[smpp-server-pb]
bind = 127.0.0.1
port = $((base + 5))
[interceptor-client]
port = $((base + 6))
[amqp-broker]
host = 127.0.0.1
port = $amqp
[redis-client]
host = 127.0.0.1
port = $redis
[sm-listener]
submit_retrial_delay_smppc_not_ready = 1
[dlr]
dlr_lookup_retry_delay = 1
dlr_lookup_max_retries = 60
[dlr-thrower]
retry_delay = 1
max_retries = 30
[deliversm-thrower]
retry_delay = 1
max_retries = 30
EOF
    cd "$RUNDIR"
    # jasmind refuses to start while the machine-wide lock /tmp/jasmind is held (one gateway per
    # host): each RUNDIR gets a lock of its own instead, so parallel test workers each run one, and a
    # lock left by a gateway killed on purpose (the restart test) is removed first.
    rm -f "$RUNDIR"/jasmind.lock "$RUNDIR"/*-[0-9]*
    ROOT_PATH="$root" exec "$JASMIN_VENV/bin/python" - "$RUNDIR" "$JASMIN_VENV/bin/jasmind.py" \
        -c "$RUNDIR/jasmin.cfg" --enable-dlr-lookup --enable-dlr-thrower <<'PY'
import runpy, sys
import lockfile
rundir, script = sys.argv[1], sys.argv[2]
machine_wide = lockfile.FileLock
lockfile.FileLock = lambda path, *args, **kwargs: machine_wide(f"{rundir}/jasmind", *args, **kwargs)
sys.argv = [script, *sys.argv[3:]]
runpy.run_path(script, run_name="__main__")
PY
}

case $WHAT in
    redis) run_redis "${@:3}" ;;
    rabbitmq) run_rabbitmq "${@:3}" ;;
    jasmind) run_jasmind "${@:3}" ;;
    *) die "$USAGE" ;;
esac
