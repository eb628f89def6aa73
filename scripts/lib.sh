# Shared helpers for the scripts in this folder. Sourced, never run.
# shellcheck shell=bash

# shellcheck disable=SC2034 # used by the scripts that source this file
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export DEBIAN_FRONTEND=noninteractive

# Progress goes to stderr so a script's stdout stays its result (postgres.sh prints a URL).
say() { printf '==> %s\n' "$*" >&2; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Run a command as root: directly when we are root, through sudo otherwise.
as_root() {
    if [[ $(id -u) -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo -n -- "$@" || die "needs root: run this script as root (sudo without a password failed)"
    else
        die "needs root to run: $*"
    fi
}

# Debian packages of the list that are not installed.
missing_debian_packages() {
    local package
    for package in "$@"; do
        if [[ $(dpkg-query -W -f='${Status}' "$package" 2>/dev/null) != "install ok installed" ]]; then
            printf '%s\n' "$package"
        fi
    done
}

# The package lists are missing or older than a day: installing from them would fail or be stale.
_apt_lists_stale() {
    local lists=/var/lib/apt/lists
    ! compgen -G "$lists/*_Packages*" >/dev/null \
        || [[ -z $(find "$lists" -maxdepth 1 -name '*_Packages*' -mmin -1440 -print -quit) ]]
}

_apt_get() {
    as_root apt-get -q -y -o DPkg::Lock::Timeout=600 -o Dpkg::Use-Pty=0 "$@"
}

# Install the Debian packages that are missing; no apt at all when none is.
ensure_debian_packages() {
    local missing
    mapfile -t missing < <(missing_debian_packages "$@")
    if [[ ${#missing[@]} -eq 0 ]]; then
        say "Debian packages: all ${#} present"
        return 0
    fi
    command -v apt-get >/dev/null 2>&1 || die "missing packages ${missing[*]} and no apt-get: install them by hand"
    say "Debian packages to install: ${missing[*]}"
    if _apt_lists_stale; then
        say "apt-get update"
        _apt_get update
    fi
    if ! _apt_get install --no-install-recommends "${missing[@]}"; then
        say "install failed; refreshing the package lists and trying once more"
        _apt_get update
        _apt_get install --no-install-recommends "${missing[@]}"
    fi
}
