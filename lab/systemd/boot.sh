#!/bin/bash
# boot.sh: a real systemd as PID 1 in a container, on a machine whose own PID 1 is not systemd,
# so that agents' systemd path (systemctl start/stop/is-active) runs against the real thing.
#
#   boot.sh start        boot it (idempotent) and wait until systemd finished starting up
#   boot.sh exec CMD..   run CMD inside (every namespace of its PID 1); the caller's environment
#                        and exit status are kept
#   boot.sh status       print "running <leader pid> <is-system-running>"; exit 1 when down
#   boot.sh stop         shut it down (idempotent); no process, mount or cgroup is left behind
#
# The container is this machine's own root file system: systemd-nspawn --volatile=overlay on a
# non-recursive bind mount of / (nspawn refuses --directory=/), read-only beneath a throwaway
# tmpfs layer, so it sees the host's /usr (the agents `make install` put there) and Debian's
# unit files, and nothing it writes reaches the host. Choices that make it work here:
#   --private-network        only its own loopback: no port can collide with the host's labs
#   --register=no --keep-unit  no machined and no host systemd needed (without them nspawn
#                            fails with "Failed to open system bus")
#   --bind-ro=$LAB/units:/etc/systemd/system  nothing the host enabled (libvirtd, pacemaker,
#                            mariadb ...) starts at boot; init.d scripts without a native unit
#                            are masked there too, so the boot ends "running", not "degraded"
#   cgroup                   on a host without systemd, nspawn starts in cgroup $MACHINE of the
#                            name=systemd and unified hierarchies; stop kills what is left there
#                            by pid and removes it
#
# Environment: SYSTEMD_LAB_DIR (default /var/lib/instanceha-lab/systemd),
# SYSTEMD_LAB_MACHINE (default instanceha-systemd), SYSTEMD_LAB_BOOT_TIMEOUT (default 60 s).
set -euo pipefail
set +m   # no job control: `setsid CMD &` keeps $! = CMD's pid

LAB=${SYSTEMD_LAB_DIR:-/var/lib/instanceha-lab/systemd}
MACHINE=${SYSTEMD_LAB_MACHINE:-instanceha-systemd}
BOOT_TIMEOUT=${SYSTEMD_LAB_BOOT_TIMEOUT:-60}
ROOTDIR=$LAB/root
PIDFILE=$LAB/nspawn.pid

die() { echo "systemdlab: $*" >&2; exit 1; }
[[ $MACHINE =~ ^[A-Za-z0-9][A-Za-z0-9-]*$ ]] || die "SYSTEMD_LAB_MACHINE: letters, digits, '-' only"

nspawn_pid() {  # pid of our systemd-nspawn, or nothing
    local pid
    pid=$(cat "$PIDFILE" 2> /dev/null) || return 0
    [ "$(cat "/proc/$pid/comm" 2> /dev/null)" = systemd-nspawn ] && echo "$pid"
    return 0
}

leader_pid() {  # pid (host view) of the container's PID 1, or nothing
    local parent child
    parent=$(nspawn_pid)
    [ -n "$parent" ] || return 0
    # shellcheck disable=SC2013  # space-separated pids
    for child in $(cat "/proc/$parent/task/$parent/children" 2> /dev/null); do
        [ "$(cat "/proc/$child/comm" 2> /dev/null)" = systemd ] && { echo "$child"; return 0; }
    done
}

cgroup_dirs() {  # our cgroup in each hierarchy systemd uses (none when the host runs systemd)
    [ -d /run/systemd/system ] && return 0
    if [ "$(stat -f -c %T /sys/fs/cgroup)" = cgroup2fs ]; then
        echo "/sys/fs/cgroup/$MACHINE"
    else
        local h
        for h in /sys/fs/cgroup/systemd /sys/fs/cgroup/unified; do
            [ -d "$h" ] && echo "$h/$MACHINE"
        done
    fi
    return 0
}

write_units() {  # the container's /etc/systemd/system: masks only
    rm -rf "$LAB/units"
    mkdir -p "$LAB/units"
    local script name
    for script in /etc/init.d/*; do
        name=$(basename "$script")
        [ -e "/lib/systemd/system/$name.service" ] || ln -s /dev/null "$LAB/units/$name.service"
    done
}

wait_booted() {  # until systemctl answers running/degraded; print that state
    local leader=$1 state deadline=$((SECONDS + BOOT_TIMEOUT))
    while ((SECONDS < deadline)); do
        [ -d "/proc/$leader" ] || break
        state=$(timeout 10 nsenter -t "$leader" -a systemctl is-system-running --wait 2> /dev/null) || true
        case $state in
            running | degraded) echo "$state"; return 0 ;;
        esac
        sleep 0.2
    done
    return 1
}

start() {
    [ "$(id -u)" = 0 ] || die "must run as root"
    command -v systemd-nspawn > /dev/null || "$(dirname "$0")/install.sh"
    local leader state
    if [ -z "$(nspawn_pid)" ]; then
        cleanup
        mkdir -p "$ROOTDIR"
        mount --bind / "$ROOTDIR"
        mount --make-private "$ROOTDIR"
        write_units
        local cg cgs=()
        for cg in $(cgroup_dirs); do mkdir -p "$cg"; cgs+=("$cg/cgroup.procs"); done
        # shellcheck disable=SC2016  # $$ and $@ belong to the inner shell
        setsid sh -c 'for f in "$@"; do [ "$f" = -- ] && break; echo $$ > "$f"; shift; done
                      shift; exec systemd-nspawn "$@"' sh "${cgs[@]}" -- \
            --quiet --directory="$ROOTDIR" --volatile=overlay --boot --private-network \
            --register=no --keep-unit --link-journal=no --machine="$MACHINE" \
            --bind-ro="$LAB/units:/etc/systemd/system" --console=read-only \
            < /dev/null > "$LAB/console.log" 2>&1 9>&- &
        echo $! > "$PIDFILE"
    fi
    local deadline=$((SECONDS + BOOT_TIMEOUT))
    until leader=$(leader_pid) && [ -n "$leader" ]; do
        if [ ! -d "/proc/$(cat "$PIDFILE")" ] || ((SECONDS >= deadline)); then
            tail -n 20 "$LAB/console.log" >&2 || true
            cleanup
            die "container did not start (see $LAB/console.log)"
        fi
        sleep 0.1
    done
    state=$(wait_booted "$leader") || {
        tail -n 20 "$LAB/console.log" >&2 || true
        die "systemd in the container did not finish booting within ${BOOT_TIMEOUT}s"
    }
    if [ "$state" = degraded ]; then
        echo "systemdlab: booted degraded; failed units:" >&2
        nsenter -t "$leader" -a systemctl --failed --no-legend >&2 || true
    fi
}

procs_in() { find "$1" -name cgroup.procs -exec cat {} + 2> /dev/null || true; }

cleanup() {  # remove what a stopped container leaves: processes in our cgroup, mounts, dirs
    local cg pid dir
    for cg in $(cgroup_dirs); do
        [ -d "$cg" ] || continue
        for pid in $(procs_in "$cg"); do kill -KILL "$pid" 2> /dev/null || true; done
        for _ in $(seq 50); do [ -z "$(procs_in "$cg")" ] && break; sleep 0.1; done
        find "$cg" -depth -type d -exec rmdir {} + 2> /dev/null || true
        [ -d "$cg" ] && echo "systemdlab: could not remove cgroup $cg" >&2
    done
    if mountpoint -q "$ROOTDIR"; then umount "$ROOTDIR"; fi
    # nspawn's runtime dirs vanish with a tmpfs /run; this machine's /run is on disk
    for dir in /run/systemd/nspawn/propagate/$MACHINE /run/systemd/nspawn/propagate \
        /run/systemd/nspawn/locks /run/systemd/nspawn /run/systemd/nspawn-root; do
        rmdir "$dir" 2> /dev/null || true   # only when empty (and unused)
    done
    rm -f "$PIDFILE" "$LAB/.#root.lck"
}

stop() {
    local nspawn leader
    nspawn=$(nspawn_pid)
    if [ -n "$nspawn" ]; then
        leader=$(leader_pid)
        kill -TERM "$nspawn"   # nspawn asks the container's systemd for an orderly poweroff
        for _ in $(seq 300); do [ -d "/proc/$nspawn" ] || break; sleep 0.1; done
        if [ -d "/proc/$nspawn" ]; then
            echo "systemdlab: no orderly shutdown in 30 s; killing the container" >&2
            [ -z "$leader" ] || kill -KILL "$leader" 2> /dev/null || true   # ends its pid namespace
            kill -KILL "$nspawn" 2> /dev/null || true
            for _ in $(seq 50); do [ -d "/proc/$nspawn" ] || break; sleep 0.1; done
        fi
    fi
    cleanup
}

status() {
    local leader
    leader=$(leader_pid)
    [ -n "$leader" ] || { echo stopped; return 1; }
    echo "running $leader $(nsenter -t "$leader" -a systemctl is-system-running 2> /dev/null)"
}

exec_in() {
    local leader
    leader=$(leader_pid)
    [ -n "$leader" ] || die "not running (boot.sh start)"
    exec nsenter --target "$leader" --all -- "$@"
}

cmd=${1:-}
shift || true
mkdir -p "$LAB"
case $cmd in
    start | stop) exec 9> "$LAB/boot.lock"; flock 9; "$cmd" ;;
    status) status ;;
    exec) [ $# -gt 0 ] || die "usage: boot.sh exec CMD [ARG...]"; exec_in "$@" ;;
    *) die "usage: boot.sh start|stop|status|exec CMD [ARG...]" ;;
esac
