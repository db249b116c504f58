# shellcheck shell=bash
# apt_ensure TAG PKG...: install those of the Debian packages PKG that are not installed yet.
# Sourced by the labs' and the test suite's installers; idempotent (no apt run when all are
# there). Package installs start no daemon: the labs start their own, on their own ports and
# data, so /usr/sbin/policy-rc.d answering 101 is put in place when absent (and kept).
# apt-get install runs first without an update (fast on a warm machine) and again after
# `apt-get update` when it fails (a fresh machine's package lists). apt's output goes to stderr.

apt_ensure() {
    local tag=$1 pkg status
    shift
    local missing=()
    for pkg in "$@"; do
        status=$(dpkg-query -W -f='${Status}' "$pkg" 2> /dev/null || true)
        [ "$status" = "install ok installed" ] || missing+=("$pkg")
    done
    [ ${#missing[@]} -gt 0 ] || return 0
    command -v apt-get > /dev/null || { echo "$tag: apt-get not found; cannot install ${missing[*]}" >&2; return 1; }
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\n# from instanceha lab/apt.sh: package installs start no daemon\nexit 101\n' \
            > /usr/sbin/policy-rc.d
        chmod 0755 /usr/sbin/policy-rc.d
    fi
    echo "$tag: apt-get install ${missing[*]}" >&2
    _apt_install "${missing[@]}" || { apt-get update -q -o DPkg::Lock::Timeout=600 >&2 &&
        _apt_install "${missing[@]}"; }
}

_apt_install() {
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o DPkg::Lock::Timeout=600 \
        --no-install-recommends "$@" >&2
}
