#!/usr/bin/env bash
# A local three-node Apache Kafka cluster (KRaft: every node a broker and one of three
# controller voters), from the same Maven Central jars as kafka.sh.
#   ops/kafka/cluster.sh up         fetch the jars once, format storage once, start the three
#                                   nodes, wait for a quorum and three brokers, print the bootstrap
#   ops/kafka/cluster.sh down       stop them
#   ops/kafka/cluster.sh status
#   ops/kafka/cluster.sh kill N     SIGKILL node N (1-3): a crash, for failover tests
#   ops/kafka/cluster.sh start N    start node N again on its storage; wait until it is back
#   ops/kafka/cluster.sh bootstrap  print the bootstrap string
# KAFKA_CLUSTER_PORT (default 9092): node N takes clients on KAFKA_CLUSTER_PORT+N-1;
# KAFKA_CLUSTER_CONTROLLER_PORT (default KAFKA_CLUSTER_PORT+100): its controller listener on
# that +N-1. KAFKA_FRESH=1 starts from empty storage (the tests' cluster). Each node's
# config, data, log and pid live in KAFKA_HOME/cluster-KAFKA_CLUSTER_PORT (var/kafka/...).
# Internal topics are replicated three times and acks=all writes need two in-sync replicas,
# so the cluster takes writes with any one node down.
set -euo pipefail
source "$(dirname "$0")/common.sh"
base="${KAFKA_CLUSTER_PORT:-9092}"
controller_base="${KAFKA_CLUSTER_CONTROLLER_PORT:-$((base + 100))}"
nodes=(1 2 3)
dir="$kafka_home/cluster-$base"
# Three JVMs on a laptop: less heap each than the single broker's default.
export KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms128m -Xmx512m}"

port() { echo $((base + $1 - 1)); }
controller_port() { echo $((controller_base + $1 - 1)); }
config() { echo "$dir/node-$1.properties"; }
data() { echo "$dir/data-$1"; }
logfile() { echo "$dir/node-$1.log"; }
pidfile() { echo "$dir/node-$1.pid"; }
bootstrap() {
  local n servers=()
  for n in "${nodes[@]}"; do servers+=("127.0.0.1:$(port "$n")"); done
  (IFS=,; echo "${servers[*]}")
}

write_config() {
  local n="$1" voters=() v
  for v in "${nodes[@]}"; do voters+=("$v@127.0.0.1:$(controller_port "$v")"); done
  cat > "$(config "$n")" <<PROPS
process.roles=broker,controller
node.id=$n
controller.quorum.voters=$(IFS=,; echo "${voters[*]}")
listeners=PLAINTEXT://127.0.0.1:$(port "$n"),CONTROLLER://127.0.0.1:$(controller_port "$n")
advertised.listeners=PLAINTEXT://127.0.0.1:$(port "$n")
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
default.replication.factor=3
min.insync.replicas=2
$(node_properties 3 2 "$(data "$n")")
PROPS
}

# wait_ready SECONDS: three brokers registered and a quorum leader elected.
wait_ready() {
  java_tool ClusterReady "$(bootstrap)" "${#nodes[@]}" "$1" 2>>"$dir/ready.log"
}

# require_free_ports N: node N is running, or nothing else listens on its ports.
require_free_ports() {
  local n="$1" p
  running "$(pidfile "$n")" && return
  for p in "$(port "$n")" "$(controller_port "$n")"; do
    if listening "$p"; then
      echo "port $p is taken (the single broker of \`make kafka-up\`? \`make kafka-down\`" \
        "stops it; or set KAFKA_CLUSTER_PORT)" >&2
      exit 1
    fi
  done
}

# start_node N: a node's JVM, unless it runs already.
start_node() {
  local n="$1"
  if running "$(pidfile "$n")"; then
    echo "node $n already running on 127.0.0.1:$(port "$n") (pid $(cat "$(pidfile "$n")"))"
    return
  fi
  require_free_ports "$n"
  start_server "$(config "$n")" "$(logfile "$n")" "$(pidfile "$n")"
}

await_listening() {
  local n="$1"
  for _ in $(seq 1 120); do
    listening "$(port "$n")" && return
    if ! running "$(pidfile "$n")"; then
      echo "node $n failed to start; see $(logfile "$n")" >&2
      tail -n 30 "$(logfile "$n")" >&2
      exit 1
    fi
    sleep 0.5
  done
  echo "node $n did not answer on 127.0.0.1:$(port "$n") within 60s; see $(logfile "$n")" >&2
  exit 1
}

formatted_cluster_id() {
  { cat "$dir"/data-*/meta.properties 2>/dev/null || true; } | sed -n 's/^cluster.id=//p' | head -n 1
}

up() {
  local started=$SECONDS n
  require_tools
  for n in "${nodes[@]}"; do require_free_ports "$n"; done
  fetch
  mkdir -p "$dir"
  if [ "${KAFKA_FRESH:-0}" = 1 ]; then
    for n in "${nodes[@]}"; do
      running "$(pidfile "$n")" || rm -rf "$(data "$n")"
    done
  fi
  local cluster_id=""
  for n in "${nodes[@]}"; do
    write_config "$n"
    if [ ! -f "$(data "$n")/meta.properties" ]; then
      # A node formatted alone would not join: one id for the whole cluster, from a
      # formatted node if there is one.
      cluster_id="${cluster_id:-$(formatted_cluster_id)}"
      cluster_id="${cluster_id:-$(new_cluster_id)}"
      format_storage "$cluster_id" "$(config "$n")" &
    fi
  done
  wait
  for n in "${nodes[@]}"; do start_node "$n"; done
  for n in "${nodes[@]}"; do await_listening "$n"; done
  if ! quorum="$(wait_ready 90)"; then
    echo "the cluster did not form within 90s: $(tail -n 1 "$dir/ready.log"); see $dir" >&2
    exit 1
  fi
  echo "kafka cluster is up in $((SECONDS - started))s ($quorum): $(bootstrap)"
}

node_arg() {
  case "${1:-}" in
    1|2|3) echo "$1" ;;
    *) echo "usage: $0 kill|start N (N is 1, 2 or 3)" >&2; exit 2 ;;
  esac
}

kill_node() {
  local n pidfile pid
  n="$(node_arg "${1:-}")"
  pidfile="$(pidfile "$n")"
  if ! running "$pidfile"; then echo "node $n is not running" >&2; exit 1; fi
  pid="$(cat "$pidfile")"
  kill -9 "$pid"
  while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  rm -f "$pidfile"
  echo "node $n killed (127.0.0.1:$(port "$n"))"
}

restart_node() {
  local started=$SECONDS n
  n="$(node_arg "${1:-}")"
  [ -f "$(data "$n")/meta.properties" ] || { echo "node $n has no storage: \`$0 up\`" >&2; exit 1; }
  start_node "$n"
  await_listening "$n"
  if ! quorum="$(wait_ready 90)"; then
    echo "node $n did not rejoin within 90s: $(tail -n 1 "$dir/ready.log")" >&2
    exit 1
  fi
  echo "node $n is back in $((SECONDS - started))s ($quorum)"
}

status() {
  local n down=0
  for n in "${nodes[@]}"; do
    if running "$(pidfile "$n")"; then
      echo "node $n running on 127.0.0.1:$(port "$n") (pid $(cat "$(pidfile "$n")"))"
    else
      echo "node $n stopped"
      down=1
    fi
  done
  return $down
}

pidfiles() {
  local n
  for n in "${nodes[@]}"; do pidfile "$n"; done
}

case "${1:-}" in
  up) up ;;
  down) mapfile -t all < <(pidfiles); stop "kafka cluster" "${all[@]}" ;;
  status) status ;;
  kill) kill_node "${2:-}" ;;
  start) restart_node "${2:-}" ;;
  bootstrap) bootstrap ;;
  *) echo "usage: $0 up|down|status|kill N|start N|bootstrap" >&2; exit 2 ;;
esac
