#!/bin/bash
# Install what the systemd lab needs (idempotent; a second run takes well under 1 s):
#   systemd-container  systemd-nspawn, which boots the container (boot.sh)
#
# Usage: lab/systemd/install.sh
set -euo pipefail

PACKAGES=(systemd-container)

[ "$(id -u)" = 0 ] || { echo "systemdlab: install.sh must run as root" >&2; exit 1; }

missing=()
for pkg in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2> /dev/null || true)
    [ "$status" = "install ok installed" ] || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "systemdlab: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get -o DPkg::Lock::Timeout=600 update -q
    apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}"
fi
command -v systemd-nspawn > /dev/null || { echo "systemdlab: systemd-nspawn missing after install" >&2; exit 1; }
