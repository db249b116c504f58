#!/bin/bash
# Control one nova-compute of the Nova lab (host name computeN).
#
#   compute_ctl.sh start N    start it in the background (own session, pid
#                             file); takes it back from an external supervisor
#   compute_ctl.sh stop N     SIGTERM (graceful stop), wait for it to exit
#   compute_ctl.sh kill N     SIGKILL its process group: a host crash
#   compute_ctl.sh status N   print "running PID" or "stopped"; exit 0 / 3
#   compute_ctl.sh exec N     exec nova-compute N in the foreground, for a
#                             supervisor that runs it in its own process group
#                             (e.g. a simulated host that a fake IPMI powers
#                             off).  Marks N as external: start.sh then leaves
#                             it alone until "compute_ctl.sh start N".
#   compute_ctl.sh release N  stop it and mark it external without running it:
#                             hand host computeN to a supervisor with its own
#                             command line (the end-to-end lab's NovaCompute).
#
# The same host name and state_path are used every time, so a restarted
# compute keeps its compute node UUID.  Logs: $NOVALAB_RUN/log/nova-computeN.log.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() { die "usage: compute_ctl.sh start|stop|kill|status|exec|release N"; }
[ $# -eq 2 ] || usage
action=$1
n=$2
[[ $n =~ ^[1-9][0-9]*$ ]] || usage
name=nova-compute$n
[ -s "$ETC/nova.conf" ] || die "no configuration in $NOVALAB_RUN: run lab/nova/setup.sh first"
write_compute_conf "$n"
mkdir -p "$PIDS"

case $action in
    status)
        if compute_locked "$n"; then
            echo "running $(pid_alive "$name" || echo '?')"
        else
            echo stopped
            exit 3
        fi
        ;;
    start)
        rm -f "$NOVALAB_RUN/external/compute$n"
        if compute_locked "$n"; then
            echo "novalab: $name already running"
            exit 0
        fi
        launch_compute "$n" bg
        echo "novalab: $name started ($(cat "$PIDS/$name.pid"))"
        ;;
    stop)
        stop_groups 15 "$name"
        echo "novalab: $name stopped"
        ;;
    kill)
        if pid=$(pid_alive "$name"); then
            if ! kill -KILL -- "-$pid" 2> /dev/null; then
                kill -KILL "$pid"
            fi
            for _ in {1..200}; do
                compute_locked "$n" || break
                sleep 0.05
            done
            echo "novalab: $name ($pid) killed"
        else
            echo "novalab: $name was not running"
        fi
        forget_pid "$name"
        ;;
    release)
        stop_groups 15 "$name"
        mkdir -p "$NOVALAB_RUN/external"
        : > "$NOVALAB_RUN/external/compute$n"
        echo "novalab: $name released to an external supervisor"
        ;;
    exec)
        compute_locked "$n" && die "$name is already running; stop it first"
        mkdir -p "$NOVALAB_RUN/external"
        : > "$NOVALAB_RUN/external/compute$n"
        launch_compute "$n" exec
        ;;
    *) usage ;;
esac
