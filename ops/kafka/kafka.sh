#!/usr/bin/env bash
# A local single-node Apache Kafka (KRaft, no ZooKeeper, no Docker), fetched from Maven Central.
#   ops/kafka/kafka.sh up     fetch the jars once, format storage once, start, wait until it answers
#   ops/kafka/kafka.sh down   stop it
#   ops/kafka/kafka.sh status
# KAFKA_HOME (default var/kafka) holds jars, data, logs and the pid; KAFKA_PORT (default 9092);
# KAFKA_FRESH=1 starts from empty storage (the tests' broker).
# KAFKA_SASL_PORT adds a SASL_PLAINTEXT listener on that port that takes SCRAM-SHA-512 for one
# user, KAFKA_SASL_USER / KAFKA_SASL_PASSWORD (default fraud / fraud-secret; no commas or
# brackets in either); the other listeners stay PLAINTEXT. Unset, it is what the last start on
# KAFKA_PORT had (none with KAFKA_FRESH=1), so that down then up gives back the same broker.
# It checks who logs in but authorizes nothing: ACLs are set and tried on the three-node
# cluster (cluster.sh).
set -euo pipefail
source "$(dirname "$0")/common.sh"
home="$kafka_home"
port="${KAFKA_PORT:-9092}"
controller_port="${KAFKA_CONTROLLER_PORT:-$((port + 1))}"
data="$home/data-$port"
pidfile="$home/kafka-$port.pid"
logfile="$home/kafka-$port.log"
config="$home/server-$port.properties"
previous_sasl_port() {
  if [ "${KAFKA_FRESH:-0}" != 1 ] && [ -f "$config" ]; then
    sed -n 's|^listeners=.*SASL_PLAINTEXT://127\.0\.0\.1:\([0-9]*\).*|\1|p' "$config"
  fi
}
sasl_port="${KAFKA_SASL_PORT-$(previous_sasl_port)}"
sasl_user="${KAFKA_SASL_USER:-fraud}"
sasl_password="${KAFKA_SASL_PASSWORD:-fraud-secret}"

write_config() {
  mkdir -p "$home"
  local listeners="PLAINTEXT://127.0.0.1:$port" protocols="CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"
  if [ -n "$sasl_port" ]; then
    listeners="$listeners,SASL_PLAINTEXT://127.0.0.1:$sasl_port"
    protocols="$protocols,SASL_PLAINTEXT:SASL_PLAINTEXT"
  fi
  cat > "$config" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$controller_port
listeners=$listeners,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=$listeners
controller.listener.names=CONTROLLER
listener.security.protocol.map=$protocols
inter.broker.listener.name=PLAINTEXT
$(node_properties 1 1 "$data")
PROPS
  if [ -n "$sasl_port" ]; then
    cat >> "$config" <<PROPS
sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
PROPS
  fi
}

answers() {
  listening "$port" && { [ -z "$sasl_port" ] || listening "$sasl_port"; }
}

# Storage formatted now gets the SCRAM user in its first metadata (no extra start-up cost);
# storage formatted earlier gets it once from the running broker, through the Admin API.
# The stamp (a digest, not the password) says which user and password the storage holds.
scram_stamp="$home/scram-$port.sha256"
scram_digest() { printf '%s:%s' "$sasl_user" "$sasl_password" | sha256sum | cut -d' ' -f1; }

add_scram_user() {
  KAFKA_SASL_USER="$sasl_user" KAFKA_SASL_PASSWORD="$sasl_password" \
    java_tool ScramUser "127.0.0.1:$port" >>"$logfile" 2>&1 ||
    { echo "could not add the SCRAM user $sasl_user; see $logfile" >&2; exit 1; }
  scram_digest > "$scram_stamp"
}

up() {
  if running "$pidfile"; then
    echo "kafka already running on 127.0.0.1:$port (pid $(cat "$pidfile"))"
    return
  fi
  require_tools
  fetch
  write_config
  if [ "${KAFKA_FRESH:-0}" = 1 ]; then rm -rf "$data"; fi
  if [ ! -f "$data/meta.properties" ]; then
    cluster_id="$(new_cluster_id)"
    local scram=()
    if [ -n "$sasl_port" ]; then
      scram=(--add-scram "SCRAM-SHA-512=[name=$sasl_user,password=$sasl_password]")
    fi
    format_storage "$cluster_id" "$config" --standalone "${scram[@]}"
    if [ -n "$sasl_port" ]; then scram_digest > "$scram_stamp"; fi
  fi
  local scram_user_missing=""
  if [ -n "$sasl_port" ] && [ "$(cat "$scram_stamp" 2>/dev/null)" != "$(scram_digest)" ]; then
    scram_user_missing=1
  fi
  start_server "$config" "$logfile" "$pidfile"
  for _ in $(seq 1 120); do
    if answers; then
      if [ -n "$scram_user_missing" ]; then add_scram_user; fi
      echo "kafka is up on 127.0.0.1:$port${sasl_port:+ (SASL_PLAINTEXT SCRAM-SHA-512 on $sasl_port)}"
      return
    fi
    if ! running "$pidfile"; then echo "kafka failed to start; see $logfile" >&2; tail -n 30 "$logfile" >&2; exit 1; fi
    sleep 0.5
  done
  echo "kafka did not answer on 127.0.0.1:$port within 60s; see $logfile" >&2
  exit 1
}

case "${1:-}" in
  up) up ;;
  down) stop kafka "$pidfile" ;;
  status) if running "$pidfile"; then echo "running (pid $(cat "$pidfile"))"; else echo "stopped"; exit 1; fi ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
