#!/usr/bin/env bash
# Runs a real redis-server (Debian's package) on 127.0.0.1 with AOF on.
#
#   deployments/local/redis.sh start|stop|kill|status
#
# kill is kill -9, for fault tests: start again replays the AOF.
#
# REDIS_PORT (6379), REDIS_DATA (/tmp/clearway-redis).
set -euo pipefail

port=${REDIS_PORT:-6379}
data=${REDIS_DATA:-/tmp/clearway-redis}

start() {
  command -v redis-server >/dev/null || { echo "redis.sh: redis-server not found; apt-get install -y redis-server" >&2; exit 1; }
  if redis-cli -p "$port" ping >/dev/null 2>&1; then echo "redis.sh: already running on 127.0.0.1:$port"; return; fi
  mkdir -p "$data"
  # appendfsync everysec: Redis write()s the AOF before it answers, so a
  # killed Redis process loses nothing acknowledged; a power cut may lose
  # the last second, which is rebuilt from Kafka.
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

kill9() {
  [ -f "$data/redis.pid" ] && kill -9 "$(cat "$data/redis.pid")" 2>/dev/null || true
  rm -f "$data/redis.pid"
  for _ in $(seq 1 50); do redis-cli -p "$port" ping >/dev/null 2>&1 || break; sleep 0.1; done
  echo "redis.sh: killed"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  kill) kill9 ;;
  status) redis-cli -p "$port" ping ;;
  *) echo "usage: $0 start|stop|kill|status" >&2; exit 2 ;;
esac
