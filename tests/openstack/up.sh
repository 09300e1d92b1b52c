#!/usr/bin/env bash
# Stand up (or check) a minimal, real OpenStack Zed from Debian bookworm's packages on 127.0.0.1.
#
# Idempotent: writes config into the state dir, creates databases, runs db syncs / bootstrap / cell
# setup only once, starts whatever is not running, waits for health, registers the test image and
# flavor, writes clouds.yaml. When everything is already up it returns in a few seconds.
#
# Environment:
#   OS_TESTCLOUD_DIR        state dir (default /var/lib/cloudsvc-testcloud)
#   OS_TESTCLOUD_TIMEOUT    seconds to wait for each health stage (default 300)
#   OS_TESTCLOUD_ADMIN_PASSWORD (default admin)
#   OS_TESTCLOUD_MYSQL      mysql client command for root access (default "mysql -uroot")
set -euo pipefail
umask 022
exec </dev/null

# shellcheck source=common.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/common.sh"

now_ms() { date +%s%3N; }
T0=$(now_ms)
TIMEOUT=${OS_TESTCLOUD_TIMEOUT:-300}
ADMIN_PASSWORD=${OS_TESTCLOUD_ADMIN_PASSWORD:-admin}
SERVICE_PASSWORD=cloudsvcServicePw1
REGION=RegionOne
AUTH_URL=http://127.0.0.1:5000/v3
COMPUTE_HOST=host-ovs-filter-active
DB_PREFIX=$OS_TC_DB_PREFIX
DB_USER=$OS_TC_DB_USER
DB_PASS=ostcDbPw1
RABBIT_USER=$OS_TC_RABBIT_USER
RABBIT_PASS=ostcRabbitPw1
RABBIT_VHOST=$OS_TC_RABBIT_VHOST
TRANSPORT_URL="rabbit://$RABBIT_USER:$RABBIT_PASS@127.0.0.1:5672/$RABBIT_VHOST"
read -r -a MYSQL <<<"${OS_TESTCLOUD_MYSQL:-mysql -uroot}"
DBS=("${OS_TC_DBS[@]}")

declare -a TIMINGS=()
STAGE_T=$T0
elapsed() { local ms=$(( $(now_ms) - $1 )); printf '%d.%d' $(( ms / 1000 )) $(( ms % 1000 / 100 )); }
log() { printf '[up %6ss] %s\n' "$(elapsed "$T0")" "$*"; }
stage_done() {
  TIMINGS+=("$(printf '%-28s %6s s' "$1" "$(elapsed "$STAGE_T")")")
  STAGE_T=$(now_ms)
}
die() { echo "up.sh: ERROR: $*" >&2; exit 1; }

tail_log() {
  local f=$1 n=${2:-60}
  if [[ -f $f ]]; then
    echo "----- last $n lines of $f -----" >&2
    tail -n "$n" "$f" >&2
    echo "----- end of $f -----" >&2
  fi
}

dburl() { echo "mysql+pymysql://$DB_USER:$DB_PASS@127.0.0.1:3306/$DB_PREFIX$1?charset=utf8"; }

[[ $(id -u) -eq 0 ]] || die "must run as root"

# ------------------------------------------------------------------------------------------------
# 0. packages
# ------------------------------------------------------------------------------------------------
"$OS_TC_HERE/install.sh" </dev/null
stage_done "packages"

mkdir -p "$D"/{etc/keystone,etc/placement,etc/glance,etc/nova,etc/neutron,etc/cinder,uwsgi,log,run,state} \
         "$D"/data/{keystone/fernet-keys,keystone/credential-keys,glance/images,glance/staging,glance/tasks} \
         "$D"/data/{nova/instances,neutron,cinder/volumes} "$D/lock"
chmod 700 "$D/data/keystone/fernet-keys" "$D/data/keystone/credential-keys"

exec 9>"$D/run/up.lock"
flock -w 900 9 || die "another up.sh holds $D/run/up.lock"

# ------------------------------------------------------------------------------------------------
# 1. configuration (always rewritten; cheap)
# ------------------------------------------------------------------------------------------------
authtoken() { # $1 = service user
  cat <<EOF
[keystone_authtoken]
www_authenticate_uri = http://127.0.0.1:5000
auth_url = http://127.0.0.1:5000
auth_type = password
project_domain_name = Default
user_domain_name = Default
project_name = service
username = $1
password = $SERVICE_PASSWORD
region_name = $REGION
service_token_roles_required = true
memcached_servers = 127.0.0.1:${OS_TC_PORT[memcached]}
EOF
}
svc_auth() { # $1 = section, $2 = user
  cat <<EOF
[$1]
auth_type = password
auth_url = http://127.0.0.1:5000/v3
project_domain_name = Default
user_domain_name = Default
project_name = service
username = $2
password = $SERVICE_PASSWORD
region_name = $REGION
EOF
}
common_default() {
  cat <<EOF
debug = false
use_stderr = false
transport_url = $TRANSPORT_URL
EOF
}
db_section() { # $1 = section, $2 = db
  cat <<EOF
[$1]
connection = $(dburl "$2")
max_pool_size = 5
max_overflow = 10
connection_recycle_time = 600
EOF
}

write_if_changed() { # $1 = path; content on stdin
  local tmp
  tmp=$(mktemp "$1.XXXX")
  cat >"$tmp"
  if [[ -f $1 ]] && cmp -s "$tmp" "$1"; then rm -f "$tmp"; else mv -f "$tmp" "$1"; fi
}

nova_conf() { # $1 = db | nodb
  cat <<EOF
[DEFAULT]
$(common_default)
my_ip = 127.0.0.1
state_path = $D/data/nova
instances_path = $D/data/nova/instances
compute_driver = fake.FakeDriver
enabled_apis = osapi_compute
osapi_compute_listen = 127.0.0.1

[api]
auth_strategy = keystone

$(if [[ $1 == db ]]; then db_section api_database nova_api; echo; db_section database nova; fi)

$(authtoken nova)

[service_user]
send_service_user_token = true
auth_type = password
auth_url = http://127.0.0.1:5000/v3
project_domain_name = Default
user_domain_name = Default
project_name = service
username = nova
password = $SERVICE_PASSWORD

$(svc_auth placement nova)
valid_interfaces = public

$(svc_auth neutron nova)
valid_interfaces = public
service_metadata_proxy = false

$(svc_auth cinder nova)
os_region_name = $REGION
catalog_info = volumev3:cinderv3:publicURL

[glance]
region_name = $REGION
valid_interfaces = public

[conductor]
workers = 1

[scheduler]
workers = 1
discover_hosts_in_cells_interval = 30

[vnc]
enabled = false

[spice]
enabled = false

[oslo_concurrency]
lock_path = $D/lock

[oslo_messaging_notifications]
driver = noop

[wsgi]
api_paste_config = $D/etc/nova/api-paste.ini

[oslo_policy]
enforce_new_defaults = false
enforce_scope = false
EOF
}

write_config() {
  # --- keystone
  write_if_changed "$D/etc/keystone/keystone.conf" <<EOF
[DEFAULT]
debug = false
$(db_section database keystone)

[token]
provider = fernet
expiration = 14400

[fernet_tokens]
key_repository = $D/data/keystone/fernet-keys

[credential]
key_repository = $D/data/keystone/credential-keys

[identity]
password_hash_rounds = 4

[cache]
# Without a cache every token validation costs ~500 SQL queries (~1 s); memcached is shared by
# both uwsgi workers, so invalidation stays consistent.
enabled = true
backend = oslo_cache.memcache_pool
memcache_servers = 127.0.0.1:${OS_TC_PORT[memcached]}

[oslo_policy]
enforce_new_defaults = false
enforce_scope = false
EOF

  # --- placement
  write_if_changed "$D/etc/placement/placement.conf" <<EOF
[DEFAULT]
debug = false

[api]
auth_strategy = keystone

$(db_section placement_database placement)

$(authtoken placement)
EOF

  # --- glance
  write_if_changed "$D/etc/glance/glance-api.conf" <<EOF
[DEFAULT]
debug = false
enabled_backends = fs:file
bind_host = 127.0.0.1
transport_url = $TRANSPORT_URL

$(db_section database glance)

$(authtoken glance)

[paste_deploy]
flavor = keystone

[glance_store]
default_backend = fs

[fs]
filesystem_store_datadir = $D/data/glance/images

[os_glance_staging_store]
filesystem_store_datadir = $D/data/glance/staging

[os_glance_tasks_store]
filesystem_store_datadir = $D/data/glance/tasks

[oslo_concurrency]
lock_path = $D/lock

[oslo_messaging_notifications]
driver = noop
EOF
  cp -f /etc/glance/glance-api-paste.ini "$D/etc/glance/glance-api-paste.ini"

  # --- nova
  nova_conf db >"$D/etc/nova/nova.conf.new"
  write_if_changed "$D/etc/nova/nova.conf" <"$D/etc/nova/nova.conf.new"
  # nova-compute must not have database access (it goes through the conductor)
  nova_conf nodb >"$D/etc/nova/nova.conf.new"
  printf '\n[DEFAULT]\nhost = %s\n' "$COMPUTE_HOST" >>"$D/etc/nova/nova.conf.new"
  write_if_changed "$D/etc/nova/nova-compute.conf" <"$D/etc/nova/nova.conf.new"
  rm -f "$D/etc/nova/nova.conf.new"
  cp -f /etc/nova/api-paste.ini "$D/etc/nova/api-paste.ini"

  # --- neutron
  write_if_changed "$D/etc/neutron/neutron.conf" <<EOF
[DEFAULT]
$(common_default)
bind_host = 127.0.0.1
bind_port = 9696
core_plugin = ml2
service_plugins = router,qos
auth_strategy = keystone
allow_overlapping_ips = true
dhcp_agent_notification = false
notify_nova_on_port_status_changes = true
notify_nova_on_port_data_changes = true
api_workers = 1
rpc_workers = 1
rpc_state_report_workers = 1
state_path = $D/data/neutron
api_paste_config = /etc/neutron/api-paste.ini

$(db_section database neutron)

$(authtoken neutron)

$(svc_auth nova neutron)

[oslo_concurrency]
lock_path = $D/lock

[oslo_messaging_notifications]
driver = noop

[oslo_policy]
enforce_new_defaults = false
enforce_scope = false
EOF
  write_if_changed "$D/etc/neutron/ml2_conf.ini" <<EOF
[ml2]
type_drivers = flat,vlan,vxlan
tenant_network_types = vxlan
mechanism_drivers = test,openvswitch
extension_drivers = port_security,qos

[ml2_type_flat]
flat_networks = *

[ml2_type_vlan]
network_vlan_ranges = public:100:199

[ml2_type_vxlan]
vni_ranges = 1:10000

[securitygroup]
enable_security_group = true
EOF

  # --- cinder
  write_if_changed "$D/etc/cinder/cinder.conf" <<EOF
[DEFAULT]
$(common_default)
my_ip = 127.0.0.1
host = cloudsvc-testcloud
auth_strategy = keystone
state_path = $D/data/cinder
volumes_dir = $D/data/cinder/volumes
api_paste_config = /etc/cinder/api-paste.ini
enabled_backends = fake
default_volume_type = __DEFAULT__
osapi_volume_listen = 127.0.0.1

$(db_section database cinder)

$(authtoken cinder)

$(svc_auth nova cinder)
interface = public

[service_user]
send_service_user_token = true
auth_type = password
auth_url = http://127.0.0.1:5000/v3
project_domain_name = Default
user_domain_name = Default
project_name = service
username = cinder
password = $SERVICE_PASSWORD

[fake]
volume_driver = cinder.tests.fake_driver.FakeLoggingVolumeDriver
volume_backend_name = fake

[oslo_concurrency]
lock_path = $D/lock

[oslo_messaging_notifications]
driver = noop

[coordination]
backend_url = file://$D/lock

[oslo_policy]
enforce_new_defaults = false
enforce_scope = false
EOF

  # --- uwsgi ini files for the APIs
  local name port wsgi env extra
  for name in "${OS_TC_APIS[@]}"; do
    port=${OS_TC_PORT[$name]}
    extra=""
    case $name in
      keystone)   wsgi=/usr/bin/keystone-wsgi-public; env="OS_KEYSTONE_CONFIG_DIR=$D/etc/keystone" ;;
      placement)  wsgi=/usr/bin/placement-api;        env="OS_PLACEMENT_CONFIG_DIR=$D/etc/placement" ;;
      glance)     wsgi=/usr/bin/glance-wsgi-api;      env="OS_GLANCE_CONFIG_DIR=$D/etc/glance"
                  extra=$'http-raw-body = true\nhttp-chunked-input = true\nhttp-auto-chunked = true\nwsgi-manage-chunked-input = true' ;;
      nova-api)   wsgi=/usr/bin/nova-api-wsgi;        env="OS_NOVA_CONFIG_DIR=$D/etc/nova" ;;
      cinder-api) wsgi=/usr/bin/cinder-wsgi;          env="OS_CINDER_CONFIG_DIR=$D/etc/cinder"
                  extra="pyargv = --config-file $D/etc/cinder/cinder.conf" ;;
    esac
    write_if_changed "$D/uwsgi/$name.ini" <<EOF
[uwsgi]
plugins = python3
http-socket = 127.0.0.1:$port
wsgi-file = $wsgi
env = $env
master = true
processes = 2
threads = 1
lazy-apps = true
enable-threads = true
need-app = true
die-on-term = true
hook-master-start = unix_signal:15 gracefully_kill_them_all
worker-reload-mercy = 5
buffer-size = 65535
socket-timeout = 60
add-header = Connection: close
$extra
EOF
  done
}
write_config
# fingerprint of everything the running services were started with
CONFIG_HASH=$(cat "$D"/etc/*/* "$D"/uwsgi/*.ini | md5sum | cut -d' ' -f1)
stage_done "config"

# ------------------------------------------------------------------------------------------------
# 2. restart everything if the configuration changed since the services were started
# ------------------------------------------------------------------------------------------------
any_running=0
for s in "${OS_TC_ALL[@]}"; do svc_pid "$s" >/dev/null && any_running=1; done
if [[ $any_running -eq 1 && -f $D/run/config.hash && $(<"$D/run/config.hash") != "$CONFIG_HASH" ]]; then
  log "configuration changed since start: restarting the stack"
  "$OS_TC_HERE/down.sh"
fi

# ------------------------------------------------------------------------------------------------
# 3. MariaDB databases and RabbitMQ user
# ------------------------------------------------------------------------------------------------
"${MYSQL[@]}" -e 'SELECT 1' >/dev/null 2>&1 || die "MariaDB is not reachable with: ${MYSQL[*]}"
sql="CREATE USER IF NOT EXISTS '$DB_USER'@'localhost' IDENTIFIED BY '$DB_PASS';
CREATE USER IF NOT EXISTS '$DB_USER'@'127.0.0.1' IDENTIFIED BY '$DB_PASS';
CREATE USER IF NOT EXISTS '$DB_USER'@'%' IDENTIFIED BY '$DB_PASS';"
for db in "${DBS[@]}"; do
  sql+="CREATE DATABASE IF NOT EXISTS \`$DB_PREFIX$db\` CHARACTER SET utf8 COLLATE utf8_general_ci;"
  for h in localhost 127.0.0.1 %; do
    sql+="GRANT ALL PRIVILEGES ON \`$DB_PREFIX$db\`.* TO '$DB_USER'@'$h';"
  done
done
"${MYSQL[@]}" -e "$sql"
# The server default (151) is tight for ~15 processes with connection pools; raise it (runtime only).
maxconn=$("${MYSQL[@]}" -N -e 'SELECT @@global.max_connections')
if (( maxconn < 1000 )); then
  "${MYSQL[@]}" -e 'SET GLOBAL max_connections = 1000' && log "MariaDB max_connections $maxconn -> 1000 (runtime)"
fi

# Forget sync stamps of databases that are empty (e.g. MariaDB was reset).
declare -A NTABLES=()
while read -r schema n; do NTABLES[$schema]=$n; done < <(
  "${MYSQL[@]}" -N -e "SELECT table_schema, COUNT(*) FROM information_schema.tables
                       WHERE table_schema LIKE '${DB_PREFIX}%' GROUP BY table_schema")
for svc in keystone placement glance nova neutron cinder; do
  case $svc in nova) dbs=(nova_api nova nova_cell0) ;; *) dbs=("$svc") ;; esac
  for db in "${dbs[@]}"; do
    if [[ -z ${NTABLES[$DB_PREFIX$db]:-} ]]; then rm -f "$D/state/$svc.synced"; fi
  done
done

rabbit_ok() {
  "$PY" - "$TRANSPORT_URL" <<'EOF' 2>/dev/null
import sys, kombu
url = sys.argv[1].replace("rabbit://", "amqp://", 1)
with kombu.Connection(url, connect_timeout=5) as c:
    c.connect()
EOF
}
if ! rabbit_ok; then
  log "creating RabbitMQ user/vhost $RABBIT_USER/$RABBIT_VHOST"
  rabbitmqctl -q list_vhosts | grep -qx "$RABBIT_VHOST" || rabbitmqctl -q add_vhost "$RABBIT_VHOST"
  if rabbitmqctl -q list_users | awk '{print $1}' | grep -qx "$RABBIT_USER"; then
    rabbitmqctl -q change_password "$RABBIT_USER" "$RABBIT_PASS"
  else
    rabbitmqctl -q add_user "$RABBIT_USER" "$RABBIT_PASS"
  fi
  rabbitmqctl -q set_permissions -p "$RABBIT_VHOST" "$RABBIT_USER" '.*' '.*' '.*'
  rabbit_ok || die "cannot log in to RabbitMQ at $TRANSPORT_URL"
fi
stage_done "mariadb+rabbitmq"

# ------------------------------------------------------------------------------------------------
# 4. service processes
# ------------------------------------------------------------------------------------------------
declare -a STARTED=()
declare -A LOGOFF=()

start_svc() { # $1 = name, rest = env assignments and command
  local name=$1; shift
  if svc_pid "$name" >/dev/null; then return 0; fi
  local logf=$D/log/$name.log port=${OS_TC_PORT[$name]:-}
  if [[ -n $port && -n $(ss -Hltn "sport = :$port" 2>/dev/null) ]]; then
    ss -Hltnp "sport = :$port" >&2 || true
    die "cannot start $name: 127.0.0.1:$port is already in use by another process"
  fi
  echo "===== $(date -Is) starting $name =====" >>"$logf"
  LOGOFF[$name]=$(( $(stat -c %s "$logf") + 1 ))
  # own session/process group; no inherited descriptors (e.g. the lock on fd 9, CI pipes)
  (
    for fd in "/proc/$BASHPID"/fd/*; do
      fd=${fd##*/}
      if (( fd > 2 )); then eval "exec $fd>&-"; fi
    done
    exec setsid env "$@"
  ) </dev/null >>"$logf" 2>&1 &
  echo $! >"$D/run/$name.pid"
  STARTED+=("$name")
  log "started $name (pid $!)"
}

start_api() { # $1 = API name
  start_svc "$1" /usr/bin/uwsgi --ini "$D/uwsgi/$1.ini"
}

start_daemon() {
  local c=$D/etc
  case $1 in
    memcached)        start_svc "$1" /usr/bin/memcached -u memcache -l 127.0.0.1 -p "${OS_TC_PORT[memcached]}" \
                          -U 0 -m 64 -c 1024 -P "$D/run/memcached.pidfile" ;;
    neutron-server)   start_svc "$1" PYTHONOPTIMIZE=1 /usr/bin/neutron-server \
                          --config-file "$c/neutron/neutron.conf" --config-file "$c/neutron/ml2_conf.ini" ;;
    nova-conductor)   start_svc "$1" /usr/bin/nova-conductor --config-file "$c/nova/nova.conf" ;;
    nova-scheduler)   start_svc "$1" /usr/bin/nova-scheduler --config-file "$c/nova/nova.conf" ;;
    nova-compute)     start_svc "$1" "$PY" -c 'import sys; from nova.cmd.compute import main; sys.argv[0] = "nova-compute"; sys.exit(main())' \
                          --config-file "$c/nova/nova-compute.conf" ;;
    cinder-scheduler) start_svc "$1" /usr/bin/cinder-scheduler --config-file "$c/cinder/cinder.conf" ;;
    cinder-volume)    start_svc "$1" /usr/bin/cinder-volume --config-file "$c/cinder/cinder.conf" ;;
    *) die "unknown daemon $1" ;;
  esac
}

# Fail loudly if a service we rely on is not running any more.
check_alive() {
  local s pid
  for s in "$@"; do
    if ! pid=$(svc_pid "$s"); then
      tail_log "$D/log/$s.log" 80
      die "$s is not running (see $D/log/$s.log)"
    fi
    if [[ -n ${LOGOFF[$s]:-} ]] && tail -c "+${LOGOFF[$s]}" "$D/log/$s.log" \
         | grep -q 'no app loaded\|unable to load app'; then
      tail_log "$D/log/$s.log" 80
      die "$s: uwsgi could not load the application"
    fi
  done
}

# wait_for <description> <timeout> <services whose logs matter> -- <command...>
wait_for() {
  local desc=$1 limit=$2; shift 2
  local svcs=()
  while [[ $1 != -- ]]; do svcs+=("$1"); shift; done
  shift
  local start now
  start=$(date +%s)
  while true; do
    if "$@" >"$D/run/probe.out" 2>&1; then
      check_alive "${svcs[@]}"
      return 0
    fi
    check_alive "${svcs[@]}"
    now=$(date +%s)
    if (( now - start >= limit )); then
      echo "up.sh: ERROR: timed out after ${limit}s waiting for: $desc" >&2
      echo "----- last probe output -----" >&2; cat "$D/run/probe.out" >&2
      local s; for s in "${svcs[@]}"; do tail_log "$D/log/$s.log" 60; done
      exit 1
    fi
    sleep 1
  done
}

api_answers() { # any HTTP answer below 500 on / counts
  local code
  code=$(curl -s -o /dev/null -m 5 -w '%{http_code}' "http://127.0.0.1:$1/") || return 1
  [[ $code =~ ^[234] ]]
}

run_setup() { # $1 = log name, rest = command; logs into log/setup-<name>.log, dies with tail on failure
  local name=$1; shift
  local logf=$D/log/setup-$name.log
  echo "===== $(date -Is) $* =====" >>"$logf"
  if ! "$@" </dev/null >>"$logf" 2>&1; then
    tail_log "$logf" 60
    die "setup step failed: $*"
  fi
}

export OS_TC_AUTH_URL=$AUTH_URL OS_TC_ADMIN_PASSWORD=$ADMIN_PASSWORD OS_TC_SERVICE_PASSWORD=$SERVICE_PASSWORD \
       OS_TC_REGION=$REGION OS_TC_STATE_DIR=$D OS_TC_COMPUTE_HOST=$COMPUTE_HOST
PROVISION=("$PY" "$OS_TC_HERE/provision.py")

# --- memcached (keystone cache, token cache of the services), then keystone: everything else
#     authenticates against it
memcached_answers() {
  local reply=""
  exec 8<>"/dev/tcp/127.0.0.1/${OS_TC_PORT[memcached]}" || return 1
  printf 'version\r\n' >&8
  read -r -t 2 reply <&8 || true
  exec 8>&-
  [[ $reply == VERSION* ]]
}
start_daemon memcached
wait_for "memcached on :${OS_TC_PORT[memcached]}" 30 memcached -- memcached_answers

# the stamp records the admin password, so changing OS_TESTCLOUD_ADMIN_PASSWORD re-runs the bootstrap
ADMIN_PW_SUM=$(printf '%s' "$ADMIN_PASSWORD" | md5sum | cut -d' ' -f1)
if [[ ! -f $D/state/keystone.synced || $(<"$D/state/keystone.synced") != "$ADMIN_PW_SUM" ]]; then
  log "keystone: db sync + bootstrap"
  kc=(--config-file "$D/etc/keystone/keystone.conf")
  if [[ -z $(ls -A "$D/data/keystone/fernet-keys") ]]; then
    run_setup keystone keystone-manage "${kc[@]}" fernet_setup --keystone-user root --keystone-group root
  fi
  if [[ -z $(ls -A "$D/data/keystone/credential-keys") ]]; then
    run_setup keystone keystone-manage "${kc[@]}" credential_setup --keystone-user root --keystone-group root
  fi
  run_setup keystone keystone-manage "${kc[@]}" db_sync
  run_setup keystone keystone-manage "${kc[@]}" bootstrap --bootstrap-password "$ADMIN_PASSWORD" \
    --bootstrap-username admin --bootstrap-project-name admin --bootstrap-role-name admin \
    --bootstrap-admin-url "$AUTH_URL/" --bootstrap-internal-url "$AUTH_URL/" \
    --bootstrap-public-url "$AUTH_URL/" --bootstrap-region-id "$REGION"
  rm -f "$D/state/keystone.provisioned"
  echo "$ADMIN_PW_SUM" >"$D/state/keystone.synced"
fi
start_api keystone

# --- the other databases, in parallel while keystone comes up
declare -A SYNC_PIDS=()
sync_bg() { # $1 = service, rest = function to run
  local svc=$1; shift
  [[ -f $D/state/$svc.synced ]] && return 0
  log "$svc: db sync (background)"
  ( "$@" && touch "$D/state/$svc.synced" ) &
  SYNC_PIDS[$svc]=$!
}
sync_placement() { run_setup placement placement-manage --config-file "$D/etc/placement/placement.conf" db sync; }
sync_glance()    { run_setup glance glance-manage --config-file "$D/etc/glance/glance-api.conf" db_sync; }
sync_cinder()    { run_setup cinder cinder-manage --config-file "$D/etc/cinder/cinder.conf" db sync; }
sync_neutron()   {
  run_setup neutron neutron-db-manage --config-file "$D/etc/neutron/neutron.conf" \
    --config-file "$D/etc/neutron/ml2_conf.ini" upgrade heads
}
sync_nova() {
  local nc=(--config-file "$D/etc/nova/nova.conf")
  run_setup nova nova-manage "${nc[@]}" api_db sync
  run_setup nova nova-manage "${nc[@]}" cell_v2 map_cell0 --database_connection "$(dburl nova_cell0)"
  if ! nova-manage "${nc[@]}" cell_v2 list_cells 2>/dev/null | grep -q ' cell1 '; then
    run_setup nova nova-manage "${nc[@]}" cell_v2 create_cell --name cell1 --verbose
  fi
  run_setup nova nova-manage "${nc[@]}" db sync
}
for svc in placement glance cinder neutron nova; do sync_bg "$svc" "sync_$svc"; done

wait_for "keystone API on :5000" "$TIMEOUT" keystone -- api_answers 5000
if [[ ! -f $D/state/keystone.provisioned ]]; then
  log "keystone: service users and endpoints"
  run_setup keystone-provision "${PROVISION[@]}" keystone
  touch "$D/state/keystone.provisioned"
fi
stage_done "keystone"

for svc in "${!SYNC_PIDS[@]}"; do
  wait "${SYNC_PIDS[$svc]}" || die "db sync of $svc failed (see $D/log/setup-$svc.log)"
  log "$svc: db sync done"
done
stage_done "db syncs"

# --- everything else
for s in placement glance nova-api cinder-api; do start_api "$s"; done
for s in neutron-server nova-conductor nova-scheduler cinder-scheduler cinder-volume; do start_daemon "$s"; done
for s in "${OS_TC_APIS[@]}" neutron-server; do
  wait_for "${s} API on :${OS_TC_PORT[$s]}" "$TIMEOUT" "$s" -- api_answers "${OS_TC_PORT[$s]}"
done
stage_done "APIs answering"

# nova-compute needs placement and the conductor to be there to register its resource provider
start_daemon nova-compute
echo "$CONFIG_HASH" >"$D/run/config.hash"

host_mapped() {
  [[ -n $("${MYSQL[@]}" -N -e "SELECT host FROM \`${DB_PREFIX}nova_api\`.host_mappings WHERE host='$COMPUTE_HOST'") ]]
}
compute_node_exists() {
  [[ -n $("${MYSQL[@]}" -N -e "SELECT id FROM \`${DB_PREFIX}nova\`.compute_nodes WHERE host='$COMPUTE_HOST' AND deleted=0") ]]
}
if ! host_mapped; then
  wait_for "nova-compute to register $COMPUTE_HOST" "$TIMEOUT" nova-compute nova-conductor -- compute_node_exists
  log "nova: discovering compute hosts"
  run_setup nova-discover nova-manage --config-file "$D/etc/nova/nova.conf" cell_v2 discover_hosts --verbose
  host_mapped || die "nova-manage cell_v2 discover_hosts did not map $COMPUTE_HOST"
fi
# Fast path (stack was already running): one probe round that also checks image and flavor.
if (( ${#STARTED[@]} == 0 )) && "${PROVISION[@]}" ready >"$D/run/probe.out" 2>&1; then
  stage_done "health+image+flavor"
else
  wait_for "a hypervisor in the compute API" "$TIMEOUT" nova-compute nova-api nova-conductor -- "${PROVISION[@]}" probe-compute
  wait_for "cinder-volume and cinder-scheduler up" "$TIMEOUT" cinder-volume cinder-scheduler cinder-api -- "${PROVISION[@]}" probe-volume
  wait_for "neutron QoS (openvswitch mechanism driver)" "$TIMEOUT" neutron-server -- "${PROVISION[@]}" probe-network
  stage_done "compute/volume/network up"
  # ----------------------------------------------------------------------------------------------
  # 5. test resources
  # ----------------------------------------------------------------------------------------------
  run_setup resources "${PROVISION[@]}" resources
  stage_done "image+flavor"
fi
check_alive "${OS_TC_ALL[@]}"

write_if_changed "$D/clouds.yaml" <<EOF
clouds:
  cloudsvc-test:
    auth:
      auth_url: $AUTH_URL
      username: admin
      password: $ADMIN_PASSWORD
      project_name: admin
      user_domain_name: Default
      project_domain_name: Default
    region_name: $REGION
    interface: public
    identity_api_version: 3
EOF
chmod 644 "$D/clouds.yaml"  # local test cloud; readable by non-root test runners
write_if_changed "$D/openrc" <<EOF
export OS_CLIENT_CONFIG_FILE=$D/clouds.yaml
export OS_CLOUD=cloudsvc-test
EOF

# ------------------------------------------------------------------------------------------------
# 6. report
# ------------------------------------------------------------------------------------------------
mem_kb=0
for s in "${OS_TC_ALL[@]}"; do
  pid=$(svc_pid "$s") || continue
  for p in $(pgrep -g "$pid"); do
    pss=$(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || true)
    mem_kb=$(( mem_kb + ${pss:-0} ))
  done
done

echo
echo "OpenStack test cloud is up (state dir $D)"
echo "  clouds.yaml: OS_CLIENT_CONFIG_FILE=$D/clouds.yaml OS_CLOUD=cloudsvc-test"
printf '  %-10s %s\n' keystone 5000 placement 8778 glance 9292 nova 8774 neutron 9696 cinder 8776
if (( ${#STARTED[@]} )); then echo "  started now: ${STARTED[*]}"; else echo "  started now: nothing (all running)"; fi
echo "  memory (PSS of all service processes): $(( mem_kb / 1024 )) MiB"
echo "  timings:"
for t in "${TIMINGS[@]}"; do echo "    $t"; done
printf '    %-28s %6s s\n' "TOTAL" "$(elapsed "$T0")"
