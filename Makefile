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

.PHONY: install install-service bytecode system-deps run run-kafka kafka-up kafka-down kafka-cluster-up \
	kafka-cluster-down postgres-up postgres-down test check unit lint bench clean

# uv installs in a fraction of pip's time (a fresh clone: 79 s with pip, 17 s with uv), and
# constraints.txt pins every package to the versions the model's figures were measured with:
# left to itself, uv had picked TensorFlow 2.20 where pip had picked 2.21, and the default
# model trained differently. Refresh it with `uv pip compile pyproject.toml --extra dev
# --python-version 3.11 -o constraints.txt` (it keeps the pins it can).
#
# Both compile every module to bytecode as they install it (uv does not unless asked, as pip
# does), and `bytecode` compiles the project's own sources: where PYTHONDONTWRITEBYTECODE is
# set, as it is on CI machines, Python never writes the .pyc it makes, so each process would
# compile every module it imports again. Measured on a fresh clone: `fraud models list` took
# 2.76 s of CPU, 1.21 s with the bytecode there; every `fraud` process a test starts pays it.
UV := $(BIN)/python -m uv pip install --quiet --compile-bytecode --python $(BIN)/python \
	-c constraints.txt

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv
	$(UV) -e .
	touch $(STAMP)

$(DEV_STAMP): $(STAMP)
	$(UV) -e ".[dev]"
	touch $(DEV_STAMP)

install-service: $(STAMP) bytecode

install: $(DEV_STAMP) bytecode

# Compiles only what changed since it last ran (the .pyc files sit beside the sources, ignored).
bytecode:
	@$(BIN)/python -m compileall -q src migrations tests

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

# `make test` lints, and meanwhile starts at once the broker, cluster and PostgreSQL of the
# tests' own (other ports, empty storage) that the selected tests need; then runs every test
# in TEST_WORKERS pytest-xdist processes, and stops the services whatever the result
# (tests/run.py). Six processes on two cores: most tests wait on processes and brokers; with
# four, the run's own processes kept about one core busy on average. Once the costly
# per-worker set-ups were dealt to few workers (tests/tiers.py), each worker cost more than
# its overlap gave: a fresh-clone `time .ci/run` took 9 min 7 s with eight, 8 min 43 s
# with six (1,037 s and 1,005 s of CPU by process accounting).
# `make test TESTS="tests/kafka -k outage"` runs a selection: only the broker starts.
TEST_WORKERS ?= 6
TESTS ?=
test: install system-deps
	FRAUD_TEST_KAFKA_PORT=$(TEST_KAFKA_PORT) FRAUD_TEST_KAFKA_SASL_PORT=$(TEST_KAFKA_SASL_PORT) \
	  FRAUD_TEST_KAFKA_CLUSTER_PORT=$(TEST_KAFKA_CLUSTER_PORT) FRAUD_TEST_POSTGRES_PORT=$(TEST_PG_PORT) \
	  FRAUD_TEST_WORKERS=$(TEST_WORKERS) $(BIN)/python -m tests.run \
	  --first "$(MAKE) --no-print-directory lint" $(TESTS)

# The fast tier, for a quick check while working: no service, no `fraud` process, no
# browser, no TensorFlow (the markers: tests/tiers.py); the property test at 200 examples.
FAST := not (e2e or kafka or cluster or postgres or tensorflow or browser or slow)
CHECK_WORKERS ?= 2
check: install
	FRAUD_TEST_PROPERTY_EXAMPLES=200 $(BIN)/python -m pytest -q -n $(CHECK_WORKERS) -m "$(FAST)"

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

# ruff, mypy, and the guards that keep src from growing more complex or duplicated than
# their baselines (lint/ratchet.py: a new or grown finding fails, a fixed one leaves).
lint: install
	$(BIN)/ruff check src tests migrations benchmarks lint
	$(BIN)/ruff format --check src tests migrations benchmarks lint
	$(BIN)/mypy
	$(BIN)/python lint/ratchet.py

clean:
	rm -rf $(VENV) var test-output .pytest_cache ops/web/node_modules
