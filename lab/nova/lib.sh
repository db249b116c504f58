# shellcheck shell=bash
# Common settings and helpers for the Nova lab scripts.  Sourced, never run.
#
# Environment (all optional):
#   NOVALAB_HOME   base directory                 (/var/lib/instanceha-lab)
#   NOVALAB_VENV   virtualenv with the services   ($NOVALAB_HOME/nova-venv)
#   NOVALAB_RUN    configs, data, logs, pids       ($NOVALAB_HOME/nova)
#   NCOMPUTE       number of nova-compute hosts   (recorded value, else 3)
#
# Everything listens on 127.0.0.1 on fixed ports, so there is one lab per
# machine.  Every service runs in its own session (setsid: PGID == PID); its
# PID is recorded in $NOVALAB_RUN/pids/<name>.pid and only that process group
# is ever signalled, after checking that the PID still runs what we started.

NOVALAB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NOVALAB_HOME=${NOVALAB_HOME:-/var/lib/instanceha-lab}
NOVALAB_VENV=${NOVALAB_VENV:-$NOVALAB_HOME/nova-venv}
NOVALAB_RUN=${NOVALAB_RUN:-$NOVALAB_HOME/nova}
export NOVALAB_DIR NOVALAB_HOME NOVALAB_VENV NOVALAB_RUN

LAB_HOST=127.0.0.1
KEYSTONE_PORT=5000
GLANCE_PORT=9292
PLACEMENT_PORT=8778
NEUTRON_PORT=9696
NOVA_PORT=8774
RABBIT_PORT=5672
RABBIT_DIST_PORT=25672
EPMD_PORT=4369
MYSQL_PORT=3306
export LAB_HOST KEYSTONE_PORT GLANCE_PORT PLACEMENT_PORT NEUTRON_PORT NOVA_PORT \
    RABBIT_PORT RABBIT_DIST_PORT EPMD_PORT MYSQL_PORT

ETC=$NOVALAB_RUN/etc
LOGS=$NOVALAB_RUN/log
PIDS=$NOVALAB_RUN/pids
BIN=$NOVALAB_VENV/bin
export no_proxy=127.0.0.1,localhost NO_PROXY=127.0.0.1,localhost

# Number of computes: $NCOMPUTE if given, else what the lab was set up with.
novalab_ncompute() {
    if [ -n "${NCOMPUTE:-}" ]; then
        echo "$NCOMPUTE"
    elif [ -s "$NOVALAB_RUN/ncompute" ]; then
        cat "$NOVALAB_RUN/ncompute"
    else
        echo 3
    fi
}

die() { echo "novalab: $*" >&2; exit 1; }

# Elapsed seconds since $T0 (set T0=$EPOCHREALTIME first).
ts() {
    local now=${EPOCHREALTIME/./} start=${T0/./}
    local ms=$(( (now - start) / 1000 ))
    printf '%3d.%01ds' $((ms / 1000)) $(( (ms % 1000) / 100 ))
}

# proc_start PID: the process start time (clock ticks since boot, field 22 of
# /proc/PID/stat).  PID + start time identify a process even if PIDs are reused.
proc_start() {
    local stat rest
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    rest=${stat##*) }
    read -ra _f <<< "$rest"
    echo "${_f[19]}"
}

# record_pid NAME PID: write $PIDS/NAME.pid (just the PID, for other tools) and
# $PIDS/NAME.start (its start time, our pid-reuse guard).
record_pid() {
    echo "$2" > "$PIDS/$1.pid"
    proc_start "$2" > "$PIDS/$1.start" || true
}

# pid_alive NAME: prints the recorded pid and succeeds when that very process
# (same PID and start time) is still running.
pid_alive() {
    local pid start
    [ -s "$PIDS/$1.pid" ] && [ -s "$PIDS/$1.start" ] || return 1
    pid=$(cat "$PIDS/$1.pid")
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    start=$(proc_start "$pid") || return 1
    [ "$start" = "$(cat "$PIDS/$1.start")" ] || return 1
    echo "$pid"
}

forget_pid() { rm -f "$PIDS/$1.pid" "$PIDS/$1.start"; }

# lab_lock: serialise install/setup/start/stop across processes (fd 9 on
# $NOVALAB_HOME/.nova-lab.lock).  Scripts run by a locked script inherit the
# lock (NOVALAB_LOCKED); daemons are started with fd 9 closed.
lab_lock() {
    [ -z "${NOVALAB_LOCKED:-}" ] || return 0
    mkdir -p "$NOVALAB_HOME"
    exec 9>> "$NOVALAB_HOME/.nova-lab.lock"
    flock -w 900 9 || die "another lab script holds $NOVALAB_HOME/.nova-lab.lock"
    export NOVALAB_LOCKED=1
}

# start_bg NAME CMD...: run CMD in a new session, output to $LOGS/NAME.out.
# The daemon inherits no descriptor but stdio and fd 8 (a compute's own lock):
# an inherited lock (ours, or one a caller wrapped us in with flock(1)) would
# otherwise stay held for the daemon's whole life.
start_bg() {
    local name=$1
    shift
    (
        for fd in /proc/self/fd/*; do
            fd=${fd##*/}
            if [ "$fd" -gt 2 ] && [ "$fd" != 8 ] && [ -e "/proc/self/fd/$fd" ]; then
                eval "exec $fd>&-"
            fi
        done
        exec setsid "$@"
    ) >> "$LOGS/$name.out" 2>&1 < /dev/null &
    record_pid "$name" $!
}

# stop_groups SIGNAL_WAIT_SECONDS NAME...: SIGTERM each recorded group, SIGKILL
# what is left after the grace period.  Services not running are skipped.
stop_groups() {
    local grace=$1 name pid alive i
    shift
    local -a pids=()
    for name in "$@"; do
        if pid=$(pid_alive "$name"); then
            if ! kill -TERM -- "-$pid" 2>/dev/null; then
                kill -TERM "$pid" 2>/dev/null || true
            fi
            pids+=("$pid")
        fi
        forget_pid "$name"
    done
    [ ${#pids[@]} -gt 0 ] || return 0
    for ((i = 0; i < grace * 5; i++)); do
        alive=0
        for pid in "${pids[@]}"; do
            if kill -0 -- "-$pid" 2>/dev/null || kill -0 "$pid" 2>/dev/null; then
                alive=1
            fi
        done
        [ $alive = 1 ] || return 0
        sleep 0.2
    done
    for pid in "${pids[@]}"; do
        if kill -0 -- "-$pid" 2>/dev/null; then
            echo "novalab: SIGKILL process group $pid" >&2
            kill -KILL -- "-$pid" 2>/dev/null || true
        elif kill -0 "$pid" 2>/dev/null; then
            kill -KILL "$pid" 2>/dev/null || true
        fi
    done
}

# wait_port PORT NAME [TRIES]: wait until something accepts on 127.0.0.1:PORT.
wait_port() {
    local n=0 tries=${3:-600}
    until (exec 3<> "/dev/tcp/$LAB_HOST/$1") 2>/dev/null; do
        sleep 0.2
        n=$((n + 1))
        if [ $n -ge "$tries" ]; then
            echo "novalab: timeout waiting for $2 on port $1" >&2
            tail -n 30 "$LOGS/$2.out" >&2 2>/dev/null || true
            return 1
        fi
    done
}

# wait_http URL NAME: wait until URL answers at all (any HTTP status).
wait_http() {
    local n=0
    until curl -s -o /dev/null --max-time 2 "$1"; do
        sleep 0.2
        n=$((n + 1))
        if [ $n -ge 600 ]; then
            echo "novalab: timeout waiting for $2 ($1)" >&2
            tail -n 30 "$LOGS/$2.out" >&2 2>/dev/null || true
            return 1
        fi
    done
}

# write_compute_conf N: the per-host overlay for nova-compute N (host name
# computeN, its own state_path so its compute node UUID survives restarts).
write_compute_conf() {
    local i=$1 f=$ETC/nova-compute$1.conf tmp
    mkdir -p "$NOVALAB_RUN/state/compute$i/instances" "$NOVALAB_RUN/state/compute$i/locks"
    tmp=$(mktemp "$f.XXXXXX")
    cat > "$tmp" << EOC
[DEFAULT]
host = compute$i
state_path = $NOVALAB_RUN/state/compute$i
instances_path = $NOVALAB_RUN/state/compute$i/instances
[oslo_concurrency]
lock_path = $NOVALAB_RUN/state/compute$i/locks
EOC
    chmod 0600 "$tmp"
    mv -f "$tmp" "$f"
}

# compute_locked N: succeeds while some nova-compute N runs.  Every compute
# holds an exclusive flock on $PIDS/nova-computeN.lock for its whole life (the
# lock is taken before it starts and released by the kernel when it dies), so
# two processes can never run the same host, whoever started them.
compute_locked() {
    local lock=$PIDS/nova-compute$1.lock
    [ -e "$lock" ] || return 1
    ! flock -n -E 75 "$lock" true 2> /dev/null
}

# launch_compute N bg|exec: start nova-compute N in the background (own
# session, pid file) or exec it in place of this shell.  Fails if N runs.
launch_compute() {
    local n=$1 name=nova-compute$1
    compute_argv "$n"
    exec 8>> "$PIDS/$name.lock"
    if ! flock -n 8; then
        exec 8>&-
        echo "novalab: $name is already running" >&2
        return 1
    fi
    if [ "$2" = exec ]; then
        record_pid "$name" $$
        exec "${COMPUTE_ARGV[@]}" 9>&-
    fi
    start_bg "$name" "${COMPUTE_ARGV[@]}" # the child inherits fd 8: the lock
    exec 8>&-
}

# compute_argv N: sets COMPUTE_ARGV to the command line of nova-compute N.
compute_argv() {
    # shellcheck disable=SC2034  # used by the scripts sourcing this file
    COMPUTE_ARGV=("$BIN/nova-compute" --config-file "$ETC/nova.conf"
        --config-file "$ETC/nova-compute$1.conf" --log-file "$LOGS/nova-compute$1.log")
}
