#!/usr/bin/env bash
# The SIP edge's SQLite database (config/kamailio/production.cfg, DBURL=sqlite:///PATH):
#
#   scripts/kamailio-db.sh init PATH                      create the tables (idempotent)
#   scripts/kamailio-db.sh add-subscriber PATH USER REALM add or re-key a subscriber; the password is
#                                                         read from stdin (one line), never an argument
#   scripts/kamailio-db.sh remove-subscriber PATH USER    remove a subscriber
#   scripts/kamailio-db.sh bans PATH                      addresses banned at the last shutdown
#
# Only HA1 = md5(user:realm:password) and HA1B = md5(user@realm:realm:password) are stored; the
# password column stays empty (auth_db runs with calculate_ha1 = no). REALM must be the REALM the
# Kamailio configuration is started with: changing the realm means re-adding every subscriber.
# Schemas are Debian's (kamailio-sqlite-modules, /usr/share/kamailio/db_sqlite).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SCHEMAS=${KAMAILIO_SQLITE_SCHEMAS:-/usr/share/kamailio/db_sqlite}
# SIP user names and realms we accept: digits, letters and . _ + - (no quoting needed in SQL).
TOKEN='^[A-Za-z0-9._+-]{1,64}$'

usage() { die "usage: kamailio-db.sh init PATH | add-subscriber PATH USER REALM | remove-subscriber PATH USER | bans PATH"; }

check_token() {
    [[ $2 =~ $TOKEN ]] || die "$1 '$2' is not a SIP user name (letters, digits, . _ + -, at most 64)"
}

md5() { printf '%s' "$1" | md5sum | cut -d' ' -f1; }

init() {
    local db=$1 module
    [[ -d $SCHEMAS ]] || die "$SCHEMAS missing: install kamailio-sqlite-modules (scripts/install.sh)"
    if [[ -s $db ]] && sqlite3 "$db" "SELECT 1 FROM version WHERE table_name = 'subscriber'" | grep -q 1; then
        say "$db: tables present"
        return 0
    fi
    mkdir -p "$(dirname "$db")"
    for module in standard auth_db usrloc htable; do
        sqlite3 -bail "$db" < "$SCHEMAS/$module-create.sql"
    done
    say "$db: tables created (subscriber, location, htable)"
}

add_subscriber() {
    local db=$1 user=$2 realm=$3 password
    check_token user "$user"
    check_token realm "$realm"
    IFS= read -r password || [[ -n $password ]] || die "no password on stdin"
    [[ ${#password} -ge 8 ]] || die "password shorter than 8 characters"
    sqlite3 -bail "$db" "INSERT INTO subscriber (username, domain, password, ha1, ha1b)
        VALUES ('$user', '$realm', '', '$(md5 "$user:$realm:$password")', '$(md5 "$user@$realm:$realm:$password")')
        ON CONFLICT (username, domain) DO UPDATE SET password = '', ha1 = excluded.ha1, ha1b = excluded.ha1b;"
    say "subscriber $user@$realm stored (HA1 only)"
}

remove_subscriber() {
    check_token user "$2"
    sqlite3 -bail "$1" "DELETE FROM subscriber WHERE username = '$2';"
}

bans() {
    sqlite3 -separator ' ' "$1" "SELECT key_name, datetime(expires, 'unixepoch') FROM htable ORDER BY expires;"
}

main() {
    [[ $# -ge 2 ]] || usage
    local command=$1 db=$2
    command -v sqlite3 >/dev/null || die "sqlite3 missing: scripts/install.sh installs it"
    case $command in
        init) init "$db" ;;
        add-subscriber) [[ $# -eq 4 ]] || usage; add_subscriber "$db" "$3" "$4" ;;
        remove-subscriber) [[ $# -eq 3 ]] || usage; remove_subscriber "$db" "$3" ;;
        bans) bans "$db" ;;
        *) usage ;;
    esac
}

main "$@"
