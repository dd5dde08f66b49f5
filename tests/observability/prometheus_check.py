#!/usr/bin/env python3
"""A real Prometheus scrapes real workers on a real broker: every PromQL
expression of the Grafana dashboard returns data, and the alert rules fire
when their fault is made.

Run by scripts/test-observability (which starts Kafka and installs
Prometheus); standard library only. The alert rules are loaded as they ship in
deploy/prometheus/alerts.yml except that every `for:` becomes 5s and subquery
steps become 5s, so alerts fire within a test's minutes instead of an
operator's (the thresholds and expressions are the shipped ones).

Three workers take part:
  healthy  - the normal path; 10% malformed records feed the dead-letter rules
  backlog  - one record at a time, fed records stamped an hour old: lag, lag in
             seconds and end-to-end latency are high
  orphan   - pointed at a broker that does not exist: not ready, Kafka errors
Then the healthy worker is killed: the worker-down alert fires.
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUN = os.path.join(ROOT, ".run", "observability")
WORKER = os.path.join(ROOT, "target", "release", "product-categorizer")
PRODUCER = os.path.join(ROOT, "target", "release", "sample-producer")
BROKERS = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")

# Alerts shown firing live; the others are covered by `promtool test rules`
# (deploy/prometheus/alerts_test.yml), named here so a new rule is not missed.
FIRE_LIVE = [
    "CategorizerDeadLetterRateHigh",
    "CategorizerNotReady",
    "CategorizerEndToEndLatencyHigh",
    "CategorizerConsumerLagTooOld",
    "CategorizerConsumerLagGrowing",
]
FIRE_AFTER_KILL = ["CategorizerWorkerDown"]
UNIT_TESTED_ONLY = {
    "CategorizerWorkersAbsent": "needs the job to have no target at all",
    "CategorizerKafkaErrors": "needs over 30 client errors in 5 minutes; librdkafka suppresses repeats of one connection error",
    "CategorizerModelReloadRefused": "needs a model file replaced by a broken one; tests/model_lifecycle.rs checks the gauge on a real worker",
    "CategorizerFlaggedRateHigh": "fires after 30 min of a flagged share above twice the model's baseline; its series "
                                  "(the needs_review label, the baseline gauge) are on the dashboard checked above",
}

processes = []


def log(message):
    print(f"observability: {message}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spawn(name, argv, env=None):
    out = open(os.path.join(RUN, f"{name}.log"), "w")
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "OTEL_"))}
    full_env.update(env or {})
    process = subprocess.Popen(argv, cwd=ROOT, env=full_env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    processes.append((name, process))
    return process


def stop_all():
    for name, process in reversed(processes):
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    for name, process in reversed(processes):
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def http_json(url):
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


def wait_until(what, check, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        result = check()
        if result:
            return result
        time.sleep(1)
    raise SystemExit(f"observability: FAILED: {what} within {timeout}s")


def start_worker(name, port, topics, extra):
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": BROKERS,
        "KAFKA_GROUP_ID": f"{topics}.group",
        "INPUT_TOPIC": f"{topics}.in",
        "OUTPUT_TOPIC": f"{topics}.out",
        "DLQ_TOPIC": f"{topics}.dlq",
        "CREATE_TOPICS": "true",
        "HTTP_ADDR": f"127.0.0.1:{port}",
        "ORT_DYLIB_PATH": os.environ["ORT_DYLIB_PATH"],
        "KAFKA_STATISTICS_INTERVAL_MS": "1000",
        "RUST_LOG": "info,ort=warn",
    }
    env.update(extra)
    return spawn(name, [WORKER], env)


def fast_rules(path):
    """The shipped rules with short `for:` and subquery steps."""
    text = open(os.path.join(ROOT, "deploy", "prometheus", "alerts.yml")).read()
    text = re.sub(r"(\bfor:\s*)\d+[smh]", r"\g<1>5s", text)
    text = re.sub(r"\[(\d+[smh]):\d+[smh]\]", r"[\1:5s]", text)
    with open(path, "w") as f:
        f.write(text)
    return re.findall(r"alert:\s*(\S+)", text)


def main():
    shutil.rmtree(RUN, ignore_errors=True)
    os.makedirs(RUN)
    run = f"obs-{os.getpid()}-{int(time.time())}"
    ports = {name: free_port() for name in ("healthy", "backlog", "orphan", "prometheus")}

    start_worker("healthy", ports["healthy"], f"{run}-a", {})
    start_worker("backlog", ports["backlog"], f"{run}-b", {"BATCH_SIZE": "1", "MAX_IN_FLIGHT": "1", "KAFKA_LINGER_MS": "50"})
    start_worker("orphan", ports["orphan"], f"{run}-c", {"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1", "CREATE_TOPICS": "false", "KAFKA_RECONNECT_BACKOFF_MAX_MS": "1000"})
    for name in ("healthy", "backlog"):
        wait_until(f"{name} worker ready", lambda: ready(ports[name]), 60)
    spawn("producer-healthy", [PRODUCER, "--bootstrap-servers", BROKERS, "--topic", f"{run}-a.in", "--rate", "40", "--bad-every", "10"])
    spawn("producer-backlog", [PRODUCER, "--bootstrap-servers", BROKERS, "--topic", f"{run}-b.in", "--rate", "100", "--bad-every", "0", "--age-secs", "3600"])

    rules = fast_rules(os.path.join(RUN, "alerts.yml"))
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "900ms", "evaluation_interval": "1s"},
        "rule_files": ["alerts.yml"],
        "scrape_configs": [{
            "job_name": "product-categorizer",
            "static_configs": [{"targets": [f"127.0.0.1:{ports[n]}" for n in ("healthy", "backlog", "orphan")]}],
        }],
    }
    with open(os.path.join(RUN, "prometheus.yml"), "w") as f:
        json.dump(config, f)  # JSON is YAML
    prometheus = f"http://127.0.0.1:{ports['prometheus']}"
    spawn("prometheus", ["prometheus", f"--config.file={RUN}/prometheus.yml", f"--storage.tsdb.path={RUN}/data",
                         f"--web.listen-address=127.0.0.1:{ports['prometheus']}"])
    wait_until("Prometheus up", lambda: ok(f"{prometheus}/-/ready"), 30)

    expressions = subprocess.run([os.path.join(ROOT, "scripts", "promql-exprs"), "--with-source"], check=True,
                                 capture_output=True, text=True).stdout.splitlines()
    dashboard = [line.split("\t", 1) for line in expressions if "/dashboards/" in line.split("\t", 1)[0]]
    log(f"{len(dashboard)} dashboard expressions; waiting until each returns data")

    def empty_panels():
        return [(where, expr) for where, expr in dashboard if not query(prometheus, expr)]
    deadline = time.time() + 120
    missing = empty_panels()
    while missing and time.time() < deadline:
        time.sleep(3)
        missing = empty_panels()
    for where, expr in missing:
        log(f"no data: {where}: {expr}")
    if missing:
        raise SystemExit(f"observability: FAILED: {len(missing)} dashboard expressions returned no data")
    log(f"all {len(dashboard)} dashboard expressions return data")

    untested = set(rules) - set(FIRE_LIVE) - set(FIRE_AFTER_KILL) - set(UNIT_TESTED_ONLY)
    if untested:
        raise SystemExit(f"observability: FAILED: alerts with no live check and no stated reason: {sorted(untested)}")
    for alert in FIRE_LIVE:
        wait_until(f"alert {alert} firing", lambda: firing(prometheus, alert), 150)
        log(f"alert {alert} fired")
    healthy = dict(processes)["healthy"]
    os.killpg(healthy.pid, signal.SIGKILL)
    for alert in FIRE_AFTER_KILL:
        wait_until(f"alert {alert} firing", lambda: firing(prometheus, alert), 60)
        log(f"alert {alert} fired after the worker was killed")
    for alert, why in UNIT_TESTED_ONLY.items():
        log(f"alert {alert}: promtool unit test only ({why})")
    print("observability: 1 passed, 0 failed")


def ok(url):
    try:
        urllib.request.urlopen(url, timeout=2).read()
        return True
    except OSError:
        return False


def ready(port):
    return ok(f"http://127.0.0.1:{port}/readyz")


def query(prometheus, expr):
    url = f"{prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    try:
        return http_json(url)["data"]["result"]
    except OSError:
        return []


def firing(prometheus, alert):
    alerts = http_json(f"{prometheus}/api/v1/alerts")["data"]["alerts"]
    return any(a["labels"].get("alertname") == alert and a["state"] == "firing" for a in alerts)


if __name__ == "__main__":
    try:
        main()
    finally:
        stop_all()
