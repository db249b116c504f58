#!/bin/bash
# host-run.sh LAB_DIR N: the "operating system" of lab compute host compN.
#
# Its BMC (ipmi_sim, startcmd mode) runs it as `setsid host-run.sh LAB_DIR N` on power-on, and its
# life is the host's power state. It is the leader of its own process group and must never be
# stopped: everything the host runs is in that group or in the host's network namespace:
#   * pacemaker-remoted, inside netns ihacl-compN + a private mount namespace (tmpfs /run) + its
#     own UTS namespace (hostname <HOSTNAME_PREFIX>N, default compN), listening on the host's
#     veth address;
#   * every line of $LAB_DIR/hosts/compN/extra-cmds (run by /bin/sh in the ROOT network namespace,
#     in this process group; they get HOST_NAME HOST_INDEX HOST_NETNS HOST_ADDR GATEWAY_ADDR
#     LAB_DIR in a clean environment; prefix with `ip netns exec "$HOST_NETNS"` to run in the host).
# Power-off (SIGTERM from ipmi_sim, or SIGINT) = SIGKILL every host process at once, no shutdown.
set -euo pipefail
LAB_DIR=$1; N=$2
HERE=$(cd "$(dirname "$0")" && pwd)
CLUSTER_LAB_DIR=$LAB_DIR
# shellcheck source=common.sh
. "$HERE/common.sh"
# shellcheck source=/dev/null
. "$LAB/lab.env"
D=$(host_dir "$N"); NS=$(host_netns "$N"); NAME=$(host_name "$N")
HOSTNAME=${HOSTNAME_PREFIX:-comp}$N
ADDR=$LAB_NET.$N.2; GW=$LAB_NET.$N.1
plog() { echo "$(date +%s.%N) $*" >> "$D/power.log"; }

[ "$(ps -o pgid= -p $$ | tr -d ' ')" = "$$" ] || { echo "host-run.sh must be started by setsid" >&2; exit 1; }

power_off() {
  trap - TERM INT
  plog "power-off"
  rm -f "$D/host.pid"
  local pids
  pids=$(ip netns pids "$NS" 2>/dev/null || true)
  [ -z "$pids" ] || kill -KILL $pids 2>/dev/null || true
  kill -KILL -- -$$      # the whole process group, this script included
}
trap power_off TERM INT

echo $$ > "$D/host.pid"
plog "power-on pid=$$"
exec </dev/null >>"$D/host.log" 2>&1

# pacemaker-remoted: exec chain ip-netns-exec -> unshare -> sh -> env -> remoted keeps one pid
ip netns exec "$NS" unshare --mount --uts --propagation private /bin/sh -c '
    mount -t tmpfs -o mode=0755 tmpfs /run && mkdir -p /run/resource-agents /run/lock /run/crm &&
    hostname "$1" && shift && exec "$@"' host-run "$HOSTNAME" \
  "${CLEAN_ENV[@]}" PCMK_logfile="$D/remoted.log" PCMK_remote_address="$ADDR" PCMK_remote_port=3121 \
  "$REMOTED" &
echo $! > "$D/remoted.pid"

: > "$D/extra.pids"
if [ -s "$D/extra-cmds" ]; then
  i=0
  while IFS= read -r line || [ -n "$line" ]; do
    case $line in ''|'#'*) continue;; esac
    i=$((i + 1))
    "${CLEAN_ENV[@]}" HOST_NAME="$NAME" HOST_INDEX="$N" HOST_NETNS="$NS" HOST_ADDR="$ADDR" GATEWAY_ADDR="$GW" \
      LAB_DIR="$LAB" /bin/sh -c "$line" >>"$D/extra-$i.log" 2>&1 </dev/null &
    echo "$! $line" >> "$D/extra.pids"
  done < "$D/extra-cmds"
fi

# idle until powered off; a crashed OS (kill-host) leaves this "firmware" running: power stays on
while :; do
  sleep 3600 &
  wait $! || true
done
