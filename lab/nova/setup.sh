#!/bin/bash
# Write the Nova lab's configuration into $NOVALAB_RUN (idempotent).
#
#   lab/nova/setup.sh            write/refresh configs; keeps data and secrets
#   lab/nova/setup.sh --reset    stop the lab, wipe $NOVALAB_RUN, start afresh
#
# Secrets (Keystone admin and DB passwords) are generated once into
# $NOVALAB_RUN/secrets; every file holding one is 0600 (the run dir is 0700).
# Writes $NOVALAB_RUN/openrc and $NOVALAB_RUN/clouds.yaml (cloud
# "instanceha-lab").  Databases and schemas are created by start.sh.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
umask 077

[ "$(id -u)" = 0 ] || die "setup.sh must run as root"
lab_lock
[ -x "$BIN/nova-manage" ] || die "no venv at $NOVALAB_VENV: run lab/nova/install.sh first"

if [ "${1:-}" = --reset ]; then
    "$NOVALAB_DIR/stop.sh"
    case $NOVALAB_RUN in
        /*/*) rm -rf -- "$NOVALAB_RUN" ;;
        *) die "refusing to wipe suspicious NOVALAB_RUN=$NOVALAB_RUN" ;;
    esac
elif [ -n "${1:-}" ]; then
    die "usage: setup.sh [--reset]"
fi

NC=$(novalab_ncompute)
[[ $NC =~ ^[1-9][0-9]*$ ]] || die "NCOMPUTE must be a positive integer, got '$NC'"

mkdir -p "$NOVALAB_RUN"
chmod 0700 "$NOVALAB_RUN"
mkdir -p "$ETC" "$LOGS" "$PIDS" "$NOVALAB_RUN"/{state/nova/locks,mysql,rabbit/home} \
    "$NOVALAB_RUN"/glance/{images,staging,tasks}

# atomic_write FILE: stdin -> FILE (0600), via a temporary file + rename.
atomic_write() {
    local tmp
    tmp=$(mktemp "$1.XXXXXX")
    cat > "$tmp"
    chmod 0600 "$tmp"
    mv -f "$tmp" "$1"
}

# ------------------------------------------------------------- secrets
SECRETS=$NOVALAB_RUN/secrets
if [ ! -s "$SECRETS" ]; then
    gen() { head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 24; }
    printf 'ADMIN_PASS=%s\nDB_PASS=%s\n' "$(gen)" "$(gen)" | atomic_write "$SECRETS"
fi
ADMIN_PASS=$(sed -n 's/^ADMIN_PASS=//p' "$SECRETS")
DB_PASS=$(sed -n 's/^DB_PASS=//p' "$SECRETS")
if [ -z "$ADMIN_PASS" ] || [ -z "$DB_PASS" ]; then
    die "$SECRETS is corrupt; run setup.sh --reset"
fi

KS_URL=http://$LAB_HOST:$KEYSTONE_PORT/v3
dburl() { echo "mysql+pymysql://openstack:$DB_PASS@$LAB_HOST:$MYSQL_PORT/$1?charset=utf8"; }

# ------------------------------------------------------------- client side
atomic_write "$NOVALAB_RUN/openrc" << EOF
# Nova lab credentials (Keystone password auth as the bootstrap admin).
export OS_AUTH_TYPE=password
export OS_AUTH_URL=$KS_URL
export OS_USERNAME=admin
export OS_PASSWORD=$ADMIN_PASS
export OS_PROJECT_NAME=admin
export OS_USER_DOMAIN_NAME=Default
export OS_PROJECT_DOMAIN_NAME=Default
export OS_REGION_NAME=RegionOne
export OS_IDENTITY_API_VERSION=3
export OS_INTERFACE=public
EOF

atomic_write "$NOVALAB_RUN/clouds.yaml" << EOF
clouds:
  instanceha-lab:
    auth_type: password
    auth:
      auth_url: $KS_URL
      username: admin
      password: $ADMIN_PASS
      project_name: admin
      user_domain_name: Default
      project_domain_name: Default
    region_name: RegionOne
    interface: public
    identity_api_version: 3
EOF

# ------------------------------------------------------------- mariadb
atomic_write "$ETC/my.cnf" << EOF
[mysqld]
datadir = $NOVALAB_RUN/mysql/data
socket = $NOVALAB_RUN/mysql/mysqld.sock
pid-file = $NOVALAB_RUN/mysql/mysqld.pid
log-error = $LOGS/mariadb.err
bind-address = $LAB_HOST
port = $MYSQL_PORT
user = root
skip-name-resolve
skip-log-bin
max_connections = 1000
innodb_buffer_pool_size = 64M
innodb_log_file_size = 32M
innodb_flush_log_at_trx_commit = 0
innodb_doublewrite = 0
character-set-server = utf8mb4
collation-server = utf8mb4_general_ci
[client]
socket = $NOVALAB_RUN/mysql/mysqld.sock
user = root
EOF

# ------------------------------------------------------------- rabbitmq
atomic_write "$ETC/rabbitmq.conf" << EOF
listeners.tcp.default = $LAB_HOST:$RABBIT_PORT
loopback_users.guest = true
log.file.level = warning
EOF
echo "[]." | atomic_write "$ETC/enabled_plugins"
atomic_write "$ETC/rabbitmq-env.conf" < /dev/null

# ------------------------------------------------------------- keystone
atomic_write "$ETC/keystone.conf" << EOF
[DEFAULT]
log_file = $LOGS/keystone.log
[database]
connection = $(dburl keystone)
[token]
provider = fernet
[fernet_tokens]
key_repository = $NOVALAB_RUN/state/fernet-keys
[fernet_receipts]
key_repository = $NOVALAB_RUN/state/fernet-keys
[credential]
key_repository = $NOVALAB_RUN/state/credential-keys
EOF

# Every service authenticates as the bootstrap admin (a throw-away cloud).
auth_section() {
    cat << EOF
[$1]
auth_url = $KS_URL
auth_type = password
project_domain_name = Default
user_domain_name = Default
project_name = admin
username = admin
password = $ADMIN_PASS
region_name = RegionOne
EOF
}
authtoken_section() {
    auth_section keystone_authtoken
    echo "www_authenticate_uri = $KS_URL"
    echo "service_token_roles_required = true"
}

# ------------------------------------------------------------- glance
atomic_write "$ETC/glance-api-paste.ini" < "$NOVALAB_VENV/etc/glance/glance-api-paste.ini"
atomic_write "$ETC/glance-api.conf" << EOF
[DEFAULT]
log_file = $LOGS/glance-api.log
enabled_backends = file:file
worker_self_reference_url = http://$LAB_HOST:$GLANCE_PORT
[database]
connection = $(dburl glance)
[glance_store]
default_backend = file
[file]
filesystem_store_datadir = $NOVALAB_RUN/glance/images
[os_glance_staging_store]
filesystem_store_datadir = $NOVALAB_RUN/glance/staging
[os_glance_tasks_store]
filesystem_store_datadir = $NOVALAB_RUN/glance/tasks
[paste_deploy]
flavor = keystone
$(authtoken_section)
EOF

# ------------------------------------------------------------- placement
atomic_write "$ETC/placement.conf" << EOF
[DEFAULT]
log_file = $LOGS/placement-api.log
[placement_database]
connection = $(dburl placement)
[api]
auth_strategy = keystone
$(authtoken_section)
EOF

# ------------------------------------------------------------- nova
atomic_write "$ETC/api-paste.ini" < "$NOVALAB_VENV/etc/nova/api-paste.ini"
atomic_write "$ETC/nova.conf" << EOF
[DEFAULT]
transport_url = rabbit://guest:guest@$LAB_HOST:$RABBIT_PORT/
compute_driver = fake.FakeDriverWithoutFakeNodes
my_ip = $LAB_HOST
state_path = $NOVALAB_RUN/state/nova
instances_path = $NOVALAB_RUN/state/nova/instances
# a compute counts as down after this many seconds without a heartbeat
service_down_time = 20
report_interval = 5
heal_instance_info_cache_interval = -1
graceful_shutdown_timeout = 5
[api]
auth_strategy = keystone
[wsgi]
api_paste_config = $ETC/api-paste.ini
[api_database]
connection = $(dburl nova_api)
[database]
connection = $(dburl nova)
[conductor]
workers = 1
[scheduler]
workers = 1
discover_hosts_in_cells_interval = 5
[oslo_concurrency]
lock_path = $NOVALAB_RUN/state/nova/locks
$(authtoken_section)
$(auth_section placement)
$(auth_section neutron)
$(auth_section glance)
[cinder]
os_region_name = RegionOne
[quota]
instances = -1
cores = -1
ram = -1
EOF

for ((i = 1; i <= NC; i++)); do
    write_compute_conf "$i"
done
echo "$NC" | atomic_write "$NOVALAB_RUN/ncompute"
echo "novalab: configuration in $ETC ($NC computes)"
