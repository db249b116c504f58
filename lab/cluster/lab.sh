#!/bin/bash
# lab.sh: a live Pacemaker cluster on one machine, for instanceha's integration tests.
#
#   lab.sh start N [C]       C controllers ctl1..ctlC (default $CLUSTER_LAB_CONTROLLERS or 1; each
#                            corosync + pacemakerd, fresh CIB) and N compute hosts comp1..compN;
#                            every node is powered by its own BMC
#   lab.sh stop              stop everything the lab started (by pid); remove namespaces and links
#   lab.sh status            nodes, power states, crm_mon
#   lab.sh wait-online [S]   wait (default 60 s) until every powered controller is online
#   lab.sh cluster-stop      stop pacemakerd + corosync on every controller (CIBs and hosts are kept)
#   lab.sh cluster-start     start them again from each controller's persisted CIB
#   lab.sh ctl-exec N CMD..  run CMD inside ctlN's namespaces (net, mount, uts), e.g. crm_mon -1
#   lab.sh ctl-power N on|off|cycle|reset|status    ipmitool against ctlN's BMC
#   lab.sh kill-ctl N        crash ctlN's OS: SIGKILL all its processes; its BMC still says "on"
#   lab.sh isolate-ctl N     partition: ctlN and the other controllers drop each other's packets
#   lab.sh rejoin-ctl N      end the partition
#   lab.sh kill-host N       crash compN's OS: SIGKILL all its processes; its BMC still says "on"
#   lab.sh freeze-host N     hang compN: SIGSTOP all its processes (BMC power-off still works)
#   lab.sh thaw-host N       SIGCONT them
#   lab.sh cut-host N        compN's link to the bridge down (compN keeps running, BMC reachable)
#   lab.sh restore-host N    link up again
#   lab.sh power N on|off|cycle|reset|status    ipmitool against compN's BMC
#   lab.sh host-exec N CMD.. run CMD inside compN's namespaces (net, mount, uts)
#   lab.sh add-extra NODE CMD  run CMD in NODE's process group from its next power-on (NODE: N =
#                            compN, or a name: ctl2, comp1)
#   lab.sh env               print the lab's facts as KEY=VALUE lines
#
# A node is a network namespace whose veth is a port of bridge ihacl-br ($LAB_NET.0.1/24: ctlN
# .10+N, compN .100+N) plus what host-run.sh starts in its own process group. Its BMC is an
# OpenIPMI ipmi_sim on the bridge address, UDP port $BMC_PORT_BASE + N (compN) or + 60 + N (ctlN),
# in startcmd mode: power on = start host-run.sh, power status = host-run.sh alive, power off =
# SIGTERM host-run.sh, which SIGKILLs the node.
#
# Environment: CLUSTER_LAB_DIR (default /var/lib/instanceha-lab/cluster), CLUSTER_LAB_NET
# (default 10.230), CLUSTER_LAB_CONTROLLERS (1), CLUSTER_LAB_BMC_PORT_BASE (9230),
# CLUSTER_LAB_SERIAL_PORT_BASE (9330), CLUSTER_LAB_HOSTNAME_PREFIX (comp: host compN's hostname is
# <prefix>N; its node name stays compN), HOST_EXTRA_CMD / CTL_EXTRA_CMD (start: one extra command
# for every compute host / controller; see host-run.sh).
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

node_arg() {  # KIND ARG: the node name of compute/controller number ARG (or a node name)
  local kind=$1 arg=${2:-} max
  if [[ $arg =~ ^(ctl|comp)[0-9]+$ ]]; then kind=${arg%%[0-9]*}; arg=${arg#"$kind"}; fi
  if [ "$kind" = ctl ]; then max=$NCTL; else max=$NHOSTS; fi
  [[ $arg =~ ^[0-9]+$ ]] && [ "$arg" -ge 1 ] && [ "$arg" -le "$max" ] || die "$kind number 1..$max expected, got '${2:-}'"
  echo "$kind$arg"
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

lab_pids_alive() {  # any recorded daemon or node of a lab in $LAB is alive
  local f
  for f in "$LAB"/hosts/*/host.pid "$LAB"/hosts/*/corosync.pid "$LAB"/hosts/*/pacemakerd.pid "$LAB"/hosts/*/bmc.pid; do
    pid_alive "$f" && return 0
  done
  return 1
}

preflight() {
  local name p
  [ "$(id -u)" = 0 ] || die "must run as root (network and mount namespaces)"
  if [ ! -x "$REMOTED" ] || ! command -v ipmi_sim >/dev/null || ! command -v pcs >/dev/null \
     || ! command -v iptables >/dev/null; then
    bash "$HERE/install.sh"
  fi
  [ -x "$REMOTED" ] || die "$REMOTED missing: run $HERE/install.sh"
  for p in corosync pacemakerd cibadmin crm_attribute crm_mon ipmi_sim ipmitool ip iptables nsenter unshare setsid ss pgrep; do
    command -v "$p" >/dev/null || die "$p missing: run $HERE/install.sh"
  done
  lab_pids_alive && die "the lab is already running ($0 stop)"
  ip netns list | grep -q "^${NS_PREFIX}" && die "leftover ${NS_PREFIX}* namespaces: run $0 stop"
  ip link show "$BRIDGE" >/dev/null 2>&1 && die "leftover bridge $BRIDGE: run $0 stop"
  ip -o -4 addr show | awk '{print $4}' | grep -q "^${LAB_NET//./\\.}\." && die "subnet $LAB_NET.0.0/16 already in use here; set CLUSTER_LAB_NET"
  for name in $(all_nodes); do
    p=$(bmc_port "$name"); udp_port_free "$p" || die "UDP port $p busy; set CLUSTER_LAB_BMC_PORT_BASE"
    p=$(serial_port "$name"); tcp_port_free "$p" || die "TCP port $p busy; set CLUSTER_LAB_SERIAL_PORT_BASE"
  done
}

corosync_conf() {  # NAME: corosync.conf of controller NAME (knet on the bridge, votequorum)
  local name=$1 i quorum="    provider: corosync_votequorum"
  [ "$NCTL" -eq 2 ] && quorum+=$'\n    two_node: 1'
  cat <<EOF
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
EOF
  for i in $(seq 1 "$NCTL"); do
    printf '    node {\n        name: ctl%s\n        nodeid: %s\n        ring0_addr: %s\n    }\n' \
      "$i" "$i" "$(node_addr "ctl$i")"
  done
  cat <<EOF
}
quorum {
$quorum
}
logging {
    to_logfile: yes
    logfile: $(node_dir "$name")/corosync.log
    to_stderr: no
    to_syslog: no
    timestamp: on
}
EOF
}

write_lab_files() {
  local name d
  # root's, but Pacemaker's daemons that run as hacluster (controller, scheduler, CIB, attrd)
  # must reach each controller's pacemaker.log: haclient may traverse, nobody else (the secrets
  # inside are 0600)
  mkdir -p "$LAB"; chgrp haclient "$LAB"; chmod 710 "$LAB"
  rm -rf "$LAB/hosts" "$LAB/bin"
  rm -f "$LAB"/*.log "$LAB"/*.stdout "$LAB/seed-cib.xml"
  mkdir -p "$LAB/bin" "$LAB/hosts"
  # the running lab uses its own copy of the node scripts (the BMCs exec them at every power-on)
  install -m 755 "$HERE/host-run.sh" "$HERE/common.sh" "$HERE/loopback_bridge.py" "$LAB/bin/"
  {
    cat <<EOF
LAB_NET=$LAB_NET
NHOSTS=$NHOSTS
NCTL=$NCTL
BRIDGE=$BRIDGE
BRIDGE_ADDR=$(bridge_addr)
PREFIX_LEN=24
BMC_PORT_BASE=$BMC_PORT_BASE
SERIAL_PORT_BASE=$SERIAL_PORT_BASE
BMC_ADDRESS=$(bridge_addr)
BMC_USER=$BMC_USER
BMC_PASSWORD_FILE=$LAB/bmc-password
BMC_PASSWORD_SCRIPT=$LAB/bmc-password.sh
REMOTED=$REMOTED
HOSTNAME_PREFIX=$HOSTNAME_PREFIX
NODES="$(all_nodes | xargs)"
EOF
    for name in $(all_nodes); do
      printf 'NODE_%s_ADDR=%s\nNODE_%s_NETNS=%s\nNODE_%s_BMC_PORT=%s\n' "$name" "$(node_addr "$name")" \
        "$name" "$(node_netns "$name")" "$name" "$(bmc_port "$name")"
    done
  } > "$LAB/lab.env"
  (umask 077
   random_password > "$LAB/bmc-password"
   printf '#!/bin/sh\n# prints the lab BMC password (fence agents: password_script=)\nexec cat %s\n' \
     "$LAB/bmc-password" > "$LAB/bmc-password.sh")
  chmod 700 "$LAB/bmc-password.sh"
  [ -s "$LAB/corosync-authkey" ] || corosync-keygen -k "$LAB/corosync-authkey" >/dev/null 2>&1
  # a fresh CIB with a 2 s dc-deadtime: a controller becomes DC ~3-4 s after pacemakerd starts
  # (20 s by default)
  cibadmin --empty > "$LAB/seed-cib.xml"
  CIB_file="$LAB/seed-cib.xml" crm_attribute -t crm_config -n dc-deadtime -v 2s
  CIB_file="$LAB/seed-cib.xml" crm_attribute -t crm_config -n stonith-enabled -v true
  CIB_file="$LAB/seed-cib.xml" crm_attribute -t crm_config -n cluster-recheck-interval -v 30s
  mkdir -p /var/lib/instanceha   # a controller's own copy is bind-mounted over it
  for name in $(all_nodes); do
    d=$(node_dir "$name")
    mkdir -p "$d/bmc-state"
    if is_ctl "$name"; then
      [ -z "${CTL_EXTRA_CMD:-}" ] || printf '%s\n' "$CTL_EXTRA_CMD" > "$d/extra-cmds"
      mkdir -p "$d"/var-lib-pacemaker/{cib,pengine,blackbox,cores} "$d/var-lib-corosync" "$d/var-lib-instanceha"
      chown -R hacluster:haclient "$d/var-lib-pacemaker"; chmod 750 "$d"/var-lib-pacemaker/*
      install -o hacluster -g haclient -m 600 "$LAB/seed-cib.xml" "$d/var-lib-pacemaker/cib/cib.xml"
      corosync_conf "$name" > "$d/corosync.conf"
    elif [ -n "${HOST_EXTRA_CMD:-}" ]; then
      printf '%s\n' "$HOST_EXTRA_CMD" > "$d/extra-cmds"
    fi
  done
}

bridge_up() {
  ip link add "$BRIDGE" type bridge
  sysctl -qw "net.ipv6.conf.$BRIDGE.disable_ipv6=1"
  ip addr add "$(bridge_addr)/24" dev "$BRIDGE"
  ip link set "$BRIDGE" up
}

netns_up() {
  local name=$1 ns vr vn
  ns=$(node_netns "$name"); vr=$(veth_root "$name"); vn=$(veth_node "$name")
  ip netns add "$ns"
  ip link add "$vr" type veth peer name "$vn"
  ip link set "$vn" netns "$ns"
  sysctl -qw "net.ipv6.conf.$vr.disable_ipv6=1"
  ip link set "$vr" master "$BRIDGE"
  ip link set "$vr" up
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
  ip -n "$ns" addr add "$(node_addr "$name")/24" dev "$vn"
  ip -n "$ns" link set "$vn" up
  ip -n "$ns" link set lo up
}

write_bmc_conf() {
  local name=$1 d; d=$(node_dir "$name")
  printf '%s\n' \
    "# ipmi_sim mc_setbmc 0x20: a bare BMC" \
    "mc_setbmc 0x20" \
    "mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr" \
    "sel_enable 0x20 1000 0x0a" \
    "mc_enable 0x20" > "$d/bmc.emu"
  (umask 077; cat > "$d/bmc.conf" <<EOF
# BMC of $name: IPMI 2.0 lanplus (cipher suite 3) on $(bridge_addr):$(bmc_port "$name") (the bridge's
# root-side address: the controllers' fence agents reach it from their namespaces).
# startcmd mode: the chassis power state is "host-run.sh is alive".
name "$name-bmc"
set_working_mc 0x20
  startlan 1
    addr $(bridge_addr) $(bmc_port "$name")
    priv_limit admin
    allowed_auths_callback md5
    allowed_auths_user md5
    allowed_auths_operator md5
    allowed_auths_admin md5
    guid $(printf 'a1b2c3d4e5f60718293a4b5c6d7e%04x' "$(port_offset "$name")")
  endlan
  # channel 15 (system interface) with the VM codec is what makes startcmd power control work;
  # nobody connects to it, so power-off is an immediate SIGTERM.
  serial 15 127.0.0.1 $(serial_port "$name") codec VM
  startcmd "/usr/bin/setsid $LAB/bin/host-run.sh $LAB $name"
  startnow true
  poweroff_wait 1
  kill_wait 2
  user 2 true "$BMC_USER" "$(cat "$LAB/bmc-password")" admin 10 md5
EOF
  )
}

start_bmc() {
  local name=$1 d; d=$(node_dir "$name")
  setsid "${CLEAN_ENV[@]}" ipmi_sim -n -c "$d/bmc.conf" -f "$d/bmc.emu" -s "$d/bmc-state" \
    >>"$d/bmc.log" 2>&1 </dev/null &
  echo $! > "$d/bmc.pid"
}

wait_node_up() {  # NAME TIMEOUT_S: compN's pacemaker-remoted listens / ctlN's corosync answers
  local name=$1 t=${2:-10} i d h
  d=$(node_dir "$name")
  for i in $(seq 1 $((t * 20))); do
    if is_ctl "$name"; then
      h=$(ctl_holder "$name") && pid_alive "$d/pacemakerd.pid" \
        && nsenter -t "$h" -n -m -u -- corosync-cfgtool -s >/dev/null 2>&1 && return 0
    else
      [ -n "$(ip netns exec "$(node_netns "$name")" ss -Hltn "sport = :3121" 2>/dev/null)" ] && return 0
    fi
    sleep 0.05
  done
  tail -5 "$d/host.log" "$d/bmc.log" >&2 || true
  die "$name: not up after ${t}s"
}

kill_node_procs() {  # NAME SIGNAL: signal every process of a node except its host-run.sh
  local name=$1 sig=$2 d sup pids round
  d=$(node_dir "$name"); sup=""
  [ -s "$d/host.pid" ] && sup=$(cat "$d/host.pid")
  for round in 1 2 3 4 5; do
    pids=$(node_pids "$name" "$sup")
    [ -n "$pids" ] || return 0
    # shellcheck disable=SC2086
    kill -"$sig" $pids 2>/dev/null || true
    [ "$sig" = KILL ] || return 0
    sleep 0.1
  done
}

lab_nodes() {  # [ctl|comp]: the nodes that have a directory (works on a half-started lab too)
  local d
  for d in "$LAB"/hosts/${1:-*}; do if [ -d "$d" ]; then echo "${d##*/}"; fi; done
}

thaw_all() {
  local name
  for name in $(lab_nodes); do kill_node_procs "$name" CONT; done
}

stop_cluster() {  # every controller's pacemakerd at once (a clean shutdown), then corosync
  local t0 name d kids="" p; t0=$(now_ns)
  thaw_all
  for name in $(lab_nodes 'ctl*'); do
    d=$(node_dir "$name")
    if pid_alive "$d/pacemakerd.pid"; then
      # pacemakerd's daemons (based, fenced, execd, attrd, schedulerd, controld), in case it needs SIGKILL
      kids+=" $(pgrep -P "$(cat "$d/pacemakerd.pid")" | xargs || true)"
      kill -TERM "$(cat "$d/pacemakerd.pid")" 2>/dev/null || true
    fi
  done
  for name in $(lab_nodes 'ctl*'); do stop_pidfile "$(node_dir "$name")/pacemakerd.pid" 120; done
  for p in $kids; do kill -KILL "$p" 2>/dev/null || true; done
  for name in $(lab_nodes 'ctl*'); do
    d=$(node_dir "$name")
    if [ -s "$d/corosync.pid" ]; then kill -TERM "$(cat "$d/corosync.pid")" 2>/dev/null || true; fi
  done
  for name in $(lab_nodes 'ctl*'); do stop_pidfile "$(node_dir "$name")/corosync.pid" 30; done
  log "pacemaker and corosync stopped in $(ms_since "$t0") ms"
}

stop_nodes() {
  local name d ns l
  # BMCs first (a BMC would power its node on again); their startcmd child survives them
  for name in $(lab_nodes); do
    d=$(node_dir "$name")
    if [ -s "$d/bmc.pid" ]; then kill -TERM "$(cat "$d/bmc.pid")" 2>/dev/null || true; fi
  done
  for name in $(lab_nodes); do stop_pidfile "$(node_dir "$name")/bmc.pid" 10; done
  for name in $(lab_nodes); do
    d=$(node_dir "$name")
    kill_node_procs "$name" KILL
    if [ -s "$d/host.pid" ]; then kill -KILL -- "-$(cat "$d/host.pid")" 2>/dev/null || true; fi
    rm -f "$d/host.pid" "$d/remoted.pid" "$d/holder.pid" "$d/corosync.pid" "$d/pacemakerd.pid" "$d/isolated"
  done
  # namespaces and links this lab created (recognised by their prefix)
  for ns in $(ip netns list | awk '{print $1}' | grep -E "^${NS_PREFIX}(ctl|comp)[0-9]+$" || true); do
    for l in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$l" 2>/dev/null || true; done
    ip netns del "$ns" 2>/dev/null || log "could not delete netns $ns"
  done
  for l in $(ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 | grep -E "^${VETH_PREFIX}[rn](ctl|comp)[0-9]+$" || true); do
    ip link del "$l" 2>/dev/null || true
  done
  ip link del "$BRIDGE" 2>/dev/null || true
}

cmd_start() {
  local t0 name
  NHOSTS=${1:-2}
  NCTL=${2:-${CLUSTER_LAB_CONTROLLERS:-1}}
  [[ $NHOSTS =~ ^[0-9]+$ ]] && [ "$NHOSTS" -le 50 ] || die "start N: 0..50 hosts"
  [[ $NCTL =~ ^[1-5]$ ]] || die "start N C: 1..5 controllers"
  LAB_NET=${CLUSTER_LAB_NET:-10.230}
  BMC_PORT_BASE=${CLUSTER_LAB_BMC_PORT_BASE:-9230}
  SERIAL_PORT_BASE=${CLUSTER_LAB_SERIAL_PORT_BASE:-9330}
  HOSTNAME_PREFIX=${CLUSTER_LAB_HOSTNAME_PREFIX:-comp}
  [[ $HOSTNAME_PREFIX =~ ^[a-z][a-z0-9-]*$ ]] || die "CLUSTER_LAB_HOSTNAME_PREFIX: a hostname prefix expected"
  t0=$(now_ns)
  preflight
  write_lab_files
  bridge_up
  for name in $(all_nodes); do netns_up "$name"; write_bmc_conf "$name"; start_bmc "$name"; done
  for name in $(all_nodes); do wait_node_up "$name" 20; done
  log "started $NCTL controllers and $NHOSTS hosts in $(ms_since "$t0") ms"
}

crm_mon_xml() { nsenter -t "$1" -n -m -u -- crm_mon -1 --output-as=xml 2>/dev/null || true; }

cmd_wait_online() {  # every powered controller sees every powered controller online
  local t=${1:-60} t0 i name h out ok powered
  load_env
  t0=$(now_ns)
  for i in $(seq 1 $((t * 10))); do
    powered=""; ok=1
    for name in $(seq -f 'ctl%g' 1 "$NCTL"); do pid_alive "$(node_dir "$name")/host.pid" && powered+=" $name"; done
    [ -n "$powered" ] || die "no controller is powered on"
    for name in $powered; do
      h=$(ctl_holder "$name") || { ok=0; break; }
      out=$(crm_mon_xml "$h")
      for n in $powered; do grep -q "<node name=\"$n\" id=\"[0-9]*\" online=\"true\"" <<<"$out" || { ok=0; break 2; }; done
    done
    if [ "$ok" = 1 ]; then log "${powered# } online after $(ms_since "$t0") ms"; return 0; fi
    sleep 0.1
  done
  die "${powered# } not all online after ${t}s"
}

cmd_stop() {
  local t0; t0=$(now_ns)
  if [ -s "$LAB/lab.env" ]; then load_env; fi
  # no clean cluster shutdown: the BMCs go first, then every node loses its power
  thaw_all
  stop_nodes
  log "lab stopped in $(ms_since "$t0") ms"
}

cmd_cluster_start() {
  local name
  load_env
  for name in $(seq -f 'ctl%g' 1 "$NCTL"); do
    pid_alive "$(node_dir "$name")/pacemakerd.pid" && die "cluster already running on $name"
  done
  for name in $(seq -f 'ctl%g' 1 "$NCTL"); do
    ctl_holder "$name" >/dev/null || { log "$name is down: not started"; continue; }
    ctl_cluster_start "$name"
  done
}

power_state() {  # NAME: on / off / OS state
  local name=$1 d; d=$(node_dir "$name")
  if ! pid_alive "$d/host.pid"; then echo off; return; fi
  if is_ctl "$name"; then
    if ! ctl_holder "$name" >/dev/null; then echo "on, OS dead"
    elif pid_alive "$d/pacemakerd.pid"; then echo "on, pacemakerd running$([ -e "$d/isolated" ] && echo ", ISOLATED" || true)"
    else echo "on, cluster stopped"; fi
  elif pid_alive "$d/remoted.pid"; then
    grep -q '^T' <(sed 's/^.*) //' "/proc/$(cat "$d/remoted.pid")/stat") && echo "on, frozen" || echo "on, remoted running"
  else echo "on, OS dead"; fi
}

cmd_status() {
  local name d h
  load_env
  for name in $(all_nodes); do
    d=$(node_dir "$name")
    printf '%-6s bmc %s udp/%s  addr %-13s power %s%s\n' "$name" \
      "$(pid_alive "$d/bmc.pid" && echo up || echo down)" "$(bmc_port "$name")" "$(node_addr "$name")" \
      "$(power_state "$name")" "$([ "$(cat "/sys/class/net/$(veth_root "$name")/operstate" 2>/dev/null)" = down ] && echo ", LINK CUT" || true)"
  done
  for name in $(seq -f 'ctl%g' 1 "$NCTL"); do
    if pid_alive "$(node_dir "$name")/pacemakerd.pid" && h=$(ctl_holder "$name"); then
      echo "--- crm_mon on $name"; nsenter -t "$h" -n -m -u -- crm_mon -1 -r -A 2>/dev/null || true; return 0
    fi
  done
}

cmd_power() {  # NAME ACTION
  local name=$1 action=$2
  case $action in on|off|cycle|reset|status) ;; *) die "power N on|off|cycle|reset|status";; esac
  ipmitool -I lanplus -C 3 -H "$BMC_ADDRESS" -p "$(bmc_port "$name")" -U "$BMC_USER" -f "$LAB/bmc-password" \
    chassis power "$action"
}

cmd_host_exec() {
  local name=$1 d; shift
  d=$(node_dir "$name")
  if pid_alive "$d/remoted.pid"; then
    exec nsenter --target "$(cat "$d/remoted.pid")" --net --mount --uts -- "$@"
  fi
  exec ip netns exec "$(node_netns "$name")" "$@"
}

cmd_ctl_exec() {
  local name=$1 h; shift
  h=$(ctl_holder "$name") || die "$name is down"
  exec nsenter -t "$h" -n -m -u -- "${CLEAN_ENV[@]}" "$@"
}

# A partition: ctlN and every other controller drop the packets between them (iptables in ctlN's
# network namespace, both directions, any protocol: corosync's knet and anything else). ctlN still
# reaches the computes, the BMCs and the root namespace, like a controller whose cluster network
# failed while its other links work.
ISOLATE_CHAIN=ihacl-isolate
cmd_isolate_ctl() {
  local name=$1 ns other
  ns=$(node_netns "$name")
  [ -e "$(node_dir "$name")/isolated" ] && die "$name is already isolated"
  ip netns exec "$ns" iptables -w -N "$ISOLATE_CHAIN"
  for other in $(seq -f 'ctl%g' 1 "$NCTL"); do
    [ "$other" = "$name" ] && continue
    ip netns exec "$ns" iptables -w -A "$ISOLATE_CHAIN" -s "$(node_addr "$other")" -j DROP
    ip netns exec "$ns" iptables -w -A "$ISOLATE_CHAIN" -d "$(node_addr "$other")" -j DROP
  done
  ip netns exec "$ns" iptables -w -I INPUT -j "$ISOLATE_CHAIN"
  ip netns exec "$ns" iptables -w -I OUTPUT -j "$ISOLATE_CHAIN"
  touch "$(node_dir "$name")/isolated"
  log "$name isolated from the other controllers"
}

cmd_rejoin_ctl() {
  local name=$1 ns; ns=$(node_netns "$name")
  ip netns exec "$ns" iptables -w -D INPUT -j "$ISOLATE_CHAIN" 2>/dev/null || true
  ip netns exec "$ns" iptables -w -D OUTPUT -j "$ISOLATE_CHAIN" 2>/dev/null || true
  ip netns exec "$ns" iptables -w -F "$ISOLATE_CHAIN" 2>/dev/null || true
  ip netns exec "$ns" iptables -w -X "$ISOLATE_CHAIN" 2>/dev/null || true
  rm -f "$(node_dir "$name")/isolated"
  log "$name rejoined"
}

node_cmd() {  # KIND CMD ARGS: resolve the node argument, then run CMD NAME ARGS...
  local kind=$1 cmd=$2 name; shift 2
  load_env
  name=$(node_arg "$kind" "${1:-}") || exit 1
  shift || true
  "$cmd" "$name" "$@"
}

kill_node() { kill_node_procs "$1" KILL; log "$1 crashed (BMC power stays on)"; }
freeze_node() { kill_node_procs "$1" STOP; log "$1 frozen"; }
thaw_node() { kill_node_procs "$1" CONT; log "$1 thawed"; }
link_node() { ip link set "$(veth_root "$1")" "$2"; log "$1 link $2"; }
add_extra() { printf '%s\n' "$2" >> "$(node_dir "$1")/extra-cmds"; }

case ${1:-} in
  start) shift; cmd_start "$@" ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  wait-online) shift; cmd_wait_online "$@" ;;
  cluster-stop) load_env; stop_cluster ;;
  cluster-start) cmd_cluster_start ;;
  ctl-exec) [ $# -ge 3 ] || die "ctl-exec N CMD..."; shift; node_cmd ctl cmd_ctl_exec "$@" ;;
  ctl-power) [ $# -eq 3 ] || die "ctl-power N ACTION"; node_cmd ctl cmd_power "$2" "$3" ;;
  kill-ctl) node_cmd ctl kill_node "${2:-}" ;;
  isolate-ctl) node_cmd ctl cmd_isolate_ctl "${2:-}" ;;
  rejoin-ctl) node_cmd ctl cmd_rejoin_ctl "${2:-}" ;;
  kill-host) node_cmd comp kill_node "${2:-}" ;;
  freeze-host) node_cmd comp freeze_node "${2:-}" ;;
  thaw-host) node_cmd comp thaw_node "${2:-}" ;;
  cut-host) node_cmd comp link_node "${2:-}" down ;;
  restore-host) node_cmd comp link_node "${2:-}" up ;;
  power) [ $# -eq 3 ] || die "power N ACTION"; node_cmd comp cmd_power "$2" "$3" ;;
  host-exec) [ $# -ge 3 ] || die "host-exec N CMD..."; shift; node_cmd comp cmd_host_exec "$@" ;;
  add-extra) [ $# -eq 3 ] || die "add-extra NODE CMD"; node_cmd comp add_extra "$2" "$3" ;;
  env) load_env; cat "$LAB/lab.env"; echo "LAB_DIR=$LAB" ;;
  *) sed -n '2,37p' "$0" >&2; exit 2 ;;
esac
