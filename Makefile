# The two commands: `make run` and `make test`. Both start with `make doctor`
# (scripts/doctor): what the project cannot install by itself is checked
# first and reported as a table with install commands; everything else is
# installed by the project's own scripts (see docs/getting-started.md).
SHELL := /bin/bash
.DEFAULT_GOAL := help

.PHONY: help doctor run test build deps kafka-start kafka-stop train lint bench chaos chaos-short cdc-demo

help:
	@echo "make doctor - checks the prerequisites the project cannot install itself (JDK, Maven, Python, Go, ports, disk)"
	@echo "make run    - local Kafka + worker + sample producer, prints categorized events (Ctrl-C stops)"
	@echo "make test   - every test: Rust, Python, integration against a real broker"
	@echo "make cdc-demo - PostgreSQL + Debezium (Kafka Connect) + worker: insert a row with psql, watch its category"
	@echo "              appear (Ctrl-C stops everything); see docs/integrations.md"
	@echo "make train  - retrain both models into model/; make train DATA=products.csv: a model on your own data"
	@echo "make lint   - cargo fmt --check and clippy"
	@echo "make bench  - throughput, latency and peak RSS on local Kafka: the worker beside a Python consumer and kcat"
	@echo "make chaos  - fault injection (~40 min): 20+ worker SIGKILLs and 2 broker crashes on a single node,"
	@echo "              then a broker lost and regained in a 3-node cluster, then the group scaled"
	@echo "              1->3->6->2->4 under load on the cluster, each at-least-once and exactly-once;"
	@echo "              tables of lost/duplicated/reordered events and pauses"
	@echo "make chaos-short - the ~7 min fault-injection and scale-out runs that make test does (both guarantees)"

deps:
	scripts/setup-python

build:
	scripts/install-build-deps
	cargo build --release --bins

doctor:
	@scripts/doctor

# The doctor runs in the recipe, not as a prerequisite, so that it comes
# first even under `make -j`.
run:
	@scripts/doctor run
	scripts/setup-python
	scripts/install-build-deps
	cargo build --release --bins
	scripts/run-demo

# PostgreSQL (apt, first time) and Debezium (Maven, first time) are fetched by the scripts.
cdc-demo:
	@scripts/doctor run
	scripts/setup-python
	scripts/install-build-deps
	cargo build --release --bins
	scripts/cdc-demo

test:
	@scripts/doctor test
	scripts/test-all

# make train                 : retrain the bundled models into model/
# make train DATA=file.csv   : a text model on your own labelled products, into model/custom/ (OUT=... to change)
train: deps
	.venv/bin/python ml/train.py $(if $(DATA),--data "$(DATA)" $(if $(OUT),--out "$(OUT)"))

lint:
	cargo fmt --all -- --check
	cargo clippy --release --all-targets -- -D warnings

kafka-start:
	scripts/local-kafka start

kafka-stop:
	scripts/local-kafka stop

# BENCH_ARGS=--short for a ~2 min run; see benches/throughput.rs for the others.
# The worker is measured as it ships (BENCH_WORKER_BIN): the one cargo builds
# for the bench has the dev-dependencies' features (serde_json's exact floats).
bench: deps
	scripts/install-kcat
	scripts/local-kafka start
	.venv/bin/python ml/bench_inference.py
	cargo build --release --bins
	mkdir -p target/release/shipped && cp target/release/product-categorizer target/release/shipped/
	ORT_DYLIB_PATH=$$(scripts/ort-path) KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:$${LOCAL_KAFKA_PORT:-$${KAFKA_PORT:-9092}} \
	BENCH_WORKER_BIN=target/release/shipped/product-categorizer \
		cargo bench --bench throughput -- $(BENCH_ARGS)

# Every run always runs and prints its table; the target fails if any does.
# Then each run's timeline is drawn into .run/chaos/<run>/timeline.png.
chaos: deps build
	@mkdir -p .run/chaos && touch .run/chaos/.started; rc=0; \
	scripts/chaos --duration 300 --kills 20 --terms 2 --broker-crashes 2 || rc=$$?; \
	scripts/chaos --cluster --duration 150 --kills 5 --terms 1 --broker-crashes 1 || rc=$$?; \
	scripts/chaos --exactly-once --duration 300 --kills 20 --terms 2 --broker-crashes 2 || rc=$$?; \
	scripts/chaos --exactly-once --cluster --duration 150 --kills 5 --terms 1 --broker-crashes 1 || rc=$$?; \
	scripts/scale-out || rc=$$?; \
	scripts/scale-out --exactly-once || rc=$$?; \
	$(PLOT_CHAOS); \
	exit $$rc

chaos-short: deps build
	@mkdir -p .run/chaos && touch .run/chaos/.started; rc=0; \
	scripts/chaos --short || rc=$$?; \
	scripts/chaos --short --exactly-once || rc=$$?; \
	scripts/scale-out --short || rc=$$?; \
	scripts/scale-out --short --exactly-once || rc=$$?; \
	$(PLOT_CHAOS); \
	exit $$rc

# The runs newer than the marker; a plot that fails does not fail the target.
PLOT_CHAOS = find .run/chaos -mindepth 1 -maxdepth 1 -type d -newer .run/chaos/.started -print0 \
	| xargs -0 -r scripts/plot-chaos || echo "(no chaos plots)"
