# fraud: `make run` serves http://127.0.0.1:5000; `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# What the service needs (`make run`), then the development extras on top (test tools,
# linters: `make install`, which the test, check and lint targets use). The dashboard's
# Chart.js and Swagger UI are committed in the package (ops/web/vendor.sh refreshes them).
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
HOST ?= 127.0.0.1
PORT ?= 5000
MODEL_DIR ?= var/model
KAFKA_PORT ?= 9092
# A second listener takes SASL_PLAINTEXT with SCRAM-SHA-512 (the controller is on KAFKA_PORT+1;
# 9094 is the three-node cluster's third broker).
KAFKA_SASL_PORT ?= 9095
# The three-node cluster takes clients on KAFKA_CLUSTER_PORT and the next two ports, SASL_PLAINTEXT
# (SCRAM-SHA-512, with ACLs) 10 ports higher, its controllers 100 ports higher.
KAFKA_CLUSTER_PORT ?= 9092
# The tests get a broker and a cluster of their own, on other ports and from empty storage.
TEST_KAFKA_PORT ?= 19092
TEST_KAFKA_SASL_PORT ?= 19094
# A throwaway PostgreSQL (ops/postgres/postgres.sh); the tests get their own, from empty storage.
PG_PORT ?= 55432
TEST_PG_PORT ?= 55433
TEST_KAFKA_CLUSTER_PORT ?= 29092
# The local brokers' SCRAM users, the service's and (on the cluster) a client's: test
# credentials, not secrets.
KAFKA_SASL_USER ?= fraud
KAFKA_SASL_PASSWORD ?= fraud-secret
KAFKA_CLIENT_USER ?= client
KAFKA_CLIENT_PASSWORD ?= client-secret
export KAFKA_SASL_USER KAFKA_SASL_PASSWORD KAFKA_CLIENT_USER KAFKA_CLIENT_PASSWORD

.PHONY: install install-service system-deps run run-kafka kafka-up kafka-down kafka-cluster-up \
	kafka-cluster-down postgres-up postgres-down test unit lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $(STAMP)

$(DEV_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(DEV_STAMP)

install-service: $(STAMP)

install: $(DEV_STAMP)

# What the tests need from Debian: kcat (a Kafka client nobody here wrote), the headless
# Chromium the browser test drives and PostgreSQL's server (initdb is not on PATH: Debian keeps
# it under /usr/lib/postgresql/VERSION/bin). Java and Maven run the local broker. promtool (in
# Debian's prometheus package) checks and tests ops/prometheus's rules.
SYSTEM_PACKAGES := kcat:kcat chromium:chromium promtool:prometheus
system-deps:
	@command -v java >/dev/null && command -v mvn >/dev/null || \
	  { echo "Java 17+ and Maven are needed for the local Kafka broker" >&2; exit 1; }
	@missing=""; for entry in $(SYSTEM_PACKAGES); do \
	  command -v "$${entry%%:*}" >/dev/null || missing="$$missing $${entry#*:}"; done; \
	command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
	  missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "missing Debian packages:$$missing (apt-get install$$missing)" >&2; exit 1; fi; fi

run: install-service
	$(BIN)/fraud run --host $(HOST) --port $(PORT)

kafka-up:
	KAFKA_PORT=$(KAFKA_PORT) KAFKA_SASL_PORT=$(KAFKA_SASL_PORT) ops/kafka/kafka.sh up

kafka-down:
	KAFKA_PORT=$(KAFKA_PORT) ops/kafka/kafka.sh down

postgres-up:
	PG_PORT=$(PG_PORT) ops/postgres/postgres.sh up

postgres-down:
	PG_PORT=$(PG_PORT) ops/postgres/postgres.sh down

# Three brokers, each also a controller voter; the bootstrap string is the last line it prints.
kafka-cluster-up:
	KAFKA_CLUSTER_PORT=$(KAFKA_CLUSTER_PORT) ops/kafka/cluster.sh up

kafka-cluster-down:
	KAFKA_CLUSTER_PORT=$(KAFKA_CLUSTER_PORT) ops/kafka/cluster.sh down

# The production topology on one machine: broker, topics, a worker for every stage, the API.
run-kafka: install-service kafka-up
	export FRAUD_BROKER=kafka FRAUD_KAFKA_BOOTSTRAP=127.0.0.1:$(KAFKA_PORT) FRAUD_MODEL_DIR=$(MODEL_DIR); \
	$(BIN)/fraud topics create && \
	{ test -f $(MODEL_DIR)/model.json || $(BIN)/fraud train; } && \
	{ $(BIN)/fraud worker --stage all & worker=$$!; \
	  trap 'kill -TERM $$worker 2>/dev/null; wait $$worker' EXIT; \
	  $(BIN)/fraud serve --host $(HOST) --port $(PORT); }

# The tests' broker, cluster and PostgreSQL all stop whatever the result, a failed start included.
TEST_BROKER := KAFKA_PORT=$(TEST_KAFKA_PORT) ops/kafka/kafka.sh
TEST_CLUSTER := KAFKA_CLUSTER_PORT=$(TEST_KAFKA_CLUSTER_PORT) ops/kafka/cluster.sh
TEST_POSTGRES := PG_PORT=$(TEST_PG_PORT) ops/postgres/postgres.sh
test: install system-deps lint
	KAFKA_SASL_PORT=$(TEST_KAFKA_SASL_PORT) KAFKA_FRESH=1 $(TEST_BROKER) up && \
	  KAFKA_FRESH=1 $(TEST_CLUSTER) up && PG_FRESH=1 $(TEST_POSTGRES) up && \
	  FRAUD_TEST_KAFKA_BOOTSTRAP=127.0.0.1:$(TEST_KAFKA_PORT) \
	  FRAUD_TEST_KAFKA_SASL_BOOTSTRAP=127.0.0.1:$(TEST_KAFKA_SASL_PORT) \
	  FRAUD_TEST_KAFKA_CLUSTER_BOOTSTRAP=$$($(TEST_CLUSTER) bootstrap) \
	  FRAUD_TEST_KAFKA_CLUSTER_SASL_BOOTSTRAP=$$($(TEST_CLUSTER) bootstrap sasl) \
	  FRAUD_TEST_POSTGRES_URL="$$($(TEST_POSTGRES) url)" $(BIN)/python -m pytest; \
	  status=$$?; $(TEST_POSTGRES) down; $(TEST_CLUSTER) down; $(TEST_BROKER) down; exit $$status

# The Kafka pipeline benchmark (broker on KAFKA_PORT, a trained model in MODEL_DIR).
bench: install kafka-up
	FRAUD_BROKER=kafka FRAUD_KAFKA_BOOTSTRAP=127.0.0.1:$(KAFKA_PORT) $(BIN)/fraud bench --model-dir $(MODEL_DIR)

# The service's image, built with podman on a base made from Debian's packages (ops/image/);
# not part of `make test`. `make image SMOKE=1` also starts it and waits for /health.
IMAGE ?= localhost/fraud:latest
.PHONY: image
image:
	IMAGE=$(IMAGE) ops/image/build.sh $(if $(SMOKE),smoke)

unit: install
	$(BIN)/python -m pytest tests/unit

lint: install
	$(BIN)/ruff check src tests migrations benchmarks
	$(BIN)/ruff format --check src tests migrations benchmarks
	$(BIN)/mypy

clean:
	rm -rf $(VENV) var test-output .pytest_cache ops/web/node_modules
