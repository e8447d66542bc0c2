#!/usr/bin/env bash
# The local stack: RabbitMQ, PostgreSQL and Azurite (Blob) as plain background processes, loopback only, with all
# their state (data, logs, pids, generated credentials, the npm-installed Azurite) under one state folder.
# Works without systemd (apt's policy-rc.d blocks services here), non-interactively (CI=true), as root or not.
# Follows the commands verified in shared/research/infra-probe.md sections 1-3.
#
#   scripts/stack.sh up                        install what is missing, start what is down, wait until ready, print status
#   scripts/stack.sh down                      stop everything gracefully (and the epmd this stack started)
#   scripts/stack.sh status                    one line per service; exit 0 when all are up
#   scripts/stack.sh start|stop|kill|restart rabbitmq|postgres|azurite
#                                              stop = graceful (TERM), kill = kill -9 (fault injection)
#   scripts/stack.sh env                       print the settings file path (for scripts)
#   scripts/stack.sh install                   only install what is missing (apt packages, Azurite); start nothing
#
# State folder: $BATCHVLM_STATE, default <repo>/.state. Ports (loopback): RabbitMQ AMQP 5679, management 15679,
# Erlang distribution 25679; PostgreSQL 5439; Azurite blob 10009. Credentials are generated once into
# <state>/credentials.env; `up` writes <state>/batchvlm.settings.json, which BatchVlmConfiguration reads.
# Notes: Azurite loses writes from the last seconds on kill -9 (its metadata DB autosaves); stop it with `stop`
# when durability matters. PostgreSQL runs with fsync=off/full_page_writes=off: safe against process crashes
# (kill -9), not against a machine crash — this is a dev/test stack.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="${BATCHVLM_STATE:-$root/.state}"
mkdir -p "$STATE"
STATE="$(cd "$STATE" && pwd)"
TOOLS="${BATCHVLM_TOOLS:-$STATE/tools}"

AMQP_PORT=5679 MGMT_PORT=15679 DIST_PORT=25679 PG_PORT=5439 AZ_PORT=10009
AZURITE_VERSION=3.35.0
AZ_ACCOUNT=devstoreaccount1
APT_PACKAGES=(rabbitmq-server postgresql libvips42 libturbojpeg0)

RMQ="$STATE/rabbitmq"; AZ="$STATE/azurite"
CREDS="$STATE/credentials.env"; SETTINGS="$STATE/batchvlm.settings.json"
RMQ_BIN=/usr/lib/rabbitmq/bin   # not /usr/sbin/rabbitmq-*: those wrappers cd and su (infra-probe §1)
AZ_MAIN="$TOOLS/npm/node_modules/azurite/dist/src/blob/main.js"

log() { printf 'stack: %s\n' "$*" >&2; }
die() { printf 'stack: error: %s\n' "$*" >&2; exit 1; }
is_root() { [[ $EUID -eq 0 ]]; }

# ---------------------------------------------------------------------------------------------------------------
# Process helpers. Pids are always checked against the expected command line before they are signalled, so a pid
# file left over from an earlier boot never makes us kill an unrelated process.

pid_from() { [[ -s "$1" ]] && head -n1 "$1" | tr -dc '0-9' || true; }

# alive PID PATTERN: the process exists, is not a zombie, and its command line contains PATTERN.
alive() {
  local pid="$1" pattern="$2" stat
  [[ -n "$pid" && -r "/proc/$pid/cmdline" ]] || return 1
  stat=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || true)
  [[ "$stat" != "Z" && -n "$stat" ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$pattern"
}

# gone PID SECONDS: wait until the pid has disappeared from /proc entirely. PID 1 here reaps orphans only after
# 1-2 s, and a zombie postmaster still blocks a restart (infra-probe §2).
wait_gone() {
  local pid="$1" deadline=$((SECONDS + ${2:-30}))
  [[ -n "$pid" ]] || return 0
  while [[ -e "/proc/$pid" ]]; do
    if [[ $SECONDS -ge $deadline ]]; then return 1; fi
    sleep 0.1
  done
}

tcp_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# port_free PORT WHAT: refuse to start when another process already listens there (its answers would be taken
# for ours, and ours would fail to bind).
port_free() {
  if tcp_open "$1"; then die "port $1 ($2) is already in use by a process this stack did not start; stop it or free the port"; fi
}

wait_until() {  # wait_until SECONDS WHAT COMMAND...
  local deadline=$((SECONDS + $1)) what="$2"; shift 2
  until "$@"; do
    [[ $SECONDS -lt $deadline ]] || return 1
    sleep 0.2
  done
}

# ---------------------------------------------------------------------------------------------------------------
# Installation (idempotent; fast when everything is present).

install_missing() {
  local missing=() p
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  command -v node >/dev/null || missing+=(nodejs)
  command -v npm >/dev/null || missing+=(npm)
  if [[ ${#missing[@]} -gt 0 ]]; then
    local sudo=()
    if ! is_root; then
      command -v sudo >/dev/null || die "missing packages ${missing[*]} and not root (no sudo) — install them first"
      sudo=(sudo -n)
    fi
    log "installing ${missing[*]} (apt, --no-install-recommends)"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
  fi
  if [[ ! -f "$AZ_MAIN" ]] || ! grep -q "\"version\": \"$AZURITE_VERSION\"" "$TOOLS/npm/node_modules/azurite/package.json"; then
    log "installing azurite@$AZURITE_VERSION into $TOOLS/npm (3.36+ needs node >= 21)"
    mkdir -p "$TOOLS/npm"
    [[ -f "$TOOLS/npm/package.json" ]] || echo '{"name":"batchvlm-stack-tools","private":true}' >"$TOOLS/npm/package.json"
    (cd "$TOOLS/npm" && npm install --prefix . --no-audit --no-fund --loglevel=error "azurite@$AZURITE_VERSION" >/dev/null)
  fi
}

# ---------------------------------------------------------------------------------------------------------------
# Credentials: generated once, kept in <state>/credentials.env (mode 600). Passwords are alphanumeric so they need no
# quoting in connection strings, SQL or rabbitmq.conf; the Azurite key is 64 random bytes, base64, like a real key.

random_alnum() { local s; s=$(head -c 96 /dev/urandom | base64 -w0 | tr -d '+/='); printf '%s' "${s:0:32}"; }

ensure_credentials() {
  if [[ ! -s "$CREDS" ]]; then
    # Existing server data accepts new credentials: rmq_users and pg_roles (re)set the passwords when they change.
    (
      umask 077
      {
        echo "RABBITMQ_PASSWORD=$(random_alnum)"
        echo "POSTGRES_PASSWORD=$(random_alnum)"
        echo "POSTGRES_SUPERUSER_PASSWORD=$(random_alnum)"
        echo "AZURITE_KEY=$(head -c 64 /dev/urandom | base64 -w0)"
      } >"$CREDS.tmp"
    )
    mv "$CREDS.tmp" "$CREDS"
    log "generated local credentials in $CREDS"
  fi
  # shellcheck disable=SC1090
  source "$CREDS"
}

write_settings() {
  local tmp="$SETTINGS.tmp"
  (
    umask 077
    cat >"$tmp" <<EOF
{
  "ConnectionStrings": {
    "Postgres": "Host=127.0.0.1;Port=$PG_PORT;Username=batchvlm;Password=$POSTGRES_PASSWORD;Database=batchvlm"
  },
  "RabbitMq": {
    "Host": "127.0.0.1",
    "Port": $AMQP_PORT,
    "ManagementPort": $MGMT_PORT,
    "VirtualHost": "/",
    "Username": "batchvlm",
    "Password": "$RABBITMQ_PASSWORD"
  },
  "Storage": {
    "ConnectionString": "DefaultEndpointsProtocol=http;AccountName=$AZ_ACCOUNT;AccountKey=$AZURITE_KEY;BlobEndpoint=http://127.0.0.1:$AZ_PORT/$AZ_ACCOUNT;"
  }
}
EOF
  )
  if ! cmp -s "$tmp" "$SETTINGS" 2>/dev/null; then mv "$tmp" "$SETTINGS"; else rm -f "$tmp"; fi
}

# ---------------------------------------------------------------------------------------------------------------
# RabbitMQ (infra-probe §1). Node rabbit@localhost, its own HOME (Erlang cookie), config, mnesia and logs.

rmq_env() {
  export HOME="$RMQ/home" RABBITMQ_CONF_ENV_FILE=/dev/null RABBITMQ_NODENAME="batchvlm@localhost"
  export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT=$AMQP_PORT RABBITMQ_DIST_PORT=$DIST_PORT
  export RABBITMQ_CONFIG_FILE="$RMQ/rabbitmq.conf" RABBITMQ_MNESIA_BASE="$RMQ/mnesia" RABBITMQ_LOG_BASE="$RMQ/log"
  export RABBITMQ_ENABLED_PLUGINS_FILE="$RMQ/enabled_plugins" RABBITMQ_PID_FILE="$RMQ/rabbit.pid"
  export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
  export ERL_EPMD_ADDRESS=127.0.0.1
}
rmqctl() { (rmq_env; "$RMQ_BIN/$1" -n batchvlm@localhost -q "${@:2}"); }
rmq_pid() { pid_from "$RMQ/rabbit.pid"; }
rmq_running() { alive "$(rmq_pid)" beam; }
rmq_ready() { rmq_running && tcp_open $AMQP_PORT; }

epmd_start() {
  # epmd outlives every node and is re-parented to PID 1 (infra-probe §1c). Start our own, in the foreground under
  # nohup, so its pid is known and `down` can stop it; reuse one that is already listening (then it is not ours).
  if tcp_open 4369; then return 0; fi
  local epmd; epmd=$(command -v epmd || ls /usr/lib/erlang/erts-*/bin/epmd 2>/dev/null | head -n1)
  [[ -n "$epmd" ]] || die "epmd not found (is erlang installed?)"
  (cd "$RMQ" && ERL_EPMD_ADDRESS=127.0.0.1 exec nohup "$epmd" -address 127.0.0.1) >"$RMQ/log/epmd.log" 2>&1 9>&- &
  echo $! >"$RMQ/epmd.pid"
  wait_until 10 epmd tcp_open 4369 || die "epmd did not start; see $RMQ/log/epmd.log"
}

rmq_start() {
  rmq_ready && return 0
  if rmq_running; then
    wait_until 90 "rabbitmq" tcp_open $AMQP_PORT || die "RabbitMQ (pid $(rmq_pid)) runs but AMQP $AMQP_PORT never opened; see $RMQ/log"
    return 0
  fi
  wait_gone "$(pid_from "$RMQ/rabbit.pid.last")" 10 || true
  mkdir -p "$RMQ/mnesia" "$RMQ/log" "$RMQ/home"
  epmd_start   # before any CLI call: the Erlang CLI would otherwise spawn an `epmd -daemon` we cannot track
  # A node of this name that answers ping without a pid file would be destroyed by a second boot (infra-probe §1b).
  if rmqctl rabbitmq-diagnostics ping >/dev/null 2>&1; then
    die "a RabbitMQ node batchvlm@localhost answers but is not the one in $RMQ/rabbit.pid; stop it first"
  fi
  port_free $AMQP_PORT "RabbitMQ AMQP"; port_free $MGMT_PORT "RabbitMQ management"; port_free $DIST_PORT "RabbitMQ distribution"
  cat >"$RMQ/rabbitmq.conf" <<EOF
listeners.tcp.default = 127.0.0.1:$AMQP_PORT
loopback_users.guest = true
log.console = false
log.file.level = info
management.tcp.ip = 127.0.0.1
management.tcp.port = $MGMT_PORT
EOF
  echo '[rabbitmq_management].' >"$RMQ/enabled_plugins"
  rm -f "$RMQ/rabbit.pid"
  (rmq_env; cd "$RMQ" && exec nohup "$RMQ_BIN/rabbitmq-server") >"$RMQ/log/stdout.log" 2>&1 9>&- &
  echo $! >"$RMQ/wrapper.pid"
  # `ping` answers ~2 s before the listeners: not readiness. Wait for the node, then await_startup, then the port.
  wait_until 60 "rabbitmq node" rmqctl rabbitmq-diagnostics ping >/dev/null 2>&1 \
    || die "RabbitMQ node did not come up within 60 s; see $RMQ/log/stdout.log and $RMQ/log"
  rmqctl rabbitmqctl await_startup --timeout 90 >/dev/null || die "RabbitMQ did not finish booting; see $RMQ/log"
  wait_until 30 "amqp port" tcp_open $AMQP_PORT || die "RabbitMQ booted but AMQP $AMQP_PORT is closed; see $RMQ/log"
  wait_until 10 "rabbit pid" rmq_running || die "RabbitMQ answers but its pid file $RMQ/rabbit.pid names no running node"
  rmq_users
}

rmq_users() {
  # The stack's own user with the generated password; `guest` is deleted (it was loopback-only anyway).
  local stamp; stamp=$(printf '%s' "$RABBITMQ_PASSWORD" | sha256sum | cut -c1-16)
  [[ "$(cat "$RMQ/.users-done" 2>/dev/null)" == "$stamp" ]] && return 0
  if rmqctl rabbitmqctl list_users 2>/dev/null | awk '{print $1}' | grep -qx batchvlm; then
    printf '%s' "$RABBITMQ_PASSWORD" | rmqctl rabbitmqctl change_password batchvlm >/dev/null
  else
    # Read from stdin so the password never shows in a process list.
    printf '%s' "$RABBITMQ_PASSWORD" | rmqctl rabbitmqctl add_user batchvlm >/dev/null
  fi
  rmqctl rabbitmqctl set_user_tags batchvlm administrator >/dev/null
  rmqctl rabbitmqctl set_permissions -p / batchvlm '.*' '.*' '.*' >/dev/null
  rmqctl rabbitmqctl delete_user guest >/dev/null 2>&1 || true
  echo "$stamp" >"$RMQ/.users-done"
}

rmq_stop() {  # rmq_stop TERM|KILL
  local pid wrapper; pid=$(rmq_pid); wrapper=$(pid_from "$RMQ/wrapper.pid")
  if alive "$pid" beam; then
    kill "-$1" "$pid" 2>/dev/null || true
    echo "$pid" >"$RMQ/rabbit.pid.last"
    wait_gone "$pid" 60 || die "RabbitMQ (pid $pid) did not exit"
  fi
  if alive "$wrapper" rabbitmq-server; then kill -TERM "$wrapper" 2>/dev/null || true; wait_gone "$wrapper" 10 || true; fi
  rm -f "$RMQ/rabbit.pid" "$RMQ/wrapper.pid"
}

epmd_stop() {
  local pid; pid=$(pid_from "$RMQ/epmd.pid")
  if alive "$pid" epmd; then kill -TERM "$pid" 2>/dev/null || true; wait_gone "$pid" 10 || true; fi
  rm -f "$RMQ/epmd.pid"
}

# ---------------------------------------------------------------------------------------------------------------
# PostgreSQL 15 (infra-probe §2). initdb and the server refuse to run as root: as root they run as `postgres`,
# which must be able to traverse the state folder; when it cannot (a checkout under /root), the cluster lives in
# /var/lib/batchvlm-stack/<hash of the state path>/postgres instead (printed by `status`).

PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)

pg_root_compute() {
  if is_root && id postgres >/dev/null 2>&1 && ! runuser -u postgres -- test -x "$STATE" 2>/dev/null; then
    echo "/var/lib/batchvlm-stack/$(printf '%s' "$STATE" | sha256sum | cut -c1-12)/postgres"
  else
    echo "$STATE/postgres"
  fi
}
PG_ROOT=""
pg_root() { [[ -n "$PG_ROOT" ]] || PG_ROOT=$(pg_root_compute); echo "$PG_ROOT"; }
as_pg() { if is_root; then runuser -u postgres -- "$@"; else "$@"; fi; }
pg_pid() { pid_from "$(pg_root)/data/postmaster.pid"; }
pg_running() { alive "$(pg_pid)" postgres; }
pg_ready() { pg_running && "$PGBIN/pg_isready" -q -h 127.0.0.1 -p $PG_PORT; }
pg_psql() { "$PGBIN/psql" -h "$(pg_root)/sock" -p $PG_PORT -U postgres -d postgres -v ON_ERROR_STOP=1 -qAtX "$@"; }

pg_start() {
  [[ -n "$PGBIN" ]] || die "PostgreSQL binaries not found under /usr/lib/postgresql"
  pg_ready && return 0
  local pg; pg=$(pg_root)
  wait_gone "$(pid_from "$pg/postmaster.pid.last")" 10 || true
  port_free $PG_PORT PostgreSQL
  mkdir -p "$pg/sock"
  if [[ ! -s "$pg/data/PG_VERSION" ]]; then
    rm -rf "$pg/data"
    local pw="$pg/.pwfile"
    (umask 077; printf '%s\n' "$POSTGRES_SUPERUSER_PASSWORD" >"$pw")
    if is_root; then chown -R postgres:postgres "$pg"; fi
    as_pg "$PGBIN/initdb" -D "$pg/data" -U postgres -E UTF8 --locale=C.UTF-8 --no-sync \
      --auth-local=trust --auth-host=scram-sha-256 --pwfile="$pw" >"$pg/initdb.log" 2>&1 \
      || { rm -f "$pw"; die "initdb failed; see $pg/initdb.log"; }
    rm -f "$pw" "$pg/.roles-done"
  fi
  if is_root; then chown postgres:postgres "$pg" "$pg/sock"; fi
  # The socket directory is private (0700): local trust only reaches the owner (and root).
  as_pg "$PGBIN/pg_ctl" -D "$pg/data" -l "$pg/postgres.log" -w -t 60 start -o "-p $PG_PORT -k $pg/sock \
    -c listen_addresses=127.0.0.1 -c unix_socket_permissions=0700 -c max_connections=200 \
    -c fsync=off -c full_page_writes=off" >/dev/null 9>&- \
    || die "PostgreSQL did not start; see $pg/postgres.log"
  wait_until 30 "postgres" "$PGBIN/pg_isready" -q -h 127.0.0.1 -p $PG_PORT || die "PostgreSQL is not accepting connections; see $pg/postgres.log"
  pg_roles
}

pg_roles() {
  # Role and database `batchvlm` (scram password over TCP); SQL goes through stdin so no password is in argv.
  local pg stamp; pg=$(pg_root); stamp=$(printf '%s' "$POSTGRES_PASSWORD" | sha256sum | cut -c1-16)
  [[ "$(cat "$pg/.roles-done" 2>/dev/null)" == "$stamp" ]] && return 0
  pg_psql <<EOF >/dev/null
SET password_encryption = 'scram-sha-256';
SELECT 'CREATE ROLE batchvlm LOGIN' WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'batchvlm') \gexec
ALTER ROLE batchvlm LOGIN PASSWORD '$POSTGRES_PASSWORD';
SELECT 'CREATE DATABASE batchvlm OWNER batchvlm' WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'batchvlm') \gexec
EOF
  echo "$stamp" >"$pg/.roles-done"
}

pg_stop() {  # pg_stop TERM|KILL
  local pg pid; pg=$(pg_root); pid=$(pg_pid)
  alive "$pid" postgres || return 0
  echo "$pid" >"$pg/postmaster.pid.last"
  if [[ "$1" == KILL ]]; then
    kill -KILL "$pid" 2>/dev/null || true
  else
    as_pg "$PGBIN/pg_ctl" -D "$pg/data" -m fast -w -t 60 stop >/dev/null 2>&1 || kill -TERM "$pid" 2>/dev/null || true
  fi
  wait_gone "$pid" 60 || die "PostgreSQL (pid $pid) did not exit"
}

# ---------------------------------------------------------------------------------------------------------------
# Azurite 3.35.0, blob service only (infra-probe §3). AZURITE_ACCOUNTS replaces the built-in account list, so the
# well-known public devstoreaccount1 key is rejected and only the generated key works.

az_pid() { pid_from "$AZ/azurite.pid"; }
az_running() { alive "$(az_pid)" "blob/main.js"; }
az_http_ok() (
  # Readiness = any HTTP answer (an unauthenticated list is 403), read over bash's /dev/tcp so curl is not needed.
  exec 3<>"/dev/tcp/127.0.0.1/$AZ_PORT" || exit 1
  printf 'GET /%s?comp=list HTTP/1.1\r\nHost: 127.0.0.1:%s\r\nConnection: close\r\n\r\n' "$AZ_ACCOUNT" "$AZ_PORT" >&3
  IFS= read -r -t 3 line <&3 || exit 1
  [[ "$line" == HTTP/1.1\ * ]]
) 2>/dev/null
az_ready() { az_running && az_http_ok; }

az_start() {
  az_ready && return 0
  if az_running; then wait_until 30 azurite az_http_ok || die "Azurite (pid $(az_pid)) does not answer; see $AZ/azurite.log"; return 0; fi
  wait_gone "$(pid_from "$AZ/azurite.pid.last")" 10 || true
  port_free $AZ_PORT Azurite
  mkdir -p "$AZ/data"
  (cd "$AZ" && AZURITE_ACCOUNTS="$AZ_ACCOUNT:$AZURITE_KEY" exec nohup node "$AZ_MAIN" --location "$AZ/data" \
      --blobHost 127.0.0.1 --blobPort $AZ_PORT --silent --skipApiVersionCheck --loose --disableTelemetry) \
      >"$AZ/azurite.log" 2>&1 9>&- &
  echo $! >"$AZ/azurite.pid"
  wait_until 30 azurite az_ready || die "Azurite did not answer on $AZ_PORT within 30 s; see $AZ/azurite.log"
}

az_stop() {  # az_stop TERM|KILL
  local pid; pid=$(az_pid)
  if alive "$pid" "blob/main.js"; then
    kill "-$1" "$pid" 2>/dev/null || true
    echo "$pid" >"$AZ/azurite.pid.last"
    wait_gone "$pid" 30 || die "Azurite (pid $pid) did not exit"
  fi
  rm -f "$AZ/azurite.pid"
}

# ---------------------------------------------------------------------------------------------------------------

service_line() {  # service_line NAME READY_FN PID ENDPOINT
  local state=down
  if "$2"; then state=up; fi
  printf '%-9s %-5s pid %-8s %s\n' "$1" "$state" "${3:--}" "$4"
}

status() {
  local all=0
  service_line rabbitmq rmq_ready "$(rmq_running && rmq_pid)" "amqp://127.0.0.1:$AMQP_PORT  management http://127.0.0.1:$MGMT_PORT  user batchvlm" || true
  service_line postgres pg_ready "$(pg_running && pg_pid)" "127.0.0.1:$PG_PORT  database batchvlm  data $(pg_root)/data" || true
  service_line azurite az_ready "$(az_running && az_pid)" "http://127.0.0.1:$AZ_PORT/$AZ_ACCOUNT  data $AZ/data" || true
  echo "settings  $SETTINGS"
  rmq_ready || all=1; pg_ready || all=1; az_ready || all=1
  return $all
}

start_service() {
  case "$1" in
    rabbitmq) rmq_start ;;
    postgres) pg_start ;;
    azurite) az_start ;;
    *) die "unknown service '$1' (rabbitmq, postgres or azurite)" ;;
  esac
}
stop_service() {  # stop_service NAME TERM|KILL
  case "$1" in
    rabbitmq) rmq_stop "$2" ;;
    postgres) pg_stop "$2" ;;
    azurite) az_stop "$2" ;;
    *) die "unknown service '$1' (rabbitmq, postgres or azurite)" ;;
  esac
}

with_lock() {
  # Several test processes may call `up` at once: one at a time.
  exec 9>"$STATE/stack.lock"
  flock -w 300 9 || die "another stack.sh holds $STATE/stack.lock"
  "$@"
}

cmd_up() {
  if [[ -s "$CREDS" ]] && rmq_ready && pg_ready && az_ready; then
    source "$CREDS"; write_settings; status; return 0
  fi
  install_missing
  ensure_credentials
  # RabbitMQ boots slowest (~5 s): start it in the background of this script while the others come up.
  rmq_start &
  local rmq_job=$!
  pg_start
  az_start
  wait "$rmq_job" || die "RabbitMQ failed to start"
  write_settings
  status
}

cmd_down() {
  az_stop TERM; pg_stop TERM; rmq_stop TERM; epmd_stop
  status || true
}

cmd_service() {  # cmd_service start|stop|kill|restart SERVICE
  case "$2" in rabbitmq|postgres|azurite) ;; *) die "unknown service '$2' (rabbitmq, postgres or azurite)" ;; esac
  case "$1" in
    start) install_missing; ensure_credentials; start_service "$2"; write_settings ;;
    stop) stop_service "$2" TERM ;;
    kill) stop_service "$2" KILL ;;
    restart) ensure_credentials; stop_service "$2" TERM; start_service "$2"; write_settings ;;
  esac
}

main() {
  local cmd="${1:-status}"
  case "$cmd" in
    up) with_lock cmd_up ;;
    down) with_lock cmd_down ;;
    status) status ;;
    env) echo "$SETTINGS" ;;
    install) install_missing ;;
    start|stop|kill|restart)
      [[ $# -eq 2 ]] || die "usage: stack.sh $cmd rabbitmq|postgres|azurite"
      with_lock cmd_service "$cmd" "$2"
      ;;
    -h|--help|help) sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' ;;
    *) die "unknown command '$cmd' (up, down, status, install, env, start|stop|kill|restart SERVICE)" ;;
  esac
}

main "$@"
