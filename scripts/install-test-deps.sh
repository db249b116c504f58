#!/bin/bash
# Install everything the test suite needs on a fresh Debian 12 machine (as root).
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
    pacemaker pacemaker-cli-utils corosync pcs resource-agents fence-agents
    libxml2-utils python3-pytest python3-lxml python3-yaml python3-pip
    python3-libvirt libvirt-daemon-system libvirt-clients
    python3-novaclient python3-keystoneauth1 python3-pyghmi
    ipmitool openipmi iproute2 procps time man-db
)
# Pinned: a new release of either may add a rule or a check that fails `make lint`.
PIP_PACKAGES=(ruff==0.17.5 mypy==2.4.1)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
    # Package installs must not start daemons: the labs start their own.
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o DPkg::Lock::Timeout=600 \
        --no-install-recommends "${missing[@]}"
fi

# (pip leaves satisfied pins alone without asking the index)
/usr/bin/python3 -m pip install -q --break-system-packages --root-user-action=ignore "${PIP_PACKAGES[@]}"

# Each lab installs its own components (idempotent, fast when already done).
for installer in lab/*/install.sh; do
    [ -x "$installer" ] || continue
    echo "== $installer"
    "$installer"
done
