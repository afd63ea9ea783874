#!/usr/bin/env bash
# A local three-node Apache Kafka cluster (KRaft: every node a broker and one of three
# controller voters), from the same Maven Central jars as kafka.sh.
#   ops/kafka/cluster.sh up         fetch the jars once, format storage once, start the three
#                                   nodes, wait for a quorum and three brokers, print the bootstrap
#   ops/kafka/cluster.sh down       stop them
#   ops/kafka/cluster.sh status
#   ops/kafka/cluster.sh kill N     SIGKILL node N (1-3): a crash, for failover tests
#   ops/kafka/cluster.sh start N    start node N again on its storage; wait until it is back
#   ops/kafka/cluster.sh bootstrap  print the bootstrap string (`bootstrap sasl`: the SASL one)
#   ops/kafka/cluster.sh acls PREFIX...  grant the service and the client their topics under
#                                   each topic prefix as well (FRAUD_TOPIC_PREFIX of another
#                                   environment sharing the cluster); idempotent
# KAFKA_CLUSTER_PORT (default 9092): node N takes PLAINTEXT clients on KAFKA_CLUSTER_PORT+N-1;
# KAFKA_CLUSTER_SASL_PORT (default KAFKA_CLUSTER_PORT+10): SASL_PLAINTEXT (SCRAM-SHA-512) ones
# on that +N-1; KAFKA_CLUSTER_CONTROLLER_PORT (default KAFKA_CLUSTER_PORT+100): its controller
# listener on that +N-1. KAFKA_FRESH=1 starts from empty storage (the tests' cluster). Each
# node's config, data, log and pid live in KAFKA_HOME/cluster-KAFKA_CLUSTER_PORT (var/kafka/...).
# Internal topics are replicated three times and acks=all writes need two in-sync replicas,
# so the cluster takes writes with any one node down.
# Access (ClusterAccess.java, on every `up`): the SASL listener knows two SCRAM-SHA-512
# principals, the service (KAFKA_SASL_USER / KAFKA_SASL_PASSWORD, default fraud / fraud-secret)
# and a client (KAFKA_CLIENT_USER / KAFKA_CLIENT_PASSWORD, default client / client-secret):
# test credentials, not secrets. The authorizer refuses what no ACL allows: the service may
# create, read and write the pipeline's topics and use any consumer group, the client may
# write `transactions` only, anyone else nothing; topic names under FRAUD_TOPIC_PREFIX (default
# none) as the service would name them. The PLAINTEXT listener is for local development only:
# whoever connects there (and the nodes among themselves) is User:ANONYMOUS, a super user that
# no ACL stops, so it listens on 127.0.0.1 and a deployment must never expose such a listener.
set -euo pipefail
source "$(dirname "$0")/common.sh"
base="${KAFKA_CLUSTER_PORT:-9092}"
sasl_base="${KAFKA_CLUSTER_SASL_PORT:-$((base + 10))}"
controller_base="${KAFKA_CLUSTER_CONTROLLER_PORT:-$((base + 100))}"
nodes=(1 2 3)
dir="$kafka_home/cluster-$base"
service_user="${KAFKA_SASL_USER:-fraud}"
client_user="${KAFKA_CLIENT_USER:-client}"
# Three JVMs on a laptop: less heap each than the single broker's default.
export KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms128m -Xmx512m}"

port() { echo $((base + $1 - 1)); }
sasl_port() { echo $((sasl_base + $1 - 1)); }
controller_port() { echo $((controller_base + $1 - 1)); }
config() { echo "$dir/node-$1.properties"; }
data() { echo "$dir/data-$1"; }
logfile() { echo "$dir/node-$1.log"; }
pidfile() { echo "$dir/node-$1.pid"; }
# bootstrap [sasl]: the nodes' PLAINTEXT listeners, or their SASL_PLAINTEXT ones.
bootstrap() {
  local n servers=() listener=port
  case "${1:-}" in
    "") ;;
    sasl) listener=sasl_port ;;
    *) echo "usage: $0 bootstrap [sasl]" >&2; exit 2 ;;
  esac
  for n in "${nodes[@]}"; do servers+=("127.0.0.1:$("$listener" "$n")"); done
  (IFS=,; echo "${servers[*]}")
}

write_config() {
  local n="$1" voters=() v
  local clients="PLAINTEXT://127.0.0.1:$(port "$n"),SASL_PLAINTEXT://127.0.0.1:$(sasl_port "$n")"
  for v in "${nodes[@]}"; do voters+=("$v@127.0.0.1:$(controller_port "$v")"); done
  cat > "$(config "$n")" <<PROPS
process.roles=broker,controller
node.id=$n
controller.quorum.voters=$(IFS=,; echo "${voters[*]}")
listeners=$clients,CONTROLLER://127.0.0.1:$(controller_port "$n")
advertised.listeners=$clients
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT
inter.broker.listener.name=PLAINTEXT
sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:ANONYMOUS
default.replication.factor=3
min.insync.replicas=2
$(node_properties 3 2 "$(data "$n")")
PROPS
}

# wait_ready SECONDS: three brokers registered and a quorum leader elected.
wait_ready() {
  java_tool ClusterReady "$(bootstrap)" "${#nodes[@]}" "$1" 2>>"$dir/ready.log"
}

# grant_access PREFIX...: the principals' credentials and ACLs (see the top).
grant_access() {
  local prefix
  for prefix in "$@"; do
    if [[ ! "$prefix" =~ ^[A-Za-z0-9._-]*$ ]]; then
      echo "topic prefix '$prefix': only letters, digits, '.', '_' and '-' make a topic name" >&2
      exit 2
    fi
  done
  KAFKA_SASL_USER="$service_user" KAFKA_SASL_PASSWORD="${KAFKA_SASL_PASSWORD:-fraud-secret}" \
    KAFKA_CLIENT_USER="$client_user" KAFKA_CLIENT_PASSWORD="${KAFKA_CLIENT_PASSWORD:-client-secret}" \
    java_tool ClusterAccess "$(bootstrap)" "$@" >>"$dir/access.log" 2>&1 ||
    { echo "could not set the cluster's users and ACLs: $(tail -n 1 "$dir/access.log")" >&2; exit 1; }
}

# require_free_ports N: node N is running, or nothing else listens on its ports.
require_free_ports() {
  local n="$1" p
  running "$(pidfile "$n")" && return
  for p in "$(port "$n")" "$(sasl_port "$n")" "$(controller_port "$n")"; do
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
    listening "$(port "$n")" && listening "$(sasl_port "$n")" && return
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
  grant_access "${FRAUD_TOPIC_PREFIX:-}"
  echo "kafka cluster is up in $((SECONDS - started))s ($quorum; SASL_PLAINTEXT SCRAM-SHA-512" \
    "on $(bootstrap sasl)): $(bootstrap)"
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
  bootstrap) bootstrap "${2:-}" ;;
  acls)
    shift
    [ $# -gt 0 ] || { echo "usage: $0 acls PREFIX... ('' for none)" >&2; exit 2; }
    [[ "$(status)" == *running* ]] || { echo "the cluster is not running: \`$0 up\`" >&2; exit 1; }
    grant_access "$@"
    echo "service $service_user and client $client_user granted their topics under:" \
      "$(printf "'%s' " "$@")" ;;
  *) echo "usage: $0 up|down|status|kill N|start N|bootstrap [sasl]|acls PREFIX..." >&2; exit 2 ;;
esac
