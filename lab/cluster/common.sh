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
CONTROLLER=ctl1
NS_PREFIX=ihacl-                        # network namespaces: ihacl-comp1 ...
VETH_PREFIX=ihacl-                      # veth: ihacl-h1 (root side) / ihacl-n1 (host side)
BMC_USER=labadmin

log() { echo "[cluster-lab $(date +%T.%3N)] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }
now_ns() { date +%s%N; }
ms_since() { echo $(( ($(now_ns) - $1) / 1000000 )); }

host_name() { echo "comp$1"; }
host_dir() { echo "$LAB/hosts/comp$1"; }
host_netns() { echo "${NS_PREFIX}comp$1"; }
veth_root() { echo "${VETH_PREFIX}h$1"; }
veth_host() { echo "${VETH_PREFIX}n$1"; }

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

# host_pids N [EXCLUDE_PID]: every process of host N = its process group (recorded in host.pid)
# plus every process inside its network namespace (catches children that left the group).
host_pids() {
  local n=$1 excl=${2:-} d pg ns
  d=$(host_dir "$n"); ns=$(host_netns "$n")
  {
    if [ -s "$d/host.pid" ]; then pg=$(cat "$d/host.pid"); pgrep -g "$pg" 2>/dev/null || true; fi
    ip netns pids "$ns" 2>/dev/null || true
  } | sort -un | { if [ -n "$excl" ]; then grep -vx "$excl" || true; else cat; fi; }
}
