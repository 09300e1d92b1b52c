# shellcheck shell=bash
# shellcheck disable=SC2034  # variables are used by the scripts that source this file
# Shared settings for up.sh / down.sh. Sourced, not executed.

OS_TC_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
D=${OS_TESTCLOUD_DIR:-/var/lib/cloudsvc-testcloud}
D=${D%/}

# Debian's OpenStack lives in the system Python: keep pyenv shims and virtualenvs out of the way.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
unset PYTHONPATH PYTHONHOME VIRTUAL_ENV PYTHONOPTIMIZE
PY=/usr/bin/python3

# Names shared with down.sh --wipe
OS_TC_DB_PREFIX=ostc_
OS_TC_DB_USER=ostc
OS_TC_DBS=(keystone placement glance nova_api nova nova_cell0 neutron cinder)
OS_TC_RABBIT_USER=ostc
OS_TC_RABBIT_VHOST=ostc

# Every long-running service, in start order. API names are uwsgi apps.
OS_TC_APIS=(keystone placement glance nova-api cinder-api)
OS_TC_DAEMONS=(memcached neutron-server nova-conductor nova-scheduler cinder-scheduler cinder-volume nova-compute)
OS_TC_ALL=("${OS_TC_APIS[@]}" "${OS_TC_DAEMONS[@]}")

declare -A OS_TC_PORT=(
  [keystone]=5000 [placement]=8778 [glance]=9292 [nova-api]=8774 [cinder-api]=8776
  [neutron-server]=9696 [memcached]=11211
)

# pid of a running service of ours (by its pid file), or nothing.
svc_pid() {
  local f=$D/run/$1.pid pid
  [[ -s $f ]] || return 1
  pid=$(<"$f")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [[ -r /proc/$pid/cmdline ]] || return 1
  # guard against pid reuse: our processes always carry the state dir in their command line
  local cmd
  cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
  [[ $cmd == *"$D/"* ]] || return 1
  echo "$pid"
}

# Process-group members still alive for a service.
svc_group_alive() {
  local pgid=$1
  pgrep -g "$pgid" >/dev/null 2>&1
}
