#!/bin/bash
# Start one simulated BMC (OpenIPMI ipmi_sim) of the IPMI lab.
#
# Usage: lab/ipmi/start-bmc.sh [--foreground] DIR PORT [ADDR]
#
#   DIR   the BMC's own directory (created 0700): lan.conf (0600), password
#         (0600, 16 random characters, kept across restarts), power (1 = on,
#         0 = off; the simulated host), power.log, ipmi_sim.pid/.start/.log
#   PORT  UDP port; ADDR defaults to 127.0.0.1 (the lab never binds 0.0.0.0)
#
# Users: "admin" (administrator) and "viewer" (user privilege, cannot change
# power), both with the password in DIR/password. The password never appears
# on a command line: lan.conf is rendered with shell builtins and the
# readiness probe reads the password file (ipmitool -f).
# Prints "port=PORT" when the BMC answers an IPMI 2.0 login. With --foreground
# it execs ipmi_sim instead (pid unchanged), for a parent that supervises and
# reaps it (tests/labs/ipmi_lab.py) and probes readiness itself.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
die() { echo "ipmilab: $*" >&2; exit 1; }

foreground=0
if [ "${1:-}" = --foreground ]; then
    foreground=1
    shift
fi
[ $# -ge 2 ] || die "usage: start-bmc.sh [--foreground] DIR PORT [ADDR]"
DIR=$1
PORT=$2
ADDR=${3:-127.0.0.1}
[[ $PORT =~ ^[0-9]+$ ]] || die "bad port: $PORT"
case $ADDR in 127.*) ;; *) die "lab BMCs listen on 127.0.0.0/8 only, not $ADDR" ;; esac
command -v ipmi_sim > /dev/null || die "ipmi_sim not installed (run lab/ipmi/install.sh)"

umask 077
mkdir -p "$DIR/state"
DIR=$(cd "$DIR" && pwd)

if [ -f "$DIR/ipmi_sim.pid" ] && "$HERE/stop-bmc.sh" --check "$DIR"; then
    die "a BMC already runs from $DIR"
fi

if [ ! -s "$DIR/password" ]; then
    password=$(set +o pipefail; LC_ALL=C tr -dc 'A-Za-z0-9' < /dev/urandom | head -c 16)
    printf '%s\n' "$password" > "$DIR/password"
fi
chmod 600 "$DIR/password"
read -r password < "$DIR/password"
[ -f "$DIR/power" ] || echo 1 > "$DIR/power"
chmod 644 "$DIR/power"

template=$(< "$HERE/lan.conf.in")
guid=$(printf '%032x' "$PORT")
conf=${template//@NAME@/bmc$PORT}
conf=${conf//@ADDR@/$ADDR}
conf=${conf//@PORT@/$PORT}
conf=${conf//@GUID@/$guid}
conf=${conf//@CONTROL@/$HERE/chassis_control.sh}
conf=${conf//@POWERFILE@/$DIR/power}
conf=${conf//@OPUSER@/viewer}
conf=${conf//@USER@/admin}
conf=${conf//@PASSWORD@/$password}
printf '%s\n' "$conf" > "$DIR/lan.conf"
chmod 600 "$DIR/lan.conf"

record() {
    local stat rest
    echo "$1" > "$DIR/ipmi_sim.pid"
    stat=$(< "/proc/$1/stat") && rest=${stat##*) } && read -ra fields <<< "$rest" \
        && echo "${fields[19]}" > "$DIR/ipmi_sim.start"
}

if [ $foreground = 1 ]; then
    record $$
    exec ipmi_sim -n -c "$DIR/lan.conf" -f "$HERE/bmc.emu" -s "$DIR/state" < /dev/null
fi

setsid ipmi_sim -n -c "$DIR/lan.conf" -f "$HERE/bmc.emu" -s "$DIR/state" \
    < /dev/null > "$DIR/ipmi_sim.log" 2>&1 &
pid=$!
record "$pid"

for _ in $(seq 100); do
    if ! kill -0 "$pid" 2> /dev/null; then
        die "ipmi_sim exited at once (port $PORT taken?): $(tail -n 3 "$DIR/ipmi_sim.log")"
    fi
    if ipmitool -I lanplus -C 3 -N 1 -R 1 -H "$ADDR" -p "$PORT" -U admin -f "$DIR/password" \
        chassis power status > /dev/null 2>&1; then
        echo "port=$PORT"
        exit 0
    fi
    sleep 0.05
done
"$HERE/stop-bmc.sh" "$DIR" || true
die "BMC on $ADDR:$PORT did not answer within 5 s"
