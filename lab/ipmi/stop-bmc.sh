#!/bin/bash
# Stop a BMC started by start-bmc.sh (SIGTERM, SIGKILL after 3 s), by its
# recorded pid, and only if that pid is still the very ipmi_sim we started
# (same start time, same lan.conf).
#
# Usage: lab/ipmi/stop-bmc.sh DIR            stop it (no-op if not running)
#        lab/ipmi/stop-bmc.sh --check DIR    exit 0 if it runs, 1 if not
set -euo pipefail

check=0
if [ "${1:-}" = --check ]; then
    check=1
    shift
fi
[ $# -eq 1 ] || { echo "usage: stop-bmc.sh [--check] DIR" >&2; exit 2; }
DIR=$1

ours() {
    local pid=$1 stat rest start
    [ -r "/proc/$pid/stat" ] || return 1
    stat=$(< "/proc/$pid/stat") || return 1
    rest=${stat##*) }
    read -ra fields <<< "$rest"
    read -r start < "$DIR/ipmi_sim.start" || return 1
    [ "${fields[19]}" = "$start" ] || return 1
    tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q "ipmi_sim .*$DIR/lan.conf"
}

[ -f "$DIR/ipmi_sim.pid" ] || { [ $check = 1 ] && exit 1; exit 0; }
read -r pid < "$DIR/ipmi_sim.pid"
if ! ours "$pid"; then
    rm -f "$DIR/ipmi_sim.pid" "$DIR/ipmi_sim.start"
    [ $check = 1 ] && exit 1
    exit 0
fi
[ $check = 1 ] && exit 0

kill -TERM "$pid" 2> /dev/null || true
for _ in $(seq 60); do
    ours "$pid" || break
    sleep 0.05
done
if ours "$pid"; then
    kill -KILL "$pid" 2> /dev/null || true
    sleep 0.05
fi
rm -f "$DIR/ipmi_sim.pid" "$DIR/ipmi_sim.start"
