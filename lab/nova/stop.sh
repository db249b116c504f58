#!/bin/bash
# Stop everything the Nova lab started (idempotent): SIGTERM to each recorded
# process group, SIGKILL to what is left after a grace period.  Nova first,
# then the API servers, then the database and the broker.  Only processes
# whose recorded pid *and* start time still match are signalled.
#
#   lab/nova/stop.sh
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[ -d "$PIDS" ] || exit 0
lab_lock
T0=$EPOCHREALTIME
computes=()
for f in "$PIDS"/nova-compute*.pid; do
    [ -e "$f" ] && computes+=("$(basename "$f" .pid)")
done
stop_groups 15 "${computes[@]}" nova-scheduler nova-conductor
echo "novalab: $(ts) nova stopped"
stop_groups 15 nova-api placement-api glance-api fake-neutron keystone
echo "novalab: $(ts) API servers stopped"
stop_groups 20 mariadb rabbitmq
echo "novalab: $(ts) mariadb, rabbitmq stopped"
stop_groups 5 epmd
echo "novalab: stopped in $(ts)"
