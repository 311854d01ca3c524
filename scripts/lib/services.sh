# Shell helpers that start throwaway PostgreSQL and Redis servers on loopback and free ports,
# for scripts/demo (the C++ tests use tests/support/services/ instead). Source it, then:
#   services_init DIR        # where data, sockets and logs go
#   start_postgres           # sets PG_PORT and PG_CONNINFO
#   start_redis              # sets REDIS_PORT
#   stop_services            # stops what was started (also on EXIT via the caller's trap)
# Only the processes started here are stopped, by their pid.

services_dir=""
service_pids=()
pg_data=""

services_init() {
  services_dir=$1
  mkdir -p "$services_dir"
  chmod 0777 "$services_dir"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Runs a command as the postgres user when we are root (initdb and postgres refuse root).
as_postgres() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start_postgres() {
  local bin
  bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  PG_PORT=$(free_port)
  pg_data="$services_dir/postgres"
  rm -rf "$pg_data"
  mkdir -p "$pg_data"
  [ "$(id -u)" = 0 ] && chown postgres "$pg_data"
  as_postgres "$bin/initdb" -D "$pg_data" -U postgres -A trust --no-sync >"$services_dir/initdb.log" 2>&1 \
    || { echo "initdb failed; see $services_dir/initdb.log" >&2; return 1; }
  as_postgres "$bin/postgres" -D "$pg_data" -p "$PG_PORT" -k "$pg_data" -c listen_addresses=127.0.0.1 \
    -c fsync=off -c synchronous_commit=off >"$services_dir/postgres.log" 2>&1 &
  service_pids+=($!)
  for _ in $(seq 1 100); do
    if "$bin/pg_isready" -h 127.0.0.1 -p "$PG_PORT" -q; then
      PG_CONNINFO="host=127.0.0.1 port=$PG_PORT user=postgres dbname=postgres"
      return 0
    fi
    sleep 0.1
  done
  echo "PostgreSQL did not start; see $services_dir/postgres.log" >&2
  return 1
}

start_redis() {
  REDIS_PORT=$(free_port)
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
    --dir "$services_dir" >"$services_dir/redis.log" 2>&1 &
  service_pids+=($!)
  for _ in $(seq 1 100); do
    redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "Redis did not start; see $services_dir/redis.log" >&2
  return 1
}

# Starts a program in the background and remembers its pid for stop_services.
start_background() { # LOGFILE COMMAND...
  local log=$1
  shift
  "$@" >"$log" 2>&1 &
  service_pids+=($!)
  last_pid=$!
}

stop_services() {
  local pid
  for ((i = ${#service_pids[@]} - 1; i >= 0; i--)); do
    pid=${service_pids[$i]}
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${service_pids[@]}"; do
    for _ in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
  done
  service_pids=()
}
