#!/usr/bin/env bash
# Make sure Debian's prometheus (server and promtool) is installed, for the metrics tests and the rule
# checks. Installs the package when missing; the tests start their own Prometheus on a loopback port, so
# the packaged service is not needed (and is stopped if the install started it).
set -euo pipefail

if command -v prometheus >/dev/null && command -v promtool >/dev/null; then
  exit 0
fi
echo "ensure-prometheus: installing Prometheus from Debian's packages" >&2
# Other installs may hold the dpkg lock for a while: wait for it rather than fail.
apt-get -o DPkg::Lock::Timeout=600 update -qq
DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends prometheus >/dev/null
# The package's own service (port 9090) is not what the tests use.
if command -v service >/dev/null; then service prometheus stop >/dev/null 2>&1 || true; fi
command -v prometheus >/dev/null && command -v promtool >/dev/null
