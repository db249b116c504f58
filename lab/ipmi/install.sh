#!/bin/bash
# Install what the IPMI lab needs (idempotent; a second run takes well under 1 s):
#   openipmi       ipmi_sim, the simulated BMCs
#   ipmitool       readiness probe of a started BMC
#   python3-pyghmi fence_ipmi's IPMI client (for /usr/bin/python3)
#   fence-agents   fence_ipmilan, the baseline of bench/fencing.py
#
# Usage: lab/ipmi/install.sh
set -euo pipefail
# shellcheck source=SCRIPTDIR/../apt.sh
source "$(dirname "${BASH_SOURCE[0]}")/../apt.sh"

PACKAGES=(openipmi ipmitool python3-pyghmi fence-agents)

[ "$(id -u)" = 0 ] || { echo "ipmilab: install.sh must run as root" >&2; exit 1; }

apt_ensure ipmilab "${PACKAGES[@]}"
command -v ipmi_sim > /dev/null || { echo "ipmilab: ipmi_sim missing after install" >&2; exit 1; }
