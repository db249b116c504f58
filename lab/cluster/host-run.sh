#!/bin/bash
# host-run.sh LAB_DIR NAME: the "operating system" of lab node NAME (ctlN or compN).
#
# Its BMC (ipmi_sim, startcmd mode) runs it as `setsid host-run.sh LAB_DIR NAME` on power-on, and
# its life is the node's power state. It is the leader of its own process group and must never be
# stopped: everything the node runs is in that group or in the node's network namespace:
#   * compN: pacemaker-remoted, inside netns ihacl-compN + a private mount namespace (tmpfs /run) +
#     its own UTS namespace (hostname <HOSTNAME_PREFIX>N, default compN), listening on the node's
#     bridge address;
#   * ctlN: a holder of the node's mount and UTS namespaces inside netns ihacl-ctlN (private /run,
#     /dev/shm, /var/lib/{pacemaker,corosync,instanceha}; hostname ctlN), then corosync and
#     pacemakerd in them (common.sh: ctl_holder_start, ctl_cluster_start);
#   * every line of $LAB_DIR/hosts/NAME/extra-cmds (run by /bin/sh in the ROOT network namespace,
#     in this process group; they get HOST_NAME HOST_INDEX HOST_NETNS HOST_ADDR GATEWAY_ADDR
#     LAB_DIR in a clean environment; prefix with `ip netns exec "$HOST_NETNS"` to run in the node).
# Power-off (SIGTERM from ipmi_sim, or SIGINT) = SIGKILL every node process at once, no shutdown.
set -euo pipefail
LAB_DIR=$1; NAME=$2
HERE=$(cd "$(dirname "$0")" && pwd)
CLUSTER_LAB_DIR=$LAB_DIR
# shellcheck source=common.sh
. "$HERE/common.sh"
# shellcheck source=/dev/null
. "$LAB/lab.env"
D=$(node_dir "$NAME"); NS=$(node_netns "$NAME"); N=$(node_index "$NAME")
ADDR=$(node_addr "$NAME"); GW=$(bridge_addr)
plog() { echo "$(date +%s.%N) $*" >> "$D/power.log"; }

[ "$(ps -o pgid= -p $$ | tr -d ' ')" = "$$" ] || { echo "host-run.sh must be started by setsid" >&2; exit 1; }

power_off() {
  trap - TERM INT
  plog "power-off"
  rm -f "$D/host.pid"
  local pids
  pids=$(ip netns pids "$NS" 2>/dev/null || true)
  # shellcheck disable=SC2086
  [ -z "$pids" ] || kill -KILL $pids 2>/dev/null || true
  kill -KILL -- -$$      # the whole process group, this script included
}
trap power_off TERM INT

echo $$ > "$D/host.pid"
plog "power-on pid=$$"
exec </dev/null >>"$D/host.log" 2>&1

if is_ctl "$NAME"; then
  ctl_holder_start "$NAME"
  ctl_cluster_start "$NAME"
else
  # pacemaker-remoted: exec chain ip-netns-exec -> unshare -> sh -> env -> remoted keeps one pid
  ip netns exec "$NS" unshare --mount --uts --propagation private /bin/sh -c '
      mount -t tmpfs -o mode=0755 tmpfs /run && mkdir -p /run/resource-agents /run/lock /run/crm &&
      hostname "$1" && shift && exec "$@"' host-run "${HOSTNAME_PREFIX:-comp}$N" \
    "${CLEAN_ENV[@]}" PCMK_logfile="$D/remoted.log" PCMK_remote_address="$ADDR" PCMK_remote_port=3121 \
    "$REMOTED" &
  echo $! > "$D/remoted.pid"
fi

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

# idle until powered off; a crashed OS (kill-host, kill-ctl) leaves this "firmware" running: power stays on
while :; do
  sleep 3600 &
  wait $! || true
done
