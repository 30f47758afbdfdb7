#!/usr/bin/env bash
# Starts the servers the store tests talk to: Redis and PostgreSQL on
# 127.0.0.1, on free ports, with their data in a temporary directory.
# Installs them from Debian's packages when missing. Source it:
#   source scripts/services.sh   # exports MAILHOOK_TEST_REDIS_URL, MAILHOOK_TEST_POSTGRES_URL,
#                                # and MAILHOOK_TEST_{REDIS,POSTGRES}_RESTART (scripts that
#                                # restart each server, for tests/store_restart.rs)
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

MAILHOOK_SERVICES_DIR=$(mktemp -d /tmp/mailhook-services.XXXXXX)
chmod 755 "$MAILHOOK_SERVICES_DIR"

# Redis: no persistence, loopback only.
REDIS_PORT=$(free_port)
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
  --dir "$MAILHOOK_SERVICES_DIR" --daemonize yes --pidfile "$MAILHOOK_SERVICES_DIR/redis.pid" \
  --logfile "$MAILHOOK_SERVICES_DIR/redis.log"
export MAILHOOK_TEST_REDIS_URL="redis://127.0.0.1:$REDIS_PORT/"

# A real restart for tests/store_restart.rs: shut down (saving the data, as
# a restarted production server keeps it), then start again on the port.
cat >"$MAILHOOK_SERVICES_DIR/restart-redis.sh" <<SCRIPT
#!/usr/bin/env bash
set -euo pipefail
redis-cli -p $REDIS_PORT shutdown save >/dev/null 2>&1 || true
for _ in \$(seq 100); do
  redis-cli -p $REDIS_PORT ping >/dev/null 2>&1 || break
  sleep 0.1
done
redis-server --port $REDIS_PORT --bind 127.0.0.1 --save '' --appendonly no \\
  --dir $MAILHOOK_SERVICES_DIR --daemonize yes --pidfile $MAILHOOK_SERVICES_DIR/redis.pid \\
  --logfile $MAILHOOK_SERVICES_DIR/redis.log
SCRIPT
chmod +x "$MAILHOOK_SERVICES_DIR/restart-redis.sh"
export MAILHOOK_TEST_REDIS_RESTART="$MAILHOOK_SERVICES_DIR/restart-redis.sh"

# PostgreSQL: a throwaway cluster with trust auth on loopback. initdb
# refuses to run as root, so as root it runs as the postgres user.
PG_BIN=$(pg_bin_dir)
PG_PORT=$(free_port)
PG_DIR="$MAILHOOK_SERVICES_DIR/postgres"
PG_DATA="$PG_DIR/data"
mkdir -p "$PG_DIR"
if [ "$(id -u)" = 0 ]; then
  id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
  chown postgres "$PG_DIR"
  PG_AS=(runuser -u postgres --)
else
  PG_AS=()
fi
"${PG_AS[@]}" "$PG_BIN/initdb" -D "$PG_DATA" -A trust -U postgres >/dev/null
"${PG_AS[@]}" "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_DIR/postgres.log" -w \
  -o "-c listen_addresses=127.0.0.1 -c port=$PG_PORT -c unix_socket_directories=$PG_DIR" start >/dev/null
export MAILHOOK_TEST_POSTGRES_URL="host=127.0.0.1 port=$PG_PORT user=postgres dbname=postgres"

# A real restart for tests/store_restart.rs (fast shutdown: open
# connections are cut, as in a failover).
cat >"$MAILHOOK_SERVICES_DIR/restart-postgres.sh" <<SCRIPT
#!/usr/bin/env bash
set -euo pipefail
${PG_AS[*]} $PG_BIN/pg_ctl -D $PG_DATA -l $PG_DIR/postgres.log -w -m fast \\
  -o "-c listen_addresses=127.0.0.1 -c port=$PG_PORT -c unix_socket_directories=$PG_DIR" restart >/dev/null
SCRIPT
chmod +x "$MAILHOOK_SERVICES_DIR/restart-postgres.sh"
export MAILHOOK_TEST_POSTGRES_RESTART="$MAILHOOK_SERVICES_DIR/restart-postgres.sh"

stop_services() {
  "${PG_AS[@]}" "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast stop >/dev/null 2>&1 || true
  [ -f "$MAILHOOK_SERVICES_DIR/redis.pid" ] && kill "$(cat "$MAILHOOK_SERVICES_DIR/redis.pid")" 2>/dev/null || true
  rm -rf "$MAILHOOK_SERVICES_DIR"
}

echo "==> redis on $MAILHOOK_TEST_REDIS_URL, postgres on 127.0.0.1:$PG_PORT"
