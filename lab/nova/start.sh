#!/bin/bash
# Start the Nova lab (idempotent): starts only what is not running, then waits
# until every lab-managed compute is running and mapped, and seeds images,
# flavors and quotas.  A lab that is already up is checked in ~2 s.
#
#   lab/nova/start.sh          (after install.sh and setup.sh)
#
# The first start after setup.sh also creates the databases, schemas and the
# Keystone catalog (~40 s in all; later starts ~25 s).  Each service runs in
# its own session; pids in $NOVALAB_RUN/pids, logs in $NOVALAB_RUN/log.
# NCOMPUTE=N grows or shrinks the set of computes (compute1..computeN);
# computes handed to an external supervisor (compute_ctl.sh exec N) are left
# alone.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
umask 077

[ "$(id -u)" = 0 ] || die "start.sh must run as root"
lab_lock
[ -x "$BIN/nova-compute" ] || die "no venv at $NOVALAB_VENV: run lab/nova/install.sh first"
if [ ! -s "$ETC/nova.conf" ] || [ ! -s "$NOVALAB_RUN/openrc" ]; then
    die "no configuration in $NOVALAB_RUN: run lab/nova/setup.sh first"
fi
# Credentials stay out of the daemons' environments: only labctl gets them.
ADMIN_PASS=$(sed -n 's/^ADMIN_PASS=//p' "$NOVALAB_RUN/secrets")
DB_PASS=$(sed -n 's/^DB_PASS=//p' "$NOVALAB_RUN/secrets")
OS_AUTH_URL=http://$LAB_HOST:$KEYSTONE_PORT/v3
labctl() {
    (
        # shellcheck source=/dev/null
        source "$NOVALAB_RUN/openrc"
        exec "$BIN/python" "$NOVALAB_DIR/labctl.py" "$@"
    )
}

T0=$EPOCHREALTIME
FIRST=0
[ -e "$NOVALAB_RUN/.initialized" ] || FIRST=1
NC=$(novalab_ncompute)
[[ $NC =~ ^[1-9][0-9]*$ ]] || die "NCOMPUTE must be a positive integer, got '$NC'"
OLD_NC=$(cat "$NOVALAB_RUN/ncompute" 2> /dev/null || echo "$NC")
mkdir -p "$LOGS" "$PIDS" "$NOVALAB_RUN/external"
STARTED=()

# ensure NAME PORT CMD...: start CMD as NAME unless it already runs.  PORT (or
# "-") must be free before a start: a foreign listener would fool our waits.
ensure() {
    local name=$1 port=$2
    shift 2
    pid_alive "$name" > /dev/null && return 0
    if [ "$port" != - ] && (exec 3<> "/dev/tcp/$LAB_HOST/$port") 2> /dev/null; then
        die "port $port is in use by a process this lab did not start (wanted for $name)"
    fi
    start_bg "$name" "$@"
    STARTED+=("$name")
}
started() { [[ " ${STARTED[*]} " == *" $1 "* ]]; }

# ------------------------------------------------------------- mariadb
if [ ! -d "$NOVALAB_RUN/mysql/data/mysql" ]; then
    /usr/bin/mariadb-install-db --defaults-file="$ETC/my.cnf" \
        --auth-root-authentication-method=socket --skip-test-db \
        > "$LOGS/mariadb-install.out" 2>&1 ||
        die "mariadb-install-db failed, see $LOGS/mariadb-install.out"
fi
ensure mariadb "$MYSQL_PORT" /usr/sbin/mariadbd --defaults-file="$ETC/my.cnf"

# ------------------------------------------------------------- rabbitmq
# epmd first, in the foreground of its own session, so that we own its pid
ensure epmd "$EPMD_PORT" /usr/bin/epmd -address "$LAB_HOST" -port "$EPMD_PORT"
wait_port "$EPMD_PORT" epmd
(
    export HOME=$NOVALAB_RUN/rabbit/home \
        RABBITMQ_CONF_ENV_FILE=$ETC/rabbitmq-env.conf \
        RABBITMQ_CONFIG_FILE=$ETC/rabbitmq \
        RABBITMQ_ENABLED_PLUGINS_FILE=$ETC/enabled_plugins \
        RABBITMQ_NODENAME=rabbit@localhost \
        RABBITMQ_NODE_IP_ADDRESS=$LAB_HOST \
        RABBITMQ_NODE_PORT=$RABBIT_PORT \
        RABBITMQ_DIST_PORT=$RABBIT_DIST_PORT \
        RABBITMQ_MNESIA_BASE=$NOVALAB_RUN/rabbit/mnesia \
        RABBITMQ_LOG_BASE=$NOVALAB_RUN/rabbit/log \
        RABBITMQ_PID_FILE=$NOVALAB_RUN/rabbit/rabbit.pid \
        ERL_EPMD_ADDRESS=$LAB_HOST \
        ERL_EPMD_PORT=$EPMD_PORT \
        RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
    ensure rabbitmq "$RABBIT_PORT" /usr/lib/rabbitmq/bin/rabbitmq-server
)

# ------------------------------------------------- first start: databases
wait_port "$MYSQL_PORT" mariadb
if [ $FIRST = 1 ]; then
    sql="CREATE USER IF NOT EXISTS 'openstack'@'$LAB_HOST' IDENTIFIED BY '$DB_PASS';"
    for db in keystone glance placement nova_api nova nova_cell0; do
        sql+=" CREATE DATABASE IF NOT EXISTS $db; GRANT ALL ON $db.* TO 'openstack'@'$LAB_HOST';"
    done
    /usr/bin/mariadb --defaults-file="$ETC/my.cnf" <<< "$sql" ||
        die "cannot create the databases"
    # four independent schema chains, in parallel (each logs to db-init-*.out)
    step() { echo "novalab: $*"; "$@"; }
    init_keystone() {
        local keystone=("$BIN/keystone-manage" --config-file "$ETC/keystone.conf")
        step "${keystone[@]}" db_sync
        step "${keystone[@]}" fernet_setup --keystone-user root --keystone-group root
        step "${keystone[@]}" credential_setup --keystone-user root --keystone-group root
        # the password goes through the environment, never on a command line
        OS_BOOTSTRAP_PASSWORD=$ADMIN_PASS step "${keystone[@]}" bootstrap \
            --bootstrap-admin-url "$OS_AUTH_URL/" \
            --bootstrap-internal-url "$OS_AUTH_URL/" \
            --bootstrap-public-url "$OS_AUTH_URL/" \
            --bootstrap-region-id RegionOne
    }
    init_glance() { step "$BIN/glance-manage" --config-file "$ETC/glance-api.conf" db_sync; }
    init_placement() { step "$BIN/placement-manage" --config-file "$ETC/placement.conf" db sync; }
    init_nova() {
        local nova=("$BIN/nova-manage" --config-file "$ETC/nova.conf")
        step "${nova[@]}" api_db sync
        # cell0 is [database]/connection with "_cell0" appended: nova_cell0
        step "${nova[@]}" cell_v2 map_cell0
        if ! "${nova[@]}" cell_v2 list_cells | grep -q ' cell1 '; then
            step "${nova[@]}" cell_v2 create_cell --name cell1
        fi
        step "${nova[@]}" db sync
    }
    declare -A init_pids=()
    for part in keystone glance placement nova; do
        (
            cd "$NOVALAB_RUN"
            "init_$part" # errexit applies: the first failing step fails the chain
        ) > "$LOGS/db-init-$part.out" 2>&1 &
        init_pids[$part]=$!
    done
    for part in "${!init_pids[@]}"; do
        if ! wait "${init_pids[$part]}"; then
            tail -n 20 "$LOGS/db-init-$part.out" >&2
            die "database initialisation failed, see $LOGS/db-init-$part.out"
        fi
    done
    echo "novalab: $(ts) databases initialised"
fi

# ------------------------------------------------------------- keystone
OS_KEYSTONE_CONFIG_DIR=$ETC ensure keystone "$KEYSTONE_PORT" \
    "$BIN/python" "$NOVALAB_DIR/serve_wsgi.py" keystone "$KEYSTONE_PORT" keystone.wsgi.api:application
if [ $FIRST = 1 ]; then
    # The catalog must be complete before any Nova service starts: openstacksdk
    # disables a service type missing from the catalog for the process's life.
    wait_http "$OS_AUTH_URL" keystone
    labctl catalog
    touch "$NOVALAB_RUN/.initialized"
fi

# ------------------------------------------- glance, placement, fake neutron
OS_GLANCE_CONFIG_DIR=$ETC ensure glance-api "$GLANCE_PORT" \
    "$BIN/python" "$NOVALAB_DIR/serve_wsgi.py" glance-api "$GLANCE_PORT" glance.wsgi.api:application
OS_PLACEMENT_CONFIG_DIR=$ETC ensure placement-api "$PLACEMENT_PORT" \
    "$BIN/python" "$NOVALAB_DIR/serve_wsgi.py" placement-api "$PLACEMENT_PORT" \
    placement.wsgi.api:application
ensure fake-neutron "$NEUTRON_PORT" "$BIN/python" -u "$NOVALAB_DIR/fake_neutron.py" "$NEUTRON_PORT"
wait_port "$RABBIT_PORT" rabbitmq

# ------------------------------------------------------------- nova
conductor_starts() {
    local c
    c=$(grep -c "Starting conductor node" "$LOGS/nova-conductor.log" 2> /dev/null) || true
    echo "${c:-0}"
}
c0=$(conductor_starts)
ensure nova-conductor - "$BIN/nova-conductor" --config-file "$ETC/nova.conf" \
    --log-file "$LOGS/nova-conductor.log"
ensure nova-scheduler - "$BIN/nova-scheduler" --config-file "$ETC/nova.conf" \
    --log-file "$LOGS/nova-scheduler.log"
OS_NOVA_CONFIG_DIR=$ETC OS_NOVA_CONFIG_FILES="api-paste.ini;nova.conf" ensure nova-api "$NOVA_PORT" \
    "$BIN/python" "$NOVALAB_DIR/serve_wsgi.py" nova-api "$NOVA_PORT" nova.wsgi.osapi_compute:application
if started nova-conductor; then
    # computes started before the conductor consumes lose their first RPC call
    n=0
    until [ "$(conductor_starts)" -gt "$c0" ]; do
        sleep 0.2
        n=$((n + 1))
        [ $n -lt 900 ] || die "nova-conductor did not start, see $LOGS/nova-conductor.log"
    done
    echo "novalab: $(ts) nova-conductor consuming"
fi

hosts=()
fresh=()
for ((i = 1; i <= NC; i++)); do
    write_compute_conf "$i"
    if [ -e "$NOVALAB_RUN/external/compute$i" ]; then
        continue # supervised by someone else (compute_ctl.sh exec)
    fi
    hosts+=("compute$i")
    if ! compute_locked "$i"; then
        launch_compute "$i" bg
        STARTED+=("nova-compute$i")
        fresh+=("compute$i")
    fi
done
# shrinking: stop the computes above NCOMPUTE, delete their services below
extra=()
for f in "$PIDS"/nova-compute*.pid; do
    [ -e "$f" ] || continue
    name=$(basename "$f" .pid)
    if [ "${name#nova-compute}" -gt "$NC" ]; then extra+=("$name"); fi
done
[ ${#extra[@]} -eq 0 ] || stop_groups 15 "${extra[@]}"
echo "$NC" > "$NOVALAB_RUN/ncompute"

for url_name in "http://$LAB_HOST:$GLANCE_PORT/ glance-api" \
    "http://$LAB_HOST:$PLACEMENT_PORT/ placement-api" \
    "http://$LAB_HOST:$NEUTRON_PORT/ fake-neutron" \
    "http://$LAB_HOST:$NOVA_PORT/ nova-api" "$OS_AUTH_URL keystone"; do
    # shellcheck disable=SC2086
    wait_http $url_name
done
echo "novalab: $(ts) APIs answer${STARTED:+ (started: ${STARTED[*]})}"

if [ "$OLD_NC" -gt "$NC" ] || [ ${#extra[@]} -gt 0 ]; then
    labctl prune --keep "$NC"
    # a deleted compute node's UUID cannot be reused: forget their identities
    for d in "$NOVALAB_RUN"/state/compute*; do
        k=${d##*/compute}
        if [[ $k =~ ^[0-9]+$ ]] && [ "$k" -gt "$NC" ] && ! pid_alive "nova-compute$k" > /dev/null; then
            rm -rf -- "$d"
        fi
    done
fi
fresh_csv=$(IFS=,; echo "${fresh[*]}")
labctl ready --fresh "$fresh_csv" "${hosts[@]}"
echo "novalab: $(ts) lab ready: ${#hosts[@]} lab-managed computes, $OS_AUTH_URL"
