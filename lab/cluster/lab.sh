#!/bin/bash
# lab.sh: a live Pacemaker cluster on one machine, for instanceha's integration tests.
#
#   lab.sh start N           corosync (knet, 127.0.0.1) + pacemakerd for controller "ctl1", fresh
#                            CIB; N compute hosts comp1..compN, each powered by its own BMC
#   lab.sh stop              stop everything the lab started (by pid); remove namespaces and links
#   lab.sh status            processes, power states, crm_mon
#   lab.sh wait-online [S]   wait (default 60 s) until ctl1 is online
#   lab.sh cluster-stop      stop pacemakerd + corosync only (CIB and hosts are kept)
#   lab.sh cluster-start     start them again from the persisted CIB
#   lab.sh kill-host N       crash compN's OS: SIGKILL all its processes; its BMC still says "on"
#   lab.sh freeze-host N     hang compN: SIGSTOP all its processes (BMC power-off still works)
#   lab.sh thaw-host N       SIGCONT them
#   lab.sh power N on|off|cycle|reset|status    ipmitool against compN's BMC
#   lab.sh host-exec N CMD.. run CMD inside compN's namespaces (net, mount, uts)
#   lab.sh add-extra N CMD   run CMD in compN's process group from its next power-on
#   lab.sh env               print the lab's facts as KEY=VALUE lines
#
# A host is a network namespace (veth $LAB_NET.N.1 <-> $LAB_NET.N.2, /30) plus what
# host-run.sh starts in its own process group. Its BMC is an OpenIPMI ipmi_sim on
# 127.0.0.1:$((BMC_PORT_BASE + N)) in startcmd mode: power on = start host-run.sh,
# power status = host-run.sh alive, power off = SIGTERM host-run.sh, which SIGKILLs the host.
#
# Environment: CLUSTER_LAB_DIR (default /var/lib/instanceha-lab/cluster), CLUSTER_LAB_NET
# (default 10.230), CLUSTER_LAB_BMC_PORT_BASE (9230), CLUSTER_LAB_SERIAL_PORT_BASE (9330),
# CLUSTER_LAB_HOSTNAME_PREFIX (comp: host compN's hostname is <prefix>N; its node name stays compN),
# HOST_EXTRA_CMD (start: one extra command for every host; see host-run.sh).
set -euo pipefail
set +m   # no job control: a background child is no group leader, so `setsid CMD &` keeps $! = CMD's pid
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=common.sh
. "$HERE/common.sh"

load_env() {
  [ -s "$LAB/lab.env" ] || die "no lab in $LAB (run: $0 start N)"
  # shellcheck source=/dev/null
  . "$LAB/lab.env"
}

check_host_arg() {
  [[ ${1:-} =~ ^[0-9]+$ ]] && [ "$1" -ge 1 ] && [ "$1" -le "$NHOSTS" ] || die "host number 1..$NHOSTS expected, got '${1:-}'"
}

random_password() {  # 16 alphanumerics (IPMI 2.0 passwords are at most 20 bytes)
  local pw=""
  while [ ${#pw} -lt 16 ]; do
    pw+=$(head -c 48 /dev/urandom | base64 -w0 | tr -dc 'A-Za-z0-9')
  done
  printf '%s' "${pw:0:16}"
}

udp_port_free() { [ -z "$(ss -Hlnu "sport = :$1")" ]; }
tcp_port_free() { [ -z "$(ss -Hlnt "sport = :$1")" ]; }

preflight() {
  local n=$1 c p
  [ "$(id -u)" = 0 ] || die "must run as root (network and mount namespaces)"
  if [ ! -x "$REMOTED" ] || ! command -v ipmi_sim >/dev/null || ! command -v pcs >/dev/null; then
    bash "$HERE/install.sh"
  fi
  [ -x "$REMOTED" ] || die "$REMOTED missing: run $HERE/install.sh"
  for c in corosync pacemakerd cibadmin crm_attribute crm_mon ipmi_sim ipmitool ip nsenter unshare setsid ss pgrep; do
    command -v "$c" >/dev/null || die "$c missing: run $HERE/install.sh"
  done
  if pid_alive "$LAB/corosync.pid" || pid_alive "$LAB/pacemakerd.pid"; then die "the lab is already running ($0 stop)"; fi
  running_cmd corosync && die "a corosync not started by this lab is running"
  running_cmd pacemakerd && die "a pacemakerd not started by this lab is running"
  ip netns list | grep -q "^${NS_PREFIX}comp" && die "leftover ${NS_PREFIX}* namespaces: run $0 stop"
  ip -o -4 addr show | awk '{print $4}' | grep -q "^${LAB_NET//./\\.}\." && die "subnet $LAB_NET.0.0/16 already in use here; set CLUSTER_LAB_NET"
  for i in $(seq 1 "$n"); do
    p=$((BMC_PORT_BASE + i)); udp_port_free "$p" || die "UDP port $p busy; set CLUSTER_LAB_BMC_PORT_BASE"
    p=$((SERIAL_PORT_BASE + i)); tcp_port_free "$p" || die "TCP port $p busy; set CLUSTER_LAB_SERIAL_PORT_BASE"
  done
}

write_lab_files() {
  local n=$1 i
  # root's, but Pacemaker's daemons that run as hacluster (controller, scheduler, CIB, attrd)
  # must reach pacemaker.log: haclient may traverse, nobody else (the secrets inside are 0600)
  mkdir -p "$LAB"; chgrp haclient "$LAB"; chmod 710 "$LAB"
  rm -rf "$LAB/hosts" "$LAB/bin"
  rm -f "$LAB"/*.log "$LAB"/*.stdout "$LAB/seed-cib.xml"
  mkdir -p "$LAB/bin" "$LAB/hosts"
  # the running lab uses its own copy of the host scripts (the BMCs exec them at every power-on)
  install -m 755 "$HERE/host-run.sh" "$HERE/common.sh" "$HERE/loopback_bridge.py" "$LAB/bin/"
  cat > "$LAB/lab.env" <<EOF
LAB_NET=$LAB_NET
NHOSTS=$n
BMC_PORT_BASE=$BMC_PORT_BASE
SERIAL_PORT_BASE=$SERIAL_PORT_BASE
BMC_ADDRESS=127.0.0.1
BMC_USER=$BMC_USER
BMC_PASSWORD_FILE=$LAB/bmc-password
BMC_PASSWORD_SCRIPT=$LAB/bmc-password.sh
CONTROLLER=$CONTROLLER
REMOTED=$REMOTED
HOSTNAME_PREFIX=$HOSTNAME_PREFIX
EOF
  (umask 077
   random_password > "$LAB/bmc-password"
   printf '#!/bin/sh\n# prints the lab BMC password (fence agents: password_script=)\nexec cat %s\n' \
     "$LAB/bmc-password" > "$LAB/bmc-password.sh")
  chmod 700 "$LAB/bmc-password.sh"
  for i in $(seq 1 "$n"); do
    mkdir -p "$(host_dir "$i")/bmc-state"
    if [ -n "${HOST_EXTRA_CMD:-}" ]; then printf '%s\n' "$HOST_EXTRA_CMD" > "$(host_dir "$i")/extra-cmds"; fi
  done

  [ -s "$LAB/corosync-authkey" ] || corosync-keygen -k "$LAB/corosync-authkey" >/dev/null 2>&1
  cat > "$LAB/corosync.conf" <<EOF
totem {
    version: 2
    cluster_name: instanceha-lab
    transport: knet
    crypto_cipher: aes256
    crypto_hash: sha256
    keyfile: $LAB/corosync-authkey
    token: 3000
}
nodelist {
    node {
        name: $CONTROLLER
        nodeid: 1
        ring0_addr: 127.0.0.1
    }
}
quorum {
    provider: corosync_votequorum
}
logging {
    to_logfile: yes
    logfile: $LAB/corosync.log
    to_stderr: no
    to_syslog: no
    timestamp: on
}
EOF
}

seed_cib() {
  # a fresh CIB with a 2 s dc-deadtime: ctl1 becomes DC ~3-4 s after pacemakerd starts (20 s by default)
  rm -f /var/lib/pacemaker/cib/cib* /var/lib/pacemaker/pengine/pe-*
  cibadmin --empty > "$LAB/seed-cib.xml"
  CIB_file="$LAB/seed-cib.xml" crm_attribute -t crm_config -n dc-deadtime -v 2s
  CIB_file="$LAB/seed-cib.xml" crm_attribute -t crm_config -n stonith-enabled -v true
  CIB_file="$LAB/seed-cib.xml" crm_attribute -t crm_config -n cluster-recheck-interval -v 30s
  install -o hacluster -g haclient -m 600 "$LAB/seed-cib.xml" /var/lib/pacemaker/cib/cib.xml
}

start_cluster() {
  local t0 i
  t0=$(now_ns)
  setsid "${CLEAN_ENV[@]}" corosync -f -c "$LAB/corosync.conf" >>"$LAB/corosync.stdout" 2>&1 </dev/null &
  echo $! > "$LAB/corosync.pid"
  for i in $(seq 1 200); do corosync-quorumtool -s >/dev/null 2>&1 && break; sleep 0.05; done
  corosync-quorumtool -s >/dev/null 2>&1 || { tail -20 "$LAB/corosync.log" >&2 || true; die "corosync not quorate"; }
  log "corosync quorate after $(ms_since "$t0") ms"
  install -o hacluster -g haclient -m 660 /dev/null "$LAB/pacemaker.log"
  setsid "${CLEAN_ENV[@]}" PCMK_logfile="$LAB/pacemaker.log" pacemakerd >>"$LAB/pacemakerd.stdout" 2>&1 </dev/null &
  echo $! > "$LAB/pacemakerd.pid"
}

stop_cluster() {
  local t0 kids="" p; t0=$(now_ns)
  thaw_all
  # pacemakerd's daemons (based, fenced, execd, attrd, schedulerd, controld), in case it needs SIGKILL
  if pid_alive "$LAB/pacemakerd.pid"; then kids=$(pgrep -P "$(cat "$LAB/pacemakerd.pid")" || true); fi
  stop_pidfile "$LAB/pacemakerd.pid" 120     # stops resources (also on remote hosts), then its daemons
  for p in $kids; do kill -KILL "$p" 2>/dev/null || true; done
  stop_pidfile "$LAB/corosync.pid" 30
  log "pacemaker and corosync stopped in $(ms_since "$t0") ms"
}

netns_up() {
  local n=$1 ns vr vh
  ns=$(host_netns "$n"); vr=$(veth_root "$n"); vh=$(veth_host "$n")
  ip netns add "$ns"
  ip link add "$vr" type veth peer name "$vh"
  ip link set "$vh" netns "$ns"
  sysctl -qw "net.ipv6.conf.$vr.disable_ipv6=1"
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
  ip addr add "$LAB_NET.$n.1/30" dev "$vr"
  ip link set "$vr" up
  ip -n "$ns" addr add "$LAB_NET.$n.2/30" dev "$vh"
  ip -n "$ns" link set "$vh" up
  ip -n "$ns" link set lo up
}

write_bmc_conf() {
  local n=$1 d; d=$(host_dir "$n")
  printf '%s\n' \
    "# ipmi_sim mc_setbmc 0x20: a bare BMC" \
    "mc_setbmc 0x20" \
    "mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr" \
    "sel_enable 0x20 1000 0x0a" \
    "mc_enable 0x20" > "$d/bmc.emu"
  (umask 077; cat > "$d/bmc.conf" <<EOF
# BMC of $(host_name "$n"): IPMI 2.0 lanplus (cipher suite 3) on 127.0.0.1:$((BMC_PORT_BASE + n)).
# startcmd mode: the chassis power state is "host-run.sh is alive".
name "$(host_name "$n")-bmc"
set_working_mc 0x20
  startlan 1
    addr 127.0.0.1 $((BMC_PORT_BASE + n))
    priv_limit admin
    allowed_auths_callback md5
    allowed_auths_user md5
    allowed_auths_operator md5
    allowed_auths_admin md5
    guid $(printf 'a1b2c3d4e5f60718293a4b5c6d7e%04x' "$n")
  endlan
  # channel 15 (system interface) with the VM codec is what makes startcmd power control work;
  # nobody connects to it, so power-off is an immediate SIGTERM.
  serial 15 127.0.0.1 $((SERIAL_PORT_BASE + n)) codec VM
  startcmd "/usr/bin/setsid $LAB/bin/host-run.sh $LAB $n"
  startnow true
  poweroff_wait 1
  kill_wait 2
  user 2 true "$BMC_USER" "$(cat "$LAB/bmc-password")" admin 10 md5
EOF
  )
}

start_bmc() {
  local n=$1 d; d=$(host_dir "$n")
  setsid "${CLEAN_ENV[@]}" ipmi_sim -n -c "$d/bmc.conf" -f "$d/bmc.emu" -s "$d/bmc-state" \
    >>"$d/bmc.log" 2>&1 </dev/null &
  echo $! > "$d/bmc.pid"
}

wait_remoted() {  # N TIMEOUT_S: the host's pacemaker-remoted listens
  local n=$1 t=${2:-10} i
  for i in $(seq 1 $((t * 20))); do
    [ -n "$(ip netns exec "$(host_netns "$n")" ss -Hltn "sport = :3121" 2>/dev/null)" ] && return 0
    sleep 0.05
  done
  tail -5 "$(host_dir "$n")/host.log" "$(host_dir "$n")/bmc.log" >&2 || true
  die "$(host_name "$n"): pacemaker-remoted not listening after ${t}s"
}

kill_host_procs() {  # N SIGNAL: signal every process of host N except its host-run.sh
  local n=$1 sig=$2 d sup pids round
  d=$(host_dir "$n"); sup=""
  [ -s "$d/host.pid" ] && sup=$(cat "$d/host.pid")
  for round in 1 2 3 4 5; do
    pids=$(host_pids "$n" "$sup")
    [ -n "$pids" ] || return 0
    # shellcheck disable=SC2086
    kill -"$sig" $pids 2>/dev/null || true
    [ "$sig" = KILL ] || return 0
    sleep 0.1
  done
}

thaw_all() {
  local d n
  [ -d "$LAB/hosts" ] || return 0
  for d in "$LAB"/hosts/comp*; do
    [ -d "$d" ] || continue
    n=${d##*/comp}; kill_host_procs "$n" CONT
  done
}

stop_hosts() {
  local d n ns l
  if [ -d "$LAB/hosts" ]; then
    # BMCs first (a BMC would power its host on again); their startcmd child survives them
    for d in "$LAB"/hosts/comp*; do [ -s "$d/bmc.pid" ] && kill -TERM "$(cat "$d/bmc.pid")" 2>/dev/null || true; done
    for d in "$LAB"/hosts/comp*; do [ -d "$d" ] && stop_pidfile "$d/bmc.pid" 10; done
    for d in "$LAB"/hosts/comp*; do
      [ -d "$d" ] || continue
      n=${d##*/comp}
      kill_host_procs "$n" KILL
      if [ -s "$d/host.pid" ]; then kill -KILL -- "-$(cat "$d/host.pid")" 2>/dev/null || true; fi
      rm -f "$d/host.pid" "$d/remoted.pid"
    done
  fi
  # namespaces and links this lab created (recognised by their prefix)
  for ns in $(ip netns list | awk '{print $1}' | grep "^${NS_PREFIX}comp[0-9]*$" || true); do
    for l in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$l" 2>/dev/null || true; done
    ip netns del "$ns" 2>/dev/null || log "could not delete netns $ns"
  done
  for l in $(ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 | grep "^${VETH_PREFIX}[hn][0-9]*$" || true); do
    ip link del "$l" 2>/dev/null || true
  done
}

cmd_start() {
  local n=${1:-2} t0 i
  [[ $n =~ ^[0-9]+$ ]] && [ "$n" -ge 0 ] && [ "$n" -le 50 ] || die "start N: 0..50 hosts"
  LAB_NET=${CLUSTER_LAB_NET:-10.230}
  BMC_PORT_BASE=${CLUSTER_LAB_BMC_PORT_BASE:-9230}
  SERIAL_PORT_BASE=${CLUSTER_LAB_SERIAL_PORT_BASE:-9330}
  HOSTNAME_PREFIX=${CLUSTER_LAB_HOSTNAME_PREFIX:-comp}
  [[ $HOSTNAME_PREFIX =~ ^[a-z][a-z0-9-]*$ ]] || die "CLUSTER_LAB_HOSTNAME_PREFIX: a hostname prefix expected"
  t0=$(now_ns)
  preflight "$n"
  write_lab_files "$n"
  seed_cib
  NHOSTS=$n
  start_cluster
  for i in $(seq 1 "$n"); do netns_up "$i"; write_bmc_conf "$i"; start_bmc "$i"; done
  for i in $(seq 1 "$n"); do wait_remoted "$i" 15; done
  log "started ctl1 and $n hosts in $(ms_since "$t0") ms"
}

cmd_wait_online() {
  local t=${1:-60} t0 i
  load_env
  t0=$(now_ns)
  for i in $(seq 1 $((t * 10))); do
    if crm_mon -1 --output-as=xml 2>/dev/null | grep -q "<node name=\"$CONTROLLER\" id=\"1\" online=\"true\""; then
      log "$CONTROLLER online after $(ms_since "$t0") ms"; return 0
    fi
    sleep 0.1
  done
  die "$CONTROLLER not online after ${t}s"
}

cmd_stop() {
  local t0; t0=$(now_ns)
  if [ -s "$LAB/lab.env" ]; then load_env; fi
  stop_cluster
  stop_hosts
  log "lab stopped in $(ms_since "$t0") ms"
}

cmd_cluster_start() {
  load_env
  if pid_alive "$LAB/pacemakerd.pid"; then die "cluster already running"; fi
  start_cluster
}

cmd_status() {
  local i d state
  load_env
  printf 'corosync   %s\n' "$(pid_alive "$LAB/corosync.pid" && echo "running pid $(cat "$LAB/corosync.pid")" || echo stopped)"
  printf 'pacemakerd %s\n' "$(pid_alive "$LAB/pacemakerd.pid" && echo "running pid $(cat "$LAB/pacemakerd.pid")" || echo stopped)"
  for i in $(seq 1 "$NHOSTS"); do
    d=$(host_dir "$i")
    state=off
    if pid_alive "$d/host.pid"; then
      state=on
      if pid_alive "$d/remoted.pid"; then
        grep -q '^T' <(sed 's/^.*) //' "/proc/$(cat "$d/remoted.pid")/stat") && state="on, frozen" || state="on, remoted running"
      else state="on, OS dead"; fi
    fi
    printf '%-6s bmc %s udp/%s  power %s  addr %s\n' "$(host_name "$i")" \
      "$(pid_alive "$d/bmc.pid" && echo up || echo down)" "$((BMC_PORT_BASE + i))" "$state" "$LAB_NET.$i.2"
  done
  if pid_alive "$LAB/pacemakerd.pid"; then crm_mon -1 -r -A 2>/dev/null || true; fi
}

cmd_power() {
  local n=$1 action=$2
  load_env; check_host_arg "$n"
  case $action in on|off|cycle|reset|status) ;; *) die "power N on|off|cycle|reset|status";; esac
  ipmitool -I lanplus -C 3 -H 127.0.0.1 -p "$((BMC_PORT_BASE + n))" -U "$BMC_USER" -f "$LAB/bmc-password" \
    chassis power "$action"
}

cmd_host_exec() {
  local n=$1 d; shift
  load_env; check_host_arg "$n"
  d=$(host_dir "$n")
  if pid_alive "$d/remoted.pid"; then
    exec nsenter --target "$(cat "$d/remoted.pid")" --net --mount --uts -- "$@"
  fi
  exec ip netns exec "$(host_netns "$n")" "$@"
}

case ${1:-} in
  start) shift; cmd_start "$@" ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  wait-online) shift; cmd_wait_online "$@" ;;
  cluster-stop) load_env; stop_cluster ;;
  cluster-start) cmd_cluster_start ;;
  kill-host) load_env; check_host_arg "${2:-}"; kill_host_procs "$2" KILL; log "$(host_name "$2") crashed (BMC power stays on)" ;;
  freeze-host) load_env; check_host_arg "${2:-}"; kill_host_procs "$2" STOP; log "$(host_name "$2") frozen" ;;
  thaw-host) load_env; check_host_arg "${2:-}"; kill_host_procs "$2" CONT; log "$(host_name "$2") thawed" ;;
  power) [ $# -eq 3 ] || die "power N ACTION"; cmd_power "$2" "$3" ;;
  host-exec) [ $# -ge 3 ] || die "host-exec N CMD..."; shift; cmd_host_exec "$@" ;;
  add-extra) [ $# -eq 3 ] || die "add-extra N CMD"; load_env; check_host_arg "$2"; printf '%s\n' "$3" >> "$(host_dir "$2")/extra-cmds" ;;
  env) load_env; cat "$LAB/lab.env"; echo "LAB_DIR=$LAB" ;;
  *) sed -n '2,28p' "$0" >&2; exit 2 ;;
esac
