#!/bin/bash
# Install what the Nova lab needs (idempotent; a second run takes < 1 s):
#   * Debian packages: rabbitmq-server, mariadb-server, curl, python3-venv and,
#     for the project's tests under /usr/bin/python3, python3-novaclient and
#     python3-keystoneauth1;
#   * a virtualenv ($NOVALAB_VENV) built on /usr/bin/python3 with pinned
#     OpenStack services from PyPI (nova 34.0.0, placement 16.0.0,
#     keystone 30.0.0, glance 33.0.0), every dependency constrained by
#     constraints.txt (what OpenStack's upper-constraints does for its gates).
# The venv is rebuilt only when the pins, the constraints or the Python change:
# a stamp file inside it holds the hash of all three.
#
# Usage: lab/nova/install.sh
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=SCRIPTDIR/../apt.sh
source "$(dirname "${BASH_SOURCE[0]}")/../apt.sh"

[ "$(id -u)" = 0 ] || die "install.sh must run as root"
lab_lock

APT_PACKAGES=(rabbitmq-server mariadb-server mariadb-client curl python3-venv
    python3-novaclient python3-keystoneauth1)

# nova 34 (2026.2) is the last series known to support Python 3.11; pin it all.
# SQLAlchemy stays < 2.1: nova 34 still calls noload(), deprecated in 2.1.
PIP_PINS=(
    nova==34.0.0
    openstack-placement==16.0.0
    keystone==30.0.0
    glance==33.0.0
    python-novaclient==18.13.1
    python-openstackclient
    gunicorn
    PyMySQL
    "SQLAlchemy<2.1"
)

T0=$EPOCHREALTIME

# ------------------------------------------------------------------ apt
apt_ensure novalab "${APT_PACKAGES[@]}"
T_APT=$(ts)

# ------------------------------------------------------------------ venv
PY=/usr/bin/python3
# Every transitive dependency is held at the version the suite was proven with.
CONSTRAINTS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/constraints.txt
stamp_of() {
    { "$PY" -c 'import sys; print(sys.version)'; printf '%s\n' "${PIP_PINS[@]}"
        cat "$CONSTRAINTS"; } | sha256sum | cut -d' ' -f1
}
STAMP_FILE=$NOVALAB_VENV/.instanceha-pins.sha256
want=$(stamp_of)
if [ -x "$NOVALAB_VENV/bin/nova-compute" ] && [ -s "$STAMP_FILE" ] &&
    [ "$(cat "$STAMP_FILE")" = "$want" ]; then
    echo "novalab: apt $T_APT, venv up to date ($NOVALAB_VENV)"
    exit 0
fi
mkdir -p "$(dirname "$NOVALAB_VENV")"
rm -f "$STAMP_FILE"
[ -x "$NOVALAB_VENV/bin/python" ] || "$PY" -m venv "$NOVALAB_VENV"
# (drop pip's noise about index locations this machine's pip.conf may list)
quiet_pip() {
    "$NOVALAB_VENV/bin/pip" "$@" 2> >(grep -v 'is ignored: it is neither a file nor a directory' >&2)
}
quiet_pip install -q -c "$CONSTRAINTS" -U pip setuptools wheel
quiet_pip install -q -c "$CONSTRAINTS" "${PIP_PINS[@]}"
"$NOVALAB_VENV/bin/pip" check > /dev/null ||
    echo "novalab: warning: pip check reports conflicts (see $NOVALAB_VENV/bin/pip check)" >&2
echo "$want" > "$STAMP_FILE"
echo "novalab: apt $T_APT, installed in $(ts) ($NOVALAB_VENV, $(du -sh "$NOVALAB_VENV" | cut -f1))"
