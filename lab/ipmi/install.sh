#!/bin/bash
# Install what the IPMI lab needs (idempotent; a second run takes well under 1 s):
#   openipmi       ipmi_sim, the simulated BMCs
#   ipmitool       readiness probe of a started BMC
#   python3-pyghmi fence_ipmi's IPMI client (for /usr/bin/python3)
#   fence-agents   fence_ipmilan, the baseline of bench/fencing.py
#
# Usage: lab/ipmi/install.sh
set -euo pipefail

PACKAGES=(openipmi ipmitool python3-pyghmi fence-agents)

[ "$(id -u)" = 0 ] || { echo "ipmilab: install.sh must run as root" >&2; exit 1; }

missing=()
for pkg in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2> /dev/null || true)
    [ "$status" = "install ok installed" ] || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "ipmilab: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get -o DPkg::Lock::Timeout=600 update -q
    apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}"
fi
command -v ipmi_sim > /dev/null || { echo "ipmilab: ipmi_sim missing after install" >&2; exit 1; }
