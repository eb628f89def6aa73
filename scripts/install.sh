#!/usr/bin/env bash
# Installs what the 995 service needs on Debian 12, as root, asking nothing:
#   1. Debian packages (Python, PostgreSQL, Kamailio, sipp, Chromium, Chinese fonts, speech and sound,
#      the baresip softphone for the interop suite);
#   2. a pinned uv in .tools/;
#   3. the project's virtual environment .venv, exactly as uv.lock says.
# Idempotent: when everything is in place it runs in a second or two and needs no network.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

UV_VERSION=0.13.9
DEBIAN_PACKAGES=(
    python3 python3-venv python3-dev gcc
    postgresql
    kamailio kamailio-extra-modules kamailio-mysql-modules kamailio-sqlite-modules kamailio-tls-modules sqlite3 sip-tester
    chromium fonts-wqy-microhei
    espeak-ng sox libsox-fmt-all
    baresip
)
TOOLS="$ROOT/.tools"

python_ok() {
    python3 -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null
}

ensure_uv() {
    if [[ -x $TOOLS/bin/uv && $("$TOOLS/bin/uv" --version 2>/dev/null) == "uv $UV_VERSION"* ]]; then
        say "uv $UV_VERSION: present in .tools/"
        return 0
    fi
    say "uv $UV_VERSION: installing into .tools/"
    if [[ ! -x $TOOLS/bin/python ]] || ! "$TOOLS/bin/python" -c 'import pip' 2>/dev/null; then
        rm -rf "$TOOLS"
        python3 -m venv "$TOOLS"
    fi
    "$TOOLS/bin/python" -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION"
}

sync_venv() {
    # The interpreter is python3 from PATH, resolved past shims (pyenv) so that uv sees the same
    # interpreter on every run and keeps .venv; uv must never fetch an interpreter of its own.
    local python
    python="$(python3 -c 'import sys; print(sys.executable)')"
    say "project environment: uv sync --frozen (.venv from uv.lock, $python)"
    (cd "$ROOT" && UV_PYTHON_DOWNLOADS=never UV_LINK_MODE=copy \
        "$TOOLS/bin/uv" sync --frozen --python "$python")
}

main() {
    local started=$SECONDS
    ensure_debian_packages "${DEBIAN_PACKAGES[@]}"
    python_ok || die "python3 on PATH is $(python3 --version 2>&1); the project needs Python 3.11 or newer"
    say "python3: $(command -v python3) ($(python3 --version 2>&1))"
    ensure_uv
    sync_venv
    say "install done in $((SECONDS - started)) s: run .venv/bin/callcenter --help"
}

main "$@"
