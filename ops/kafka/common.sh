# What kafka.sh (one broker) and cluster.sh (three nodes) share; sourced, never run.
# Sets kafka_ops (this folder), kafka_home (KAFKA_HOME, default var/kafka) and kafka_lib.
kafka_ops="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
kafka_home="${KAFKA_HOME:-$(cd "$kafka_ops/../.." && pwd)/var/kafka}"
kafka_lib="$kafka_home/lib"

require_tools() {
  command -v java >/dev/null || { echo "java is required (JDK 17+)" >&2; exit 1; }
  command -v mvn >/dev/null || { echo "maven is required to fetch Kafka" >&2; exit 1; }
}

# The broker's jars from Maven Central, once (again when the pom changes); under a lock, as
# `make test` starts the broker and the cluster at the same time.
fetch() {
  mkdir -p "$kafka_home"
  local lock
  exec {lock}>"$kafka_home/.fetch.lock"
  flock "$lock"
  if [ ! -f "$kafka_lib/.complete" ] || [ "$kafka_ops/pom.xml" -nt "$kafka_lib/.complete" ]; then
    echo "fetching Apache Kafka from Maven Central into $kafka_lib"
    rm -rf "$kafka_lib"
    mvn -q -B -f "$kafka_ops/pom.xml" dependency:copy-dependencies \
      -DoutputDirectory="$kafka_lib" -DincludeScope=runtime
    touch "$kafka_lib/.complete"
  fi
  exec {lock}>&-
}

# java_tool CLASS ARGS...: a short-lived Kafka tool, or one of this folder's Java programs
# (compiled once into KAFKA_HOME/classes), in the foreground: a small heap and the JIT that
# starts quickest, since every second of a tool's start is a second of waiting.
java_tool() {
  local classes="$kafka_home/classes" source="$kafka_ops/$1.java"
  if [ -f "$source" ] && { [ ! -f "$classes/$1.class" ] || [ "$source" -nt "$classes/$1.class" ]; }; then
    local build
    build="$(mktemp -d)"
    javac -d "$build" -cp "$kafka_lib/*" "$source"
    mkdir -p "$classes"
    cp -f "$build"/*.class "$classes/"
    rm -rf "$build"
  fi
  java -Xms64m -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
    -Dlog4j2.configurationFile="$kafka_ops/log4j2.xml" -cp "$classes:$kafka_lib/*" "$@"
}

# start_server CONFIG LOGFILE PIDFILE: a broker (or controller) in the background.
start_server() {
  nohup java ${KAFKA_HEAP_OPTS:--Xms256m -Xmx1g} ${KAFKA_JVM_OPTS:--XX:+UseG1GC} \
    -Dlog4j2.configurationFile="$kafka_ops/log4j2.xml" -cp "$kafka_lib/*" kafka.Kafka "$1" \
    >"$2" 2>&1 &
  echo $! > "$3"
}

# running PIDFILE: the process it names is alive.
running() {
  [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}

# listening PORT: something accepts connections on 127.0.0.1:PORT.
listening() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# format_storage CLUSTER_ID CONFIG [FLAG...]: empty storage for one node, quietly.
format_storage() {
  local cluster_id="$1" config="$2"
  shift 2
  java_tool kafka.tools.StorageTool format -t "$cluster_id" -c "$config" "$@" >/dev/null
}

# What `StorageTool random-uuid` prints (16 random bytes, URL-safe base64, no leading dash),
# without starting a JVM for it.
new_cluster_id() {
  local id="-"
  while [ "${id:0:1}" = "-" ]; do
    id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
  done
  echo "$id"
}

# stop NAME PIDFILE...: SIGTERM to all at once (a node's controlled shutdown may need the
# others' quorum), then up to 30 s for each to end before SIGKILL.
stop() {
  local name="$1" pidfile pids=() waited=0
  shift
  for pidfile in "$@"; do
    if running "$pidfile"; then pids+=("$(cat "$pidfile")"); fi
  done
  if [ ${#pids[@]} = 0 ]; then echo "$name is not running"; rm -f "$@"; return; fi
  kill "${pids[@]}" 2>/dev/null || true
  while [ $waited -lt 60 ]; do
    local alive=0 pid
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && { rm -f "$@"; echo "$name stopped"; return; }
    sleep 0.5
    waited=$((waited + 1))
  done
  kill -9 "${pids[@]}" 2>/dev/null || true
  rm -f "$@"
  echo "$name killed after 30s"
}

# node_properties REPLICAS MIN_ISR LOG_DIR: what every node's server.properties ends with, its internal
# topics kept REPLICAS times and needing MIN_ISR replicas in sync.
node_properties() {
  cat <<PROPS
log.dirs=$3
num.partitions=${KAFKA_PARTITIONS:-6}
offsets.topic.replication.factor=$1
offsets.topic.num.partitions=${KAFKA_OFFSETS_PARTITIONS:-10}
transaction.state.log.replication.factor=$1
transaction.state.log.min.isr=$2
share.coordinator.state.topic.replication.factor=$1
share.coordinator.state.topic.min.isr=$2
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
log.retention.hours=${KAFKA_RETENTION_HOURS:-168}
PROPS
}
