#!/usr/bin/env bash
# Install the Debian packages that the Ansible baseline manages (tests/ansible runs the real plays against
# this machine, and the plays only check these packages are present rather than install them over the
# network in the middle of a test). Nothing is started: the tests look at files, packages and accounts.
set -euo pipefail

packages=(chrony prometheus-node-exporter openssh-server rsyslog auditd libpam-pwquality sudo python3-apt)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
  echo "ensure-baseline-packages: installing ${missing[*]} from Debian's packages" >&2
  apt-get -o DPkg::Lock::Timeout=900 update -qq
  # policy-rc.d 101: the packages' scripts must not start daemons on a build or test machine
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d.cloudsvc
  chmod +x /usr/sbin/policy-rc.d.cloudsvc
  [ -e /usr/sbin/policy-rc.d ] || cp /usr/sbin/policy-rc.d.cloudsvc /usr/sbin/policy-rc.d
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if cmp -s /usr/sbin/policy-rc.d /usr/sbin/policy-rc.d.cloudsvc; then rm -f /usr/sbin/policy-rc.d; fi
  rm -f /usr/sbin/policy-rc.d.cloudsvc
fi
