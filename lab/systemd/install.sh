#!/bin/bash
# Install what the systemd lab needs (idempotent; a second run takes well under 1 s):
#   systemd-container  systemd-nspawn, which boots the container (boot.sh)
#
# Usage: lab/systemd/install.sh
set -euo pipefail
# shellcheck source=SCRIPTDIR/../apt.sh
source "$(dirname "${BASH_SOURCE[0]}")/../apt.sh"

PACKAGES=(systemd-container)

[ "$(id -u)" = 0 ] || { echo "systemdlab: install.sh must run as root" >&2; exit 1; }

apt_ensure systemdlab "${PACKAGES[@]}"
command -v systemd-nspawn > /dev/null || { echo "systemdlab: systemd-nspawn missing after install" >&2; exit 1; }
