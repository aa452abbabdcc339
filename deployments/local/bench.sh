#!/usr/bin/env bash
# make bench: builds clearway and runs `clearway bench` on a real Kafka and
# Redis: the ones CLEARWAY_KAFKA_BROKERS and CLEARWAY_REDIS_ADDR name (its
# CLEARWAY_REDIS_DB must hold no declarations), or, when they are unset, a
# broker and a server of its own on 127.0.0.1:39092 and :36379, stopped
# and removed afterwards. The report (table and report.json), the
# processes' logs and their CPU profiles go to $CLEARWAY_ARTIFACTS/bench
# (artifacts/bench).
#
#   deployments/local/bench.sh [full|short] [clearway bench flags…]
set -euo pipefail
cd "$(dirname "$0")/../.."
mode=${1:-full}
shift || true
out=${CLEARWAY_ARTIFACTS:-$PWD/artifacts}/bench
rm -rf "$out"
mkdir -p "$out"
work=$(mktemp -d /tmp/clearway-bench.XXXX)
own=
cleanup() {
  if [ -n "$own" ]; then
    deployments/local/kafka.sh stop >/dev/null || true
    deployments/local/redis.sh stop >/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
if [ -z "${CLEARWAY_KAFKA_BROKERS:-}" ] || [ -z "${CLEARWAY_REDIS_ADDR:-}" ]; then
  own=1
  export REDIS_PORT=36379 REDIS_DATA=$work/redis KAFKA_PORT=39092 KAFKA_DATA=$work/kafka
  deployments/local/redis.sh start
  deployments/local/kafka.sh start
  export CLEARWAY_REDIS_ADDR=127.0.0.1:$REDIS_PORT CLEARWAY_KAFKA_BROKERS=127.0.0.1:$KAFKA_PORT CLEARWAY_REDIS_DB=0
fi
go build -o "$work/clearway" ./cmd/clearway
flags=()
[ "$mode" = short ] && flags+=(--short)
[ -n "$own" ] && flags+=(--kafka-pid "$(cat "$KAFKA_DATA/kafka.pid")")
echo "clearway bench ${flags[*]} $* (Kafka $CLEARWAY_KAFKA_BROKERS, Redis $CLEARWAY_REDIS_ADDR db ${CLEARWAY_REDIS_DB:-0})"
"$work/clearway" bench "${flags[@]}" --dir "$out" "$@" | tee "$out/report.txt"
