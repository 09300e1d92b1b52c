#!/usr/bin/env bash
# Install (only what is missing of) the Debian bookworm packages for the test OpenStack (Zed).
# Idempotent: returns in well under a second when everything is installed already.
set -euo pipefail

PKGS=(
  mariadb-server python3-pymysql rabbitmq-server
  keystone placement-api glance-api
  nova-api nova-conductor nova-scheduler
  neutron-server
  cinder-api cinder-scheduler cinder-volume
  python3-openstackclient
  uwsgi-core uwsgi-plugin-python3
  curl memcached
)
# NB: do NOT add nova-compute: it pulls in a hypervisor. The compute service is run from python3-nova.

if [[ $(id -u) -ne 0 ]]; then
  echo "install.sh: must run as root" >&2
  exit 1
fi

missing=()
for p in "${PKGS[@]}"; do
  if [[ $(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true) != installed ]]; then
    missing+=("$p")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install.sh: all ${#PKGS[@]} packages already installed"
  exit 0
fi

echo "install.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
APT_OPTS=(-y -q --no-install-recommends
          -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
start=$(date +%s)
apt-get update -q </dev/null
apt-get install "${APT_OPTS[@]}" "${missing[@]}" </dev/null
echo "install.sh: done in $(( $(date +%s) - start )) s"
