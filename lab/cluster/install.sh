#!/bin/bash
# install.sh: idempotently provision what the cluster lab needs on Debian 12.
#   apt: pacemaker pacemaker-cli-utils corosync pcs resource-agents fence-agents openipmi ipmitool iptables
#   pacemaker-remoted: extracted from pacemaker-remote.deb (it Conflicts: pacemaker) into
#                      $LAB_ROOT/remote-root
#   /usr/sbin/policy-rc.d (exit 101) when absent, so package installs start no daemons
#   /etc/pacemaker/authkey (root:haclient 0640) when absent
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=common.sh
. "$HERE/common.sh"
# shellcheck source=SCRIPTDIR/../apt.sh
. "$HERE/../apt.sh"
[ "$(id -u)" = 0 ] || die "must run as root"
t0=$(now_ns)

PKGS=(pacemaker pacemaker-cli-utils corosync pcs resource-agents fence-agents openipmi ipmitool iproute2 iptables procps util-linux)
apt_ensure cluster-lab "${PKGS[@]}"

if [ ! -x "$REMOTED" ]; then
  log "extracting pacemaker-remoted into $REMOTE_ROOT"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  # apt-get download drops privileges to _apt when it can write the target directory
  if id _apt >/dev/null 2>&1; then chown _apt "$tmp"; fi
  (cd "$tmp" && apt-get download -q pacemaker-remote >&2)
  mkdir -p "$REMOTE_ROOT"
  dpkg-deb -x "$tmp"/pacemaker-remote_*.deb "$REMOTE_ROOT"
fi
"$REMOTED" --version >/dev/null 2>&1 || die "$REMOTED does not run (ldd $REMOTED)"

if [ ! -s /etc/pacemaker/authkey ]; then
  mkdir -p /etc/pacemaker
  (umask 077; dd if=/dev/urandom of=/etc/pacemaker/authkey bs=4096 count=1 status=none)
  chown root:haclient /etc/pacemaker/authkey
  chmod 640 /etc/pacemaker/authkey
fi
log "install ok in $(ms_since "$t0") ms (remoted: $REMOTED)"
