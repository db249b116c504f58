#!/bin/bash
# Install everything the test suite needs on a fresh Debian 12 machine (as root).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=SCRIPTDIR/../lab/apt.sh
source lab/apt.sh

APT_PACKAGES=(
    pacemaker pacemaker-cli-utils corosync pcs resource-agents fence-agents
    libxml2-utils python3-pytest python3-lxml python3-yaml python3-pip
    python3-libvirt libvirt-daemon-system libvirt-clients
    python3-novaclient python3-keystoneauth1 python3-pyghmi
    # tests/unit/evacuator/test_metrics.py reads the metrics back with Prometheus' own parser
    python3-prometheus-client
    ipmitool openipmi iproute2 procps time man-db
    # tests/integration/test_debian_package.py builds the .deb (debian/control's Build-Depends)
    build-essential dpkg-dev debhelper dh-python lintian
)
# Pinned: a new release of either may add a rule or a check that fails `make lint`.
PIP_PACKAGES=(ruff==0.17.5 mypy==2.4.1)

apt_ensure instanceha "${APT_PACKAGES[@]}"

# (pip leaves satisfied pins alone without asking the index)
/usr/bin/python3 -m pip install -q --break-system-packages --root-user-action=ignore "${PIP_PACKAGES[@]}"

# Each lab installs its own components (idempotent, fast when already done).
for installer in lab/*/install.sh; do
    [ -x "$installer" ] || continue
    echo "== $installer"
    "$installer"
done
