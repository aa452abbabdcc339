#!/usr/bin/env bash
# Runs a real Apache Kafka 4.x broker (KRaft, combined broker+controller) on
# 127.0.0.1 without Docker: jars from Maven Central via mvn, the machine's JDK.
#
#   deployments/local/kafka.sh start|stop|kill|status
#
# kill is kill -9, for fault tests: start again reuses the data directory.
#
# KAFKA_PORT (9092; the controller listens on the next port), KAFKA_DATA (/tmp/clearway-kafka), CLEARWAY_CACHE
# (~/.cache/clearway: the jars, kept outside the repo), KAFKA_HEAP (512m).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
port=${KAFKA_PORT:-9092}
controller_port=${KAFKA_CONTROLLER_PORT:-$((port + 1))}
data=${KAFKA_DATA:-/tmp/clearway-kafka}
cache=${CLEARWAY_CACHE:-$HOME/.cache/clearway}
version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$here/kafka/pom.xml")
libs=$cache/kafka-$version/libs
pidfile=$data/kafka.pid

fetch_jars() {
  [ -f "$libs/kafka_2.13-$version.jar" ] && return
  echo "kafka.sh: fetching Kafka $version jars into $libs" >&2
  mkdir -p "$libs"
  mvn -q -B -f "$here/kafka/pom.xml" dependency:copy-dependencies \
    -DoutputDirectory="$libs" -DincludeScope=runtime >&2
}

write_config() {
  mkdir -p "$data/logs"
  cat >"$data/server.properties" <<CONF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller_port
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$data/logs
num.partitions=6
# One broker: internal topics cannot have more replicas than brokers.
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
# Consumers in tests join and leave often; do not wait 3 s before each rebalance.
group.initial.rebalance.delay.ms=0
CONF
  cat >"$data/log4j2.properties" <<CONF
rootLogger.level=WARN
rootLogger.appenderRef.file.ref=file
appender.file.type=File
appender.file.name=file
appender.file.fileName=$data/server.log
appender.file.layout.type=PatternLayout
appender.file.layout.pattern=[%d] %p %m (%c)%n
logger.kafka.name=kafka.server.KafkaRaftServer
logger.kafka.level=INFO
CONF
}

java_run() {
  java -Xms256m -Xmx"${KAFKA_HEAP:-512m}" -XX:+UseG1GC \
    -Dlog4j2.configurationFile="$data/log4j2.properties" \
    -cp "$libs/*" "$@"
}

running() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

answers() { (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; }

start() {
  if running; then echo "kafka.sh: already running (pid $(cat "$pidfile")) on 127.0.0.1:$port"; return; fi
  command -v java >/dev/null || { echo "kafka.sh: java not found; install a JDK 17+" >&2; exit 1; }
  fetch_jars
  write_config
  if [ ! -f "$data/logs/meta.properties" ]; then
    java_run kafka.tools.StorageTool format --cluster-id "$(java_run kafka.tools.StorageTool random-uuid)" \
      --config "$data/server.properties" --ignore-formatted >/dev/null
  fi
  : >"$data/server.log" # "Kafka Server started" must come from this run
  nohup java -Xms256m -Xmx"${KAFKA_HEAP:-512m}" -XX:+UseG1GC \
    -Dlog4j2.configurationFile="$data/log4j2.properties" \
    -cp "$libs/*" kafka.Kafka "$data/server.properties" >"$data/stdout.log" 2>&1 &
  echo $! >"$pidfile"
  for _ in $(seq 1 120); do
    if grep -q "Kafka Server started" "$data/server.log" 2>/dev/null && answers; then
      echo "kafka.sh: Apache Kafka $version up on 127.0.0.1:$port (data in $data)"
      return
    fi
    running || { echo "kafka.sh: broker exited; see $data/stdout.log and $data/server.log" >&2; tail -20 "$data/stdout.log" >&2; exit 1; }
    sleep 0.5
  done
  echo "kafka.sh: broker did not answer within 60 s; see $data/server.log" >&2
  exit 1
}

stop() {
  running || { echo "kafka.sh: not running"; return; }
  local pid; pid=$(cat "$pidfile")
  kill "$pid"
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$pidfile"
  echo "kafka.sh: stopped"
}

kill9() {
  running || { echo "kafka.sh: not running"; return; }
  kill -9 "$(cat "$pidfile")"
  rm -f "$pidfile"
  echo "kafka.sh: killed"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  kill) kill9 ;;
  status) if running; then echo "running (pid $(cat "$pidfile"))"; else echo "stopped"; exit 1; fi ;;
  *) echo "usage: $0 start|stop|kill|status" >&2; exit 2 ;;
esac
