#!/usr/bin/env bash
# Starts the servers the store tests talk to: Redis and PostgreSQL on
# 127.0.0.1, on free ports, with their data in a temporary directory.
# Installs them from Debian's packages when missing. Source it:
#   source scripts/services.sh   # exports EMAIL_WEBHOOKS_TEST_REDIS_URL, EMAIL_WEBHOOKS_TEST_POSTGRES_URL,
#                                # and for the restart cases a second pair of servers:
#                                # EMAIL_WEBHOOKS_TEST_{REDIS,POSTGRES}_RESTART_URL, and
#                                # EMAIL_WEBHOOKS_TEST_{REDIS,POSTGRES}_RESTART (scripts that restart them)
# and call `stop_services` when done (scripts/test.sh does both).

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

pg_bin_dir() {
  local initdb
  initdb=$(ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1)
  [ -n "$initdb" ] || initdb=$(command -v initdb || true)
  [ -n "$initdb" ] && dirname "$initdb"
}

if ! command -v redis-server >/dev/null 2>&1 || [ -z "$(pg_bin_dir)" ]; then
  echo "==> installing redis-server and postgresql"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server postgresql >/dev/null
fi

EMAIL_WEBHOOKS_SERVICES_DIR=$(mktemp -d /tmp/email-webhooks-services.XXXXXX)
chmod 755 "$EMAIL_WEBHOOKS_SERVICES_DIR"

PG_BIN=$(pg_bin_dir)
if [ "$(id -u)" = 0 ]; then
  id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
  PG_AS=(runuser -u postgres --)
else
  PG_AS=()
fi

# start_redis NAME: Redis on a free loopback port, no persistence, data in
# $EMAIL_WEBHOOKS_SERVICES_DIR/NAME; prints the port. Also writes NAME/restart.sh,
# a real restart: shut down (saving the data, as a restarted production
# server keeps it), then start again on the same port.
start_redis() {
  local dir="$EMAIL_WEBHOOKS_SERVICES_DIR/$1" port
  port=$(free_port)
  mkdir -p "$dir"
  local start="redis-server --port $port --bind 127.0.0.1 --save '' --appendonly no --dir $dir --daemonize yes --pidfile $dir/redis.pid --logfile $dir/redis.log"
  eval "$start"
  cat >"$dir/restart.sh" <<SCRIPT
#!/usr/bin/env bash
set -euo pipefail
redis-cli -p $port shutdown save >/dev/null 2>&1 || true
for _ in \$(seq 100); do
  redis-cli -p $port ping >/dev/null 2>&1 || break
  sleep 0.1
done
$start
SCRIPT
  chmod +x "$dir/restart.sh"
  echo "$port"
}

# start_postgres NAME: a throwaway PostgreSQL cluster with trust auth on a
# free loopback port (initdb refuses to run as root, so as root it runs as
# the postgres user); prints the port. Also writes NAME/restart.sh (fast
# shutdown: open connections are cut, as in a failover).
start_postgres() {
  local dir="$EMAIL_WEBHOOKS_SERVICES_DIR/$1" port
  port=$(free_port)
  mkdir -p "$dir"
  [ "$(id -u)" = 0 ] && chown postgres "$dir"
  local options="-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir"
  "${PG_AS[@]}" "$PG_BIN/initdb" -D "$dir/data" -A trust -U postgres >/dev/null
  "${PG_AS[@]}" "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -o "$options" start >/dev/null
  cat >"$dir/restart.sh" <<SCRIPT
#!/usr/bin/env bash
set -euo pipefail
${PG_AS[*]} $PG_BIN/pg_ctl -D $dir/data -l $dir/postgres.log -w -m fast -o "$options" restart >/dev/null
SCRIPT
  chmod +x "$dir/restart.sh"
  echo "$port"
}

# The servers the contract tests share.
REDIS_PORT=$(start_redis redis)
PG_PORT=$(start_postgres postgres)
export EMAIL_WEBHOOKS_TEST_REDIS_URL="redis://127.0.0.1:$REDIS_PORT/"
export EMAIL_WEBHOOKS_TEST_POSTGRES_URL="host=127.0.0.1 port=$PG_PORT user=postgres dbname=postgres"

# A second pair that only the restart cases use (and restart), so the
# restarts never cut the other tests' connections.
REDIS_RESTART_PORT=$(start_redis redis-restart)
PG_RESTART_PORT=$(start_postgres postgres-restart)
export EMAIL_WEBHOOKS_TEST_REDIS_RESTART_URL="redis://127.0.0.1:$REDIS_RESTART_PORT/"
export EMAIL_WEBHOOKS_TEST_POSTGRES_RESTART_URL="host=127.0.0.1 port=$PG_RESTART_PORT user=postgres dbname=postgres"
export EMAIL_WEBHOOKS_TEST_REDIS_RESTART="$EMAIL_WEBHOOKS_SERVICES_DIR/redis-restart/restart.sh"
export EMAIL_WEBHOOKS_TEST_POSTGRES_RESTART="$EMAIL_WEBHOOKS_SERVICES_DIR/postgres-restart/restart.sh"

stop_services() {
  local name
  for name in postgres postgres-restart; do
    "${PG_AS[@]}" "$PG_BIN/pg_ctl" -D "$EMAIL_WEBHOOKS_SERVICES_DIR/$name/data" -m fast stop >/dev/null 2>&1 || true
  done
  for name in redis redis-restart; do
    [ -f "$EMAIL_WEBHOOKS_SERVICES_DIR/$name/redis.pid" ] &&
      kill "$(cat "$EMAIL_WEBHOOKS_SERVICES_DIR/$name/redis.pid")" 2>/dev/null || true
  done
  rm -rf "$EMAIL_WEBHOOKS_SERVICES_DIR"
}

echo "==> redis on $EMAIL_WEBHOOKS_TEST_REDIS_URL, postgres on 127.0.0.1:$PG_PORT" \
  "(and for the restart cases: redis on $REDIS_RESTART_PORT, postgres on $PG_RESTART_PORT)"
