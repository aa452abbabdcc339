#!/usr/bin/env bash
# Runs a real Redis Cluster of three masters (Debian's redis-server) on
# 127.0.0.1, for the cluster test and for trying CLEARWAY_REDIS_CLUSTER.
#
#   deployments/local/redis-cluster.sh start|stop|status
#
# REDIS_CLUSTER_PORTS ("7001 7002 7003"), REDIS_CLUSTER_DATA
# (/tmp/clearway-redis-cluster). Then:
#   CLEARWAY_REDIS_CLUSTER=true CLEARWAY_REDIS_ADDR=127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003
set -euo pipefail

read -r -a ports <<<"${REDIS_CLUSTER_PORTS:-7001 7002 7003}"
data=${REDIS_CLUSTER_DATA:-/tmp/clearway-redis-cluster}

start() {
  command -v redis-server >/dev/null || { echo "redis-cluster.sh: redis-server not found; apt-get install -y redis-server" >&2; exit 1; }
  if [ "$(redis-cli -p "${ports[0]}" cluster info 2>/dev/null | tr -d '\r' | grep cluster_state)" = "cluster_state:ok" ]; then
    echo "redis-cluster.sh: already running on ${ports[*]}"; return
  fi
  stop >/dev/null
  rm -rf "$data"
  local nodes=()
  for port in "${ports[@]}"; do
    mkdir -p "$data/$port"
    redis-server --bind 127.0.0.1 --port "$port" --dir "$data/$port" --daemonize yes \
      --pidfile "$data/$port/redis.pid" --logfile "$data/$port/redis.log" \
      --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 5000 \
      --appendonly yes --appendfsync everysec --save ""
    nodes+=("127.0.0.1:$port")
  done
  for port in "${ports[@]}"; do
    for _ in $(seq 1 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
  done
  # Each node also listens on its port + 10000 (the cluster bus): pick
  # ports whose bus ports are free too.
  if ! redis-cli --cluster create "${nodes[@]}" --cluster-replicas 0 --cluster-yes >"$data/create.log" 2>&1; then
    cat "$data/create.log" >&2
    tail -n 3 "$data"/*/redis.log >&2
    exit 1
  fi
  for _ in $(seq 1 100); do
    ok=1
    for port in "${ports[@]}"; do
      [ "$(redis-cli -p "$port" cluster info | tr -d '\r' | grep cluster_state)" = "cluster_state:ok" ] || ok=0
    done
    if [ $ok = 1 ]; then echo "redis-cluster.sh: cluster of ${#ports[@]} masters up on ${nodes[*]}"; return; fi
    sleep 0.1
  done
  echo "redis-cluster.sh: the cluster did not come up; see $data" >&2
  exit 1
}

stop() {
  for port in "${ports[@]}"; do redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true; done
  echo "redis-cluster.sh: stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) redis-cli -p "${ports[0]}" cluster info | head -1 ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
