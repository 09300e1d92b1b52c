#!/usr/bin/env bash
# Stop every service of the test OpenStack: SIGTERM to each process group, SIGKILL after a timeout.
# Leaves configuration, databases and data in place (up.sh restarts quickly).
#   down.sh --wipe   also drops the ostc_* databases and the DB user, the RabbitMQ vhost/user and
#                    the state dir, so the next up.sh starts from scratch (packages stay installed).
#
# Environment: OS_TESTCLOUD_DIR (default /var/lib/cloudsvc-testcloud),
#              OS_TESTCLOUD_STOP_TIMEOUT seconds before SIGKILL (default 20)
set -euo pipefail

# shellcheck source=common.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/common.sh"

STOP_TIMEOUT=${OS_TESTCLOUD_STOP_TIMEOUT:-20}
WIPE=0
case ${1:-} in
  "") ;;
  --wipe) WIPE=1 ;;
  *) echo "usage: $0 [--wipe]" >&2; exit 2 ;;
esac

wipe() {
  local sql="" db h
  read -r -a mysql_cmd <<<"${OS_TESTCLOUD_MYSQL:-mysql -uroot}"
  for db in "${OS_TC_DBS[@]}"; do sql+="DROP DATABASE IF EXISTS \`$OS_TC_DB_PREFIX$db\`;"; done
  for h in localhost 127.0.0.1 %; do sql+="DROP USER IF EXISTS '$OS_TC_DB_USER'@'$h';"; done
  "${mysql_cmd[@]}" -e "$sql"
  rabbitmqctl -q delete_vhost "$OS_TC_RABBIT_VHOST" </dev/null >/dev/null 2>&1 || true
  rabbitmqctl -q delete_user "$OS_TC_RABBIT_USER" </dev/null >/dev/null 2>&1 || true
  rm -rf -- "$D"
  echo "down.sh: wiped databases ${OS_TC_DB_PREFIX}*, RabbitMQ vhost/user $OS_TC_RABBIT_VHOST and $D"
}

if [[ ! -d $D/run ]]; then
  echo "down.sh: nothing to stop ($D/run does not exist)"
  if (( WIPE )); then wipe; fi
  exit 0
fi

# Is process group $1 one of ours? (some member's command line mentions the state dir)
group_is_ours() {
  local p cmd
  for p in $(pgrep -g "$1" 2>/dev/null || true); do
    cmd=$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null || true)
    [[ $cmd == *"$D/"* ]] && return 0
  done
  return 1
}

declare -A PGIDS=()
for s in "${OS_TC_ALL[@]}"; do
  f=$D/run/$s.pid
  [[ -s $f ]] || continue
  pgid=$(<"$f")
  [[ $pgid =~ ^[0-9]+$ ]] || { rm -f "$f"; continue; }
  if group_is_ours "$pgid"; then
    PGIDS[$s]=$pgid
  else
    rm -f "$f"   # stale
  fi
done

if (( ${#PGIDS[@]} == 0 )); then
  echo "down.sh: no service running"
  rm -f "$D/run/config.hash"
  if (( WIPE )); then wipe; fi
  exit 0
fi

start=$(date +%s)
for s in "${!PGIDS[@]}"; do
  kill -TERM -- "-${PGIDS[$s]}" 2>/dev/null || true
done
echo "down.sh: sent SIGTERM to ${!PGIDS[*]}"

declare -A GONE=()
while :; do
  left=()
  for s in "${!PGIDS[@]}"; do
    if pgrep -g "${PGIDS[$s]}" >/dev/null 2>&1; then
      left+=("$s")
    elif [[ -z ${GONE[$s]:-} ]]; then
      GONE[$s]=$(( $(date +%s) - start ))
    fi
  done
  (( ${#left[@]} == 0 )) && break
  if (( $(date +%s) - start >= STOP_TIMEOUT )); then
    echo "down.sh: still running after ${STOP_TIMEOUT}s, sending SIGKILL to: ${left[*]}"
    for s in "${left[@]}"; do kill -KILL -- "-${PGIDS[$s]}" 2>/dev/null || true; done
    sleep 1
    break
  fi
  sleep 0.2
done

for s in "${!PGIDS[@]}"; do
  if pgrep -g "${PGIDS[$s]}" >/dev/null 2>&1; then
    echo "down.sh: WARNING: process group of $s (${PGIDS[$s]}) survived SIGKILL" >&2
  else
    rm -f "$D/run/$s.pid"
  fi
done
rm -f "$D/run/config.hash"
slow=""
for s in "${!GONE[@]}"; do (( GONE[$s] >= 3 )) && slow+=" $s(${GONE[$s]}s)"; done
echo "down.sh: stopped in $(( $(date +%s) - start )) s${slow:+; slowest:$slow}"
if (( WIPE )); then wipe; fi
