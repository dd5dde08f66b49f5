# The two commands: `make run` and `make test`. Everything they need is
# installed by the project's own scripts (see README).
SHELL := /bin/bash
.DEFAULT_GOAL := help

.PHONY: help run test build deps kafka-start kafka-stop train lint bench

help:
	@echo "make run    - local Kafka + worker + sample producer, prints categorized events (Ctrl-C stops)"
	@echo "make test   - every test: Rust, Python, integration against a real broker"
	@echo "make train  - retrain both models into model/"
	@echo "make lint   - cargo fmt --check and clippy"
	@echo "make bench  - throughput figures: model only (Rust and Python/scikit-learn) and end to end on local Kafka"

deps:
	scripts/setup-python

build:
	cargo build --release --bins

run: deps build
	scripts/run-demo

test:
	scripts/test-all

train: deps
	.venv/bin/python ml/train.py

lint:
	cargo fmt --all -- --check
	cargo clippy --release --all-targets -- -D warnings

kafka-start:
	scripts/local-kafka start

kafka-stop:
	scripts/local-kafka stop

bench: deps
	scripts/local-kafka start
	.venv/bin/python ml/bench_inference.py
	ORT_DYLIB_PATH=$$(scripts/ort-path) KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:$${KAFKA_PORT:-9092} cargo bench --bench throughput
