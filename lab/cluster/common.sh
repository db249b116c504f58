# shellcheck shell=bash
# Shared settings and helpers of the cluster lab; sourced by lab.sh, install.sh and host-run.sh.
#
# Every path the lab writes lives under $LAB (default /var/lib/instanceha-lab/cluster); the
# pacemaker-remoted binary extracted by install.sh lives under $LAB_ROOT/remote-root.

LAB_ROOT=${INSTANCEHA_LAB_ROOT:-/var/lib/instanceha-lab}
LAB=${CLUSTER_LAB_DIR:-$LAB_ROOT/cluster}
REMOTE_ROOT=$LAB_ROOT/remote-root
REMOTED=$REMOTE_ROOT/usr/sbin/pacemaker-remoted
# Daemons must not inherit the caller's PATH/HOME (a pyenv python on PATH would leak into agents).
CLEAN_PATH=/usr/sbin:/usr/bin:/sbin:/bin
CLEAN_ENV=(env -i "PATH=$CLEAN_PATH" LANG=C.UTF-8)
NS_PREFIX=ihacl-                        # network namespaces: ihacl-ctl1, ihacl-comp1 ...
VETH_PREFIX=ihacl-                      # veth: ihacl-rcomp1 (bridge port) / ihacl-ncomp1 (in the node)
BRIDGE=ihacl-br                         # every node's veth is a port of this bridge
BMC_USER=labadmin
#: offset of the controllers' BMC (UDP) and serial (TCP) ports from the bases: compN uses
#: base + N (N <= 50), ctlN base + CTL_PORT_OFFSET + N
CTL_PORT_OFFSET=60

log() { echo "[cluster-lab $(date +%T.%3N)] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }
now_ns() { date +%s%N; }
ms_since() { echo $(( ($(now_ns) - $1) / 1000000 )); }

# Nodes are named ctlN (cluster nodes: corosync + pacemakerd) or compN (pacemaker-remoted).
# Addresses on the bridge's /24 $LAB_NET.0.0: bridge .1, ctlN .(10+N), compN .(100+N).
is_ctl() { [[ $1 == ctl* ]]; }
node_index() { echo "${1//[!0-9]/}"; }
node_dir() { echo "$LAB/hosts/$1"; }
node_netns() { echo "${NS_PREFIX}$1"; }
veth_root() { echo "${VETH_PREFIX}r$1"; }
veth_node() { echo "${VETH_PREFIX}n$1"; }
bridge_addr() { echo "$LAB_NET.0.1"; }
node_addr() {
  if is_ctl "$1"; then echo "$LAB_NET.0.$((10 + $(node_index "$1")))"
  else echo "$LAB_NET.0.$((100 + $(node_index "$1")))"; fi
}
port_offset() { if is_ctl "$1"; then echo $((CTL_PORT_OFFSET + $(node_index "$1"))); else node_index "$1"; fi; }
bmc_port() { echo $((BMC_PORT_BASE + $(port_offset "$1"))); }
serial_port() { echo $((SERIAL_PORT_BASE + $(port_offset "$1"))); }
# every node of the running lab (needs lab.env): controllers first
all_nodes() { seq -f 'ctl%g' 1 "$NCTL"; [ "$NHOSTS" -eq 0 ] || seq -f 'comp%g' 1 "$NHOSTS"; }

# pid_alive FILE: the pid recorded in FILE is a live (non-zombie) process
pid_alive() {
  local f=$1 p st
  [ -s "$f" ] || return 1
  p=$(cat "$f")
  [ -r "/proc/$p/stat" ] || return 1
  st=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | cut -d' ' -f1) || return 1
  [ "$st" != Z ] && [ -n "$st" ]
}

# running_cmd NAME: a live (non-zombie) process whose command name is NAME exists
running_cmd() { ps -C "$1" -o stat= 2>/dev/null | grep -qv '^Z'; }

# stop_pidfile FILE TIMEOUT_S: SIGTERM the recorded pid, SIGKILL after TIMEOUT_S, remove FILE
stop_pidfile() {
  local f=$1 t=${2:-30} p i
  [ -s "$f" ] || { rm -f "$f"; return 0; }
  p=$(cat "$f")
  if pid_alive "$f"; then
    kill -TERM "$p" 2>/dev/null || true
    for i in $(seq 1 $((t * 10))); do pid_alive "$f" || break; sleep 0.1; done
    if pid_alive "$f"; then log "pid $p ($f) ignored SIGTERM for ${t}s: SIGKILL"; kill -KILL "$p" 2>/dev/null || true; fi
  fi
  rm -f "$f"
}

# node_pids NAME [EXCLUDE_PID]: every process of a node = its process group (recorded in host.pid)
# plus every process inside its network namespace (catches children that left the group).
node_pids() {
  local n=$1 excl=${2:-} d pg ns
  d=$(node_dir "$n"); ns=$(node_netns "$n")
  {
    if [ -s "$d/host.pid" ]; then pg=$(cat "$d/host.pid"); pgrep -g "$pg" 2>/dev/null || true; fi
    ip netns pids "$ns" 2>/dev/null || true
  } | sort -un | { if [ -n "$excl" ]; then grep -vx "$excl" || true; else cat; fi; }
}

# -- controllers: a holder process owns the node's mount + UTS namespaces (inside its netns);
# corosync, pacemakerd and every CLI run there through nsenter.

# ctl_holder NAME: pid of NAME's namespace holder; fails when the node is down
ctl_holder() { pid_alive "$(node_dir "$1")/holder.pid" && cat "$(node_dir "$1")/holder.pid"; }

# ctl_holder_start NAME: private tmpfs /run and /dev/shm, the node's own /var/lib/{pacemaker,
# corosync,instanceha} (bind mounts of hosts/NAME/var-lib-*), hostname NAME; waits until mounted
ctl_holder_start() {
  local name=$1 d i h
  d=$(node_dir "$name")
  ip netns exec "$(node_netns "$name")" unshare --mount --uts --propagation private /bin/sh -c '
      d=$1; mount -t tmpfs -o mode=0755 tmpfs /run && mkdir -p /run/resource-agents /run/lock /run/crm &&
      mount -t tmpfs -o mode=1777 tmpfs /dev/shm &&
      for m in pacemaker corosync instanceha; do mount --bind "$d/var-lib-$m" "/var/lib/$m" || exit 1; done &&
      hostname "$2" && exec sleep infinity' holder "$d" "$name" </dev/null >>"$d/holder.log" 2>&1 &
  h=$!; echo "$h" > "$d/holder.pid"
  for i in $(seq 1 100); do
    grep -q " /var/lib/instanceha " "/proc/$h/mountinfo" 2>/dev/null && return 0
    pid_alive "$d/holder.pid" || break
    sleep 0.05
  done
  die "$name: namespace holder did not come up (see $d/holder.log)"
}

# ctl_cluster_start NAME: corosync, then (once it answers) pacemakerd, in NAME's namespaces
ctl_cluster_start() {
  local name=$1 d h i
  d=$(node_dir "$name"); h=$(ctl_holder "$name") || die "$name is down"
  setsid nsenter -t "$h" -n -m -u -- "${CLEAN_ENV[@]}" corosync -f -c "$d/corosync.conf" \
    >>"$d/corosync.stdout" 2>&1 </dev/null &
  echo $! > "$d/corosync.pid"
  for i in $(seq 1 200); do
    nsenter -t "$h" -n -m -u -- corosync-cfgtool -s >/dev/null 2>&1 && break
    sleep 0.05
  done
  # hacluster's daemons (controller, scheduler, CIB, attrd) write it too
  [ -e "$d/pacemaker.log" ] || install -o hacluster -g haclient -m 660 /dev/null "$d/pacemaker.log"
  setsid nsenter -t "$h" -n -m -u -- "${CLEAN_ENV[@]}" PCMK_logfile="$d/pacemaker.log" pacemakerd \
    >>"$d/pacemakerd.stdout" 2>&1 </dev/null &
  echo $! > "$d/pacemakerd.pid"
}
