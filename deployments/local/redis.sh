#!/usr/bin/env bash
# Runs a real redis-server (Debian's package) on 127.0.0.1 with AOF on.
#
#   deployments/local/redis.sh start|stop|status
#
# REDIS_PORT (6379), REDIS_DATA (/tmp/clearway-redis).
set -euo pipefail

port=${REDIS_PORT:-6379}
data=${REDIS_DATA:-/tmp/clearway-redis}

start() {
  command -v redis-server >/dev/null || { echo "redis.sh: redis-server not found; apt-get install -y redis-server" >&2; exit 1; }
  if redis-cli -p "$port" ping >/dev/null 2>&1; then echo "redis.sh: already running on 127.0.0.1:$port"; return; fi
  mkdir -p "$data"
  # appendfsync everysec: at most one second of writes is lost on a power cut;
  # everything in Redis can be rebuilt from Kafka anyway.
  redis-server --bind 127.0.0.1 --port "$port" --dir "$data" --daemonize yes \
    --pidfile "$data/redis.pid" --logfile "$data/redis.log" \
    --appendonly yes --appendfsync everysec --save ""
  for _ in $(seq 1 50); do
    if redis-cli -p "$port" ping >/dev/null 2>&1; then echo "redis.sh: Redis up on 127.0.0.1:$port (data in $data)"; return; fi
    sleep 0.1
  done
  echo "redis.sh: redis did not answer; see $data/redis.log" >&2
  exit 1
}

stop() {
  redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
  echo "redis.sh: stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) redis-cli -p "$port" ping ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
