#!/usr/bin/env bash
# Makes sure a PostgreSQL server answers on 127.0.0.1 for the tests, and prints its admin URL.
#
# Uses Debian's cluster tools (pg_lsclusters, pg_createcluster, pg_ctlcluster), which work without
# systemd. Creates the superuser role and the database `callcenter_test` when missing; the tests
# create one database per test through this role. The password is made once per machine user and
# kept in ~/.config/callcenter995/postgres-test-password so that every clone shares it.
#
# The LAST line of stdout is the SQLAlchemy URL; progress goes to stderr. Idempotent and fast when
# the server already runs.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ROLE=callcenter_test
DATABASE=callcenter_test
PASSWORD_FILE="${CALLCENTER_TEST_POSTGRES_PASSWORD_FILE:-${XDG_CONFIG_HOME:-$HOME/.config}/callcenter995/postgres-test-password}"

ensure_server_packages() {
    if command -v pg_lsclusters >/dev/null 2>&1 && compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null; then
        return 0
    fi
    ensure_debian_packages postgresql
}

# "<version> <cluster> <port> <status>" of the first cluster, creating one when there is none.
cluster_line() {
    local line
    line="$(pg_lsclusters --no-header 2>/dev/null | awk 'NF >= 4 { print $1, $2, $3, $4; exit }')"
    if [[ -z $line ]]; then
        local version
        version="$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -V | tail -n1)"
        say "no PostgreSQL cluster: creating ${version}/main"
        as_root pg_createcluster "$version" main >&2
        line="$(pg_lsclusters --no-header | awk 'NF >= 4 { print $1, $2, $3, $4; exit }')"
    fi
    printf '%s\n' "$line"
}

wait_ready() {
    local port=$1 tries
    for ((tries = 0; tries < 60; tries++)); do
        pg_isready -q -h 127.0.0.1 -p "$port" && return 0
        sleep 0.5
    done
    die "PostgreSQL on 127.0.0.1:$port did not become ready in 30 s"
}

# psql as the cluster's owner over the local socket (peer authentication), from a readable directory.
as_postgres_psql() {
    local port=$1
    shift
    (cd / && as_root runuser -u postgres -- psql -X -q -At -v ON_ERROR_STOP=1 -p "$port" "$@")
}

password() {
    if [[ ! -s $PASSWORD_FILE ]]; then
        mkdir -p "$(dirname "$PASSWORD_FILE")"
        (umask 077 && od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$PASSWORD_FILE")
    fi
    cat "$PASSWORD_FILE"
}

can_log_in() {
    local port=$1 secret=$2
    PGPASSWORD="$secret" PGCONNECT_TIMEOUT=5 psql -X -q -At -h 127.0.0.1 -p "$port" -U "$ROLE" -d "$DATABASE" \
        -c 'SELECT 1' >/dev/null 2>&1
}

ensure_role_and_database() {
    local port=$1 secret=$2
    if [[ -z $(as_postgres_psql "$port" -c "SELECT 1 FROM pg_roles WHERE rolname = '$ROLE'") ]]; then
        say "creating superuser role $ROLE"
        as_postgres_psql "$port" -c "CREATE ROLE $ROLE LOGIN SUPERUSER PASSWORD '$secret'"
    fi
    if [[ -z $(as_postgres_psql "$port" -c "SELECT 1 FROM pg_database WHERE datname = '$DATABASE'") ]]; then
        say "creating database $DATABASE"
        as_postgres_psql "$port" -c "CREATE DATABASE $DATABASE OWNER $ROLE"
    fi
    if ! can_log_in "$port" "$secret"; then
        say "setting the password of $ROLE"
        as_postgres_psql "$port" -c "ALTER ROLE $ROLE LOGIN SUPERUSER PASSWORD '$secret'"
        can_log_in "$port" "$secret" || die "cannot log in as $ROLE on 127.0.0.1:$port (check pg_hba.conf)"
    fi
}

main() {
    ensure_server_packages
    local version cluster port status secret
    read -r version cluster port status < <(cluster_line)
    [[ -n ${port:-} ]] || die "no PostgreSQL cluster found or created"
    if [[ $status != online* ]]; then
        say "starting PostgreSQL cluster $version/$cluster on port $port"
        as_root pg_ctlcluster "$version" "$cluster" start >&2
    fi
    wait_ready "$port"
    secret="$(password)"
    ensure_role_and_database "$port" "$secret"
    say "PostgreSQL $version/$cluster ready on 127.0.0.1:$port"
    printf 'postgresql+psycopg://%s:%s@127.0.0.1:%s/%s\n' "$ROLE" "$secret" "$port" "$DATABASE"
}

main "$@"
