"""Fault-injection harness for product-categorizer (run it as scripts/chaos).

Starts N workers on fresh topics, produces keyed product-created events with
a per-key sequence number at a steady rate, and meanwhile SIGKILLs (and
optionally SIGTERMs) workers and restarts them, and crashes brokers and
restarts them. At the end it waits for the workers to catch up, stops them,
reads the output and dead-letter topics back (read_committed) and counts
lost, duplicated and out-of-order events (see verify.py). Exit status: 0 when
nothing was lost and nothing reordered, 1 otherwise, 2 when the run itself
failed. Every phase is bounded in time, and every process it started is
stopped on exit, Ctrl-C or error.

Brokers: by default its own single node (scripts/local-kafka with
LOCAL_KAFKA_PORT=29092 and LOCAL_KAFKA_DIR=.run/kafka-chaos, so a broker on
9092 is left alone); with --cluster the 3-node cluster (scripts/local-kafka
cluster). Either is started when not running and then stopped at the end.
"""
from __future__ import annotations

import argparse
import atexit
import heapq
import json
import logging
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

import verify
from verify import DLQ, OUTPUT, event_id

ROOT = Path(__file__).resolve().parents[2]
LOCAL_KAFKA = str(ROOT / "scripts" / "local-kafka")
PARTITIONS = 6
log = logging.getLogger("chaos")

PRESETS = {
    # The everyday run: a few minutes, every kind of fault.
    "default": dict(duration=180, workers=2, kills=6, terms=1, broker_crashes=1, rate=2000, keys=500),
    # For `make test`: about a minute and a half.
    "short": dict(duration=45, workers=2, kills=4, terms=0, broker_crashes=1, rate=1000, keys=300),
}


# ------------------------------------------------------------------ output --
def say(message: str) -> None:
    """A line for the person running it (and the run log); never raises, so
    clean-up goes on when stdout is a closed pipe."""
    log.info(message)
    try:
        print(message, flush=True)
    except OSError:
        pass


class Clock:
    def __init__(self) -> None:
        self.t0 = time.monotonic()

    def now(self) -> float:
        return time.monotonic() - self.t0

    def stamp(self) -> str:
        return f"t+{self.now():6.1f}s"


def epoch_ms() -> int:
    return time.time_ns() // 1_000_000


# ----------------------------------------------------------------- brokers --
class Brokers:
    """The broker(s) under test, through scripts/local-kafka."""

    def __init__(self, cluster: bool, env: dict[str, str]):
        self.cluster = cluster
        self.env = env
        self.nodes = [1, 2, 3] if cluster else [1]
        self.started_here = False
        self.down: set[int] = set()

    def _local_kafka(self, *args: str, timeout: float = 240, check: bool = True) -> subprocess.CompletedProcess:
        command = [LOCAL_KAFKA, *(["cluster"] if self.cluster else []), *args]
        log.info("run %s", " ".join(command[1:]))
        # Its own session: a Ctrl-C meant for the harness must not cut it short.
        done = subprocess.run(command, env=self.env, capture_output=True, text=True, timeout=timeout,
                              start_new_session=True)
        for line in (done.stdout + done.stderr).splitlines():
            log.info("  %s", line)
        if check and done.returncode != 0:
            raise RuntimeError(f"local-kafka {' '.join(args)} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
        return done

    def describe(self) -> str:
        return f"{'3-node cluster' if self.cluster else 'single node'} {self.bootstrap()}"

    def bootstrap(self) -> str:
        return self._local_kafka("bootstrap").stdout.strip()

    def ensure_started(self) -> None:
        if self._local_kafka("status", check=False).returncode != 0:
            self.started_here = True
            self._local_kafka("start")

    def crash(self, node: int) -> None:
        self._local_kafka(*(["kill", str(node)] if self.cluster else ["crash"]))
        self.down.add(node)

    def restart(self, node: int) -> None:
        self._local_kafka(*(["restart", str(node)] if self.cluster else ["start"]))
        self.down.discard(node)

    def restore(self) -> None:
        """Restarts every node this harness crashed."""
        for node in sorted(self.down):
            self.restart(node)

    def close(self) -> None:
        if self.started_here:
            self._local_kafka("stop", timeout=120, check=False)
        else:
            self.restore()


def create_topics(bootstrap: str, names: list[str], replication: int, min_isr: int, logger) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap, "logger": logger})
    topics = [NewTopic(name, num_partitions=PARTITIONS, replication_factor=replication,
                       config={"min.insync.replicas": str(min_isr)}) for name in names]
    for name, future in admin.create_topics(topics, operation_timeout=30, request_timeout=30).items():
        future.result(timeout=60)
    # Wait until every partition has a leader.
    deadline = time.monotonic() + 60
    while True:
        metadata = admin.list_topics(timeout=10)
        ready = all(
            name in metadata.topics and len(metadata.topics[name].partitions) == PARTITIONS
            and all(p.leader >= 0 for p in metadata.topics[name].partitions.values())
            for name in names)
        if ready:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"topics {names} have no leader for every partition after 60s")
        time.sleep(0.5)


def drop_topics(bootstrap: str, names: list[str], logger) -> None:
    """Deletes a passed run's topics, so the brokers' data (and their start
    time) does not grow with every run; a failed run's are kept to look at."""
    admin = AdminClient({"bootstrap.servers": bootstrap, "logger": logger})
    for name, future in admin.delete_topics(names, operation_timeout=30, request_timeout=30).items():
        try:
            future.result(timeout=60)
        except Exception as error:  # the run's verdict stands; only disk is at stake
            say(f"could not delete topic {name}: {error}")


# ----------------------------------------------------------------- workers --
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Exit:
    worker: int
    at: float
    status: int  # negative: killed by that signal
    cause: str  # "SIGKILL" / "SIGTERM" when we sent it, else "own"
    last_log: str = ""

    @property
    def unexpected(self) -> bool:
        """Not our SIGKILL, and not a clean exit after our SIGTERM."""
        return not (self.cause == "SIGKILL" or (self.cause == "SIGTERM" and self.status == 0))


@dataclass
class Worker:
    index: int
    log_path: Path
    process: subprocess.Popen | None = None
    http_port: int = 0
    starts: int = 0
    sent: str = ""  # the signal we sent it, if any


class Workers:
    def __init__(self, count: int, binary: Path, env: dict[str, str], run_dir: Path, clock: Clock,
                 instance_id=lambda i: f"chaos-worker-{i}"):
        self.binary = binary
        self.instance_id = instance_id
        self.env = env
        self.clock = clock
        self.workers = [Worker(i, run_dir / f"worker-{i}.log") for i in range(1, count + 1)]
        self.exits: list[Exit] = []

    def start(self, i: int) -> None:
        w = self.workers[i - 1]
        w.http_port = free_port()
        w.starts += 1
        w.sent = ""
        env = dict(self.env, HTTP_ADDR=f"127.0.0.1:{w.http_port}", INSTANCE_ID=self.instance_id(i))
        with open(w.log_path, "a") as out:
            out.write(f"\n=== chaos: start #{w.starts} of worker {i} at {self.clock.stamp()} ===\n")
            out.flush()
            # Own session and process group: signals go to it alone, and a
            # terminal's Ctrl-C reaches only the harness.
            w.process = subprocess.Popen([str(self.binary)], env=env, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True, cwd=ROOT)
        log.info("%s started worker %d (pid %d, http %d)", self.clock.stamp(), i, w.process.pid, w.http_port)

    def running(self) -> list[int]:
        return [w.index for w in self.workers if w.process is not None and w.process.poll() is None]

    def signal(self, i: int, sig: signal.Signals) -> int:
        w = self.workers[i - 1]
        assert w.process is not None
        w.sent = sig.name
        try:
            os.killpg(w.process.pid, sig)
        except ProcessLookupError:
            pass
        return w.process.pid

    def reap(self) -> list[Exit]:
        """Exits since the last call; each worker that exited is marked down."""
        exits = []
        for w in self.workers:
            if w.process is None or w.process.poll() is None:
                continue
            status = w.process.returncode
            cause = w.sent if w.sent else "own"
            exit_ = Exit(w.index, self.clock.now(), status, cause, last_line(w.log_path) if cause != "SIGKILL" else "")
            w.process = None
            exits.append(exit_)
            self.exits.append(exit_)
        return exits

    def wait_ready(self, timeout: float, indices: list[int] | None = None) -> None:
        """Until each worker (or each of `indices`) answers /readyz."""
        deadline = time.monotonic() + timeout
        for w in self.workers if indices is None else [self.workers[i - 1] for i in indices]:
            while not http_ok(f"http://127.0.0.1:{w.http_port}/readyz"):
                if w.process is None or w.process.poll() is not None:
                    raise RuntimeError(f"worker {w.index} exited at start-up: {last_line(w.log_path)}")
                if time.monotonic() > deadline:
                    raise TimeoutError(f"worker {w.index} not ready after {timeout:.0f}s (log: {w.log_path})")
                time.sleep(0.25)

    def stop(self, timeout: float) -> None:
        """SIGTERM to every running worker; SIGKILL to those still running after `timeout`."""
        for i in self.running():
            self.signal(i, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while self.running() and time.monotonic() < deadline:
            time.sleep(0.2)
        for i in self.running():
            say(f"{self.clock.stamp()} worker {i} still running {timeout:.0f}s after SIGTERM: SIGKILL")
            w = self.workers[i - 1]
            os.killpg(w.process.pid, signal.SIGKILL)
            w.process.wait(10)
            w.sent = "SIGTERM, then SIGKILL"
        self.reap()

    def kill_all(self) -> None:
        """Clean-up: SIGKILL whatever still runs."""
        for w in self.workers:
            if w.process is not None and w.process.poll() is None:
                try:
                    os.killpg(w.process.pid, signal.SIGKILL)
                    w.process.wait(10)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    pass


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


def last_line(path: Path) -> str:
    try:
        lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return lines[-1][-300:] if lines else ""


# ---------------------------------------------------------------- producer --
PENDING, ACKED, FAILED, BAD = 0, 1, 2, 4


def products(count: int, seed: int) -> list[tuple[str, str, str]]:
    """Realistic ERP product texts from the training catalog generator."""
    sys.path.insert(0, str(ROOT / "ml"))
    import catalog

    per_category = -(-count // 3)
    made = catalog.generate_catalog(seed, {"train": 0, "val": 0, "test": per_category})["test"]
    return [(p.name, p.brand, p.description) for p in made]


def model_features_width(model: Path) -> int | None:
    """The width of a feature model's input; None for a text model."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    first = session.get_inputs()[0]
    return int(first.shape[1]) if first.name == "features" else None


class EventProducer(threading.Thread):
    """Produces keyed events at a steady rate, idempotent with acks=all and no
    delivery timeout, and records per key which seqs the broker acknowledged."""

    def __init__(self, bootstrap: str, topic: str, run: str, keys: int, rate: float, bad_fraction: float,
                 seed: int, features_width: int | None, logger):
        super().__init__(name="producer", daemon=True)
        self.bootstrap, self.topic, self.run_id, self.rate, self.logger = bootstrap, topic, run, rate, logger
        self.rng = random.Random(seed)
        self.bad_fraction = bad_fraction
        texts = products(keys, seed)
        self.catalog = [texts[k % len(texts)] for k in range(keys)]
        self.features = ([[round(self.rng.gauss(0, 1), 4) for _ in range(features_width)] for _ in range(keys)]
                         if features_width else None)
        self.status = [bytearray() for _ in range(keys)]  # per key, index seq-1
        self.stopping = threading.Event()
        self.window_ms = (0, 0)
        self.fatal_errors = 0
        self.error: BaseException | None = None
        self._fatal = threading.Event()

    def _client(self) -> Producer:
        return Producer({
            "bootstrap.servers": self.bootstrap,
            "client.id": "chaos-producer",
            "enable.idempotence": True,
            "acks": "all",
            "message.timeout.ms": 0,  # never give up: broker crashes must not turn into failed sends
            "queue.buffering.max.messages": 2_000_000,
            "linger.ms": 5,
            "compression.type": "lz4",
            "error_cb": self._on_error,
            "logger": self.logger,
        })

    def _on_error(self, error) -> None:
        log.info("producer error: %s", error)
        if error.fatal():
            self._fatal.set()

    def _value(self, key: int, seq: int, bad: bool) -> bytes:
        name, brand, description = self.catalog[key]
        event = {
            "event_id": event_id(self.run_id, key, seq),
            "product_id": product_key(key),
            # A number where a string belongs: dead-lettered as invalid_field.
            "name": 42 if bad else name,
            "brand": brand,
            "description": description,
            "occurred_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        if self.features is not None:
            event["features"] = self.features[key]
        return json.dumps(event, ensure_ascii=False).encode()

    def _delivered(self, key: int, seq: int):
        def report(error, _message) -> None:
            self.status[key][seq - 1] |= FAILED if error is not None else ACKED
        return report

    def run(self) -> None:
        try:
            self._produce()
        except BaseException as error:  # reported by the main thread
            self.error = error

    def _produce(self) -> None:
        producer = self._client()
        tick = 0.01
        budget = 0.0
        last = time.monotonic()
        self.window_ms = (epoch_ms(), 0)
        while not self.stopping.is_set():
            if self._fatal.is_set():
                # An idempotent producer's fatal error: what it still holds
                # fails (recorded as never produced), a new producer goes on.
                self.fatal_errors += 1
                self._fatal.clear()
                producer.purge()
                producer.flush(10)
                producer = self._client()
            now = time.monotonic()
            budget = min(budget + (now - last) * self.rate, self.rate)  # at most a second of catching up
            last = now
            while budget >= 1 and not self.stopping.is_set():
                key = self.rng.randrange(len(self.status))
                bad = self.rng.random() < self.bad_fraction
                self.status[key].append(PENDING | (BAD if bad else 0))
                seq = len(self.status[key])
                try:
                    producer.produce(self.topic, key=product_key(key).encode(), value=self._value(key, seq, bad),
                                     on_delivery=self._delivered(key, seq))
                    budget -= 1
                except BufferError:
                    self.status[key].pop()  # not handed over: never produced
                    producer.poll(0.05)
                    break
                except KafkaException as error:
                    self.status[key].pop()
                    if not error.args[0].fatal():
                        raise
                    self._fatal.set()  # replaced at the top of the loop
                    break
            producer.poll(0)
            time.sleep(max(0.0, tick - (time.monotonic() - now)))
        self.window_ms = (self.window_ms[0], epoch_ms())
        left = producer.flush(120)
        if left:
            log.info("producer: %d records unacknowledged after 120s; purged (never produced)", left)
            producer.purge()
            producer.flush(10)

    def stop(self, timeout: float) -> None:
        self.stopping.set()
        self.join(timeout)
        if self.is_alive():
            raise TimeoutError(f"the producer did not stop within {timeout:.0f}s")
        if self.error is not None:
            raise self.error

    def acked(self) -> dict[int, list[int]]:
        return {key: [i + 1 for i, s in enumerate(statuses) if s & ACKED] for key, statuses in enumerate(self.status)}

    def count(self, flag: int) -> int:
        return sum(1 for statuses in self.status for s in statuses if s & flag == flag)

    def count_bad_acked(self) -> int:
        return sum(1 for statuses in self.status for s in statuses if s & (ACKED | BAD) == ACKED | BAD)

    def count_never_produced(self) -> int:
        return sum(1 for statuses in self.status for s in statuses if not s & ACKED)


def product_key(key: int) -> str:
    return f"CHAOS-{key:05d}"


# ---------------------------------------------------------------- schedule --
@dataclass(order=True)
class Event:
    at: float
    order: int
    action: str = field(compare=False)  # kill, term, broker-crash, broker-restart
    target: int = field(compare=False, default=0)


class Faults:
    """Plans the faults over the run and carries them out on time. A worker
    that exits (ours or not) is restarted after a short random delay."""

    def __init__(self, args, workers: Workers, brokers: Brokers, clock: Clock, rng: random.Random):
        self.args, self.workers, self.brokers, self.clock, self.rng = args, workers, brokers, clock, rng
        self.queue: list[Event] = []
        self.order = 0
        self.restart_at: dict[int, float] = {}  # worker -> when to start it again
        self.broker_restarts: list[threading.Thread] = []
        self.broker_error: Exception | None = None
        self.done = {"kill": 0, "term": 0, "broker-crash": 0}

    def push(self, at: float, action: str, target: int = 0) -> None:
        self.order += 1
        heapq.heappush(self.queue, Event(at, self.order, action, target))

    def plan(self, start: float) -> None:
        """Faults between 5% and 85% of the run, each kind evenly spread, worker faults with jitter."""
        span_start, span = start + 0.05 * self.args.duration, 0.8 * self.args.duration
        for action, count in (("kill", self.args.kills), ("term", self.args.terms),
                              ("broker-crash", self.args.broker_crashes)):
            slot = span / max(count, 1)
            for i in range(count):
                jitter = self.rng.uniform(-0.3, 0.3) * slot if action != "broker-crash" else 0
                self.push(span_start + (i + 0.5) * slot + jitter, action)

    def run_until(self, end: float, producer: EventProducer) -> None:
        while self.clock.now() < end:
            self.handle_exits()
            while self.queue and self.queue[0].at <= self.clock.now():
                self.execute(heapq.heappop(self.queue))
            self.restart_due()
            if not producer.is_alive():
                raise RuntimeError(f"the producer stopped: {producer.error!r}")
            if self.broker_error is not None:
                raise self.broker_error
            time.sleep(0.1)

    def handle_exits(self) -> None:
        for e in self.workers.reap():
            if e.unexpected:
                why = "on its own" if e.cause == "own" else f"after our {e.cause}"
                say(f"{self.clock.stamp()} worker {e.worker} exited with status {e.status} {why}: {e.last_log}")
            self.restart_at.setdefault(e.worker, self.clock.now() + self.restart_delay())

    def restart_delay(self) -> float:
        return self.rng.uniform(0.5, self.args.restart_delay)

    def restart_due(self, all_now: bool = False) -> None:
        now = self.clock.now()
        for i, at in sorted(self.restart_at.items()):
            if at > now and not all_now:
                continue
            w = self.workers.workers[i - 1]
            if w.process is not None:  # a SIGTERM'd worker drains first
                if now - at > self.args.term_timeout and w.sent == "SIGTERM":
                    say(f"{self.clock.stamp()} worker {i} still running {self.args.term_timeout:.0f}s "
                        f"after SIGTERM: SIGKILL")
                    self.workers.signal(i, signal.SIGKILL)
                    w.sent = "SIGTERM, then SIGKILL"
                continue
            del self.restart_at[i]
            self.workers.start(i)
            say(f"{self.clock.stamp()} restarted worker {i}")

    def execute(self, event: Event) -> None:
        stamp = self.clock.stamp()
        if event.action in ("kill", "term"):
            running = [i for i in self.workers.running() if i not in self.restart_at]
            if not running:  # all down: this fault waits for one to be back
                self.push(self.clock.now() + 1.0, event.action)
                return
            target = self.rng.choice(running)
            sig = signal.SIGKILL if event.action == "kill" else signal.SIGTERM
            pid = self.workers.signal(target, sig)
            self.done[event.action] += 1
            delay = self.restart_delay()
            self.restart_at[target] = self.clock.now() + delay
            say(f"{stamp} {sig.name} worker {target} (pid {pid}); restart in {delay:.1f}s")
        elif event.action == "broker-crash":
            candidates = [n for n in self.brokers.nodes if n not in self.brokers.down]
            if not candidates:
                return
            node = self.rng.choice(candidates)
            self.brokers.crash(node)
            self.done["broker-crash"] += 1
            say(f"{stamp} kill -9 broker {node}; restart in {self.args.broker_down:.0f}s")
            self.push(self.clock.now() + self.args.broker_down, "broker-restart", node)
        elif event.action == "broker-restart":
            # In the background: worker faults go on while the broker starts.
            thread = threading.Thread(target=self.restart_broker, args=(event.target,), daemon=True)
            thread.start()
            self.broker_restarts.append(thread)

    def restart_broker(self, node: int) -> None:
        t = self.clock.now()
        try:
            self.brokers.restart(node)
        except Exception as error:  # raised by the main thread
            self.broker_error = error
            return
        say(f"{self.clock.stamp()} broker {node} back (its start took {self.clock.now() - t:.1f}s)")

    def finish(self) -> None:
        """Brings back, now, whatever is down; drops the faults not yet due."""
        for event in sorted(self.queue):
            if event.action == "broker-restart":
                self.execute(event)
        self.queue.clear()
        for thread in self.broker_restarts:
            thread.join(300)
        if self.broker_error is not None or any(t.is_alive() for t in self.broker_restarts):
            raise RuntimeError(f"a broker could not be restarted: {self.broker_error!r}")
        deadline = time.monotonic() + self.args.term_timeout + 15
        while True:
            self.handle_exits()
            self.restart_due(all_now=True)
            if not self.restart_at:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"workers {sorted(self.restart_at)} could not be restarted")
            time.sleep(0.2)


# --------------------------------------------------------------- catch-up --
def wait_caught_up(bootstrap: str, input_topic: str, outputs: list[str], group: str, timeout: float,
                   quiet: float, logger) -> tuple[str, float, int]:
    """Waits until the group's committed offsets reach the input's end
    offsets, or no new output came for `quiet` seconds, or `timeout`.
    Returns (why it stopped waiting, seconds waited, input lag left)."""
    admin = AdminClient({"bootstrap.servers": bootstrap, "logger": logger})
    probe = Consumer({"bootstrap.servers": bootstrap, "group.id": f"chaos-probe-{uuid.uuid4()}",
                      "enable.auto.commit": False, "logger": logger})
    started = time.monotonic()
    last_outputs, last_change = -1, started
    try:
        while True:
            try:
                lag, produced = lag_and_outputs(admin, probe, input_topic, outputs, group)
            except (KafkaException, TimeoutError) as error:  # a broker still settling: ask again
                log.info("catch-up probe failed: %r", error)
                lag, produced = -1, last_outputs
            now = time.monotonic()
            if lag == 0:
                return "committed offsets == end offsets", now - started, 0
            if produced != last_outputs:
                last_outputs, last_change = produced, now
            if now - last_change >= quiet:
                return f"no new output for {quiet:.0f}s", now - started, lag
            if now - started >= timeout:
                return f"timed out after {timeout:.0f}s", now - started, lag
            time.sleep(1)
    finally:
        probe.close()


def lag_and_outputs(admin: AdminClient, probe: Consumer, input_topic: str, outputs: list[str],
                    group: str) -> tuple[int, int]:
    """The group's lag on the input (end offsets minus committed offsets),
    and how many records the output topics hold."""
    def end(topic: str, partition: int) -> int:
        return probe.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)[1]

    request = ConsumerGroupTopicPartitions(group, [TopicPartition(input_topic, p) for p in range(PARTITIONS)])
    listed = admin.list_consumer_group_offsets([request])[group].result(timeout=10)
    committed = {tp.partition: max(tp.offset, 0) for tp in listed.topic_partitions}
    lag = sum(max(0, end(input_topic, p) - committed.get(p, 0)) for p in range(PARTITIONS))
    return lag, sum(end(t, p) for t in outputs for p in range(PARTITIONS))


class LagSampler(threading.Thread):
    """The group's lag on the input every `every` seconds, as `t+ ... lag N`
    lines in the harness log, for scripts/plot-chaos's lag panel."""

    def __init__(self, bootstrap: str, input_topic: str, group: str, clock: Clock, logger, every: float = 2.0):
        super().__init__(name="lag-sampler", daemon=True)
        self.bootstrap, self.input_topic, self.group, self.clock, self.logger = bootstrap, input_topic, group, clock, logger
        self.every = every
        self.stopping = threading.Event()

    def run(self) -> None:
        # A consumer of the workers' group that never subscribes (so never
        # joins it) reads its committed offsets: no admin client, whose
        # requests timing out across a broker crash tripped an assertion in
        # librdkafka (rd_kafka_enq_once_del_source_return) and aborted the harness.
        probe = Consumer({"bootstrap.servers": self.bootstrap, "group.id": self.group,
                          "enable.auto.commit": False, "logger": self.logger})
        partitions = [TopicPartition(self.input_topic, p) for p in range(PARTITIONS)]
        try:
            while not self.stopping.wait(self.every):
                try:
                    committed = probe.committed(partitions, timeout=5)
                    lag = sum(max(0, probe.get_watermark_offsets(tp, timeout=5)[1] - max(c.offset, 0))
                              for tp, c in zip(partitions, committed))
                except KafkaException as error:  # a broker down: no sample this time
                    log.info("lag sample failed: %s", error)
                    continue
                log.info("%s lag %d", self.clock.stamp(), lag)
        finally:
            probe.close()

    def stop(self) -> None:
        self.stopping.set()
        self.join(30)


# ------------------------------------------------------------------ report --
def table(rows: list[tuple[str, object]]) -> str:
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"  {name:<{width}}  {value}" for name, value in rows)


def examples(items) -> str:
    return "" if not items else "  e.g. " + ", ".join(str(i) for i in items)


# -------------------------------------------------------------------- run --
@dataclass
class Topics:
    input: str
    output: str
    dlq: str


def read_results(bootstrap: str, topics: Topics, run: str, logger) -> tuple[list[verify.Seen], int]:
    """Everything in the output and dead-letter topics (read_committed), and
    how many records there are not events of this run."""
    records, unrecognized = [], 0
    for topic, kind in ((topics.output, OUTPUT), (topics.dlq, DLQ)):
        seen, unknown = verify.read_topic(bootstrap, topic, kind, run, 180, logger)
        records += seen
        unrecognized += unknown
    return records, unrecognized


def run(args, run_dir: Path, clock: Clock, cleanups: list) -> int:
    kafka_logger = logging.getLogger("librdkafka")
    brokers = Brokers(args.cluster, kafka_env(args))
    cleanups.append(brokers.close)
    say(f"chaos {args.run}: starting {'the 3-node cluster' if args.cluster else 'the broker'} if needed")
    brokers.ensure_started()
    bootstrap = brokers.bootstrap()
    replication, min_isr = (3, 2) if args.cluster else (1, 1)
    topics = Topics(f"chaos-{args.run}-in", f"chaos-{args.run}-out", f"chaos-{args.run}-dlq")
    group = f"chaos-{args.run}"
    create_topics(bootstrap, [topics.input, topics.output, topics.dlq], replication, min_isr, kafka_logger)
    say(f"{clock.stamp()} topics {topics.input} / {topics.output} / {topics.dlq} "
        f"({PARTITIONS} partitions, replication {replication}, min.insync.replicas {min_isr}); group {group}")

    if args.self_test:
        code = self_test(bootstrap, topics, args.run, kafka_logger)
        if code == 0:
            drop_topics(bootstrap, [topics.input, topics.output, topics.dlq], kafka_logger)
        return code

    workers = Workers(args.workers, args.binary, worker_env(args, bootstrap, topics, group), run_dir, clock)
    cleanups.append(workers.kill_all)
    for i in range(1, args.workers + 1):
        workers.start(i)
    workers.wait_ready(60)
    say(f"{clock.stamp()} {args.workers} workers ready; logs in {run_dir.relative_to(ROOT)}/")

    producer = EventProducer(bootstrap, topics.input, args.run, args.keys, args.rate, args.bad_fraction, args.seed,
                             model_features_width(args.model), kafka_logger)
    cleanups.append(producer.stopping.set)
    faults = Faults(args, workers, brokers, clock, random.Random(args.seed))
    sampler = LagSampler(bootstrap, topics.input, group, clock, kafka_logger)
    cleanups.append(sampler.stopping.set)
    producer.start()
    sampler.start()
    start = clock.now()
    faults.plan(start)
    say(f"{clock.stamp()} producing {args.rate:.0f}/s over {args.keys} keys for {args.duration:.0f}s, "
        f"{args.kills} kills, {args.terms} SIGTERMs, {args.broker_crashes} broker crashes")
    faults.run_until(start + args.duration, producer)

    say(f"{clock.stamp()} stopping the producer; restoring what is still down")
    faults.finish()
    producer.stop(180)
    say(f"{clock.stamp()} produced {producer.count(ACKED)} acknowledged; waiting for the workers to catch up")
    caught_up, waited, lag = wait_caught_up(bootstrap, topics.input, [topics.output, topics.dlq], group,
                                            args.catchup_timeout, args.quiet, kafka_logger)
    say(f"{clock.stamp()} {caught_up} (after {waited:.0f}s, lag {lag}); SIGTERM to the workers")
    sampler.stop()
    faults.handle_exits()
    workers.stop(args.term_timeout)

    say(f"{clock.stamp()} reading {topics.output} and {topics.dlq} back (read_committed)")
    records, unrecognized = read_results(bootstrap, topics, args.run, kafka_logger)
    acked = producer.acked()
    result = verify.verify(acked, records, producer.window_ms)
    result.unrecognized = unrecognized
    # The input itself, read the same way: proves the producer and the
    # brokers kept every event in order, so what the outputs lack or reorder
    # is the workers' doing.
    inputs, _ = verify.read_topic(bootstrap, topics.input, DLQ, args.run, 180, kafka_logger)
    source = verify.verify(acked, inputs)

    # At-least-once may repeat outputs (same event_id); exactly-once may not.
    passed = result.passed and source.passed and not (args.exactly_once and result.duplicated)
    unexpected = [e for e in workers.exits if e.unexpected]
    rows = [
        ("run", f"{args.run} on the {brokers.describe()}, "
                f"{'exactly-once' if args.exactly_once else 'at-least-once'}"),
        ("config", f"workers={args.workers} duration={args.duration:.0f}s rate={args.rate:.0f}/s keys={args.keys} "
                   f"bad={args.bad_fraction:.0%} seed={args.seed} model={args.model.relative_to(ROOT) if args.model.is_relative_to(ROOT) else args.model}"),
        ("faults planned", f"kills={args.kills} SIGTERMs={args.terms} broker crashes={args.broker_crashes} "
                           f"(restart delay <= {args.restart_delay:.0f}s, broker down {args.broker_down:.0f}s)"),
        ("worker SIGKILLs done", faults.done["kill"]),
        ("worker SIGTERMs done", faults.done["term"]),
        ("broker crashes done", faults.done["broker-crash"]),
        ("unexpected worker exits", f"{len(unexpected)}" + "".join(
            f"\n      worker {e.worker} at t+{e.at:.0f}s status {e.status} after {e.cause}: {e.last_log}"
            for e in unexpected)),
        ("produced (acknowledged)", f"{result.produced} (of them bad on purpose: {producer.count_bad_acked()})"),
        ("never produced", f"{producer.count_never_produced()} (delivery failed; producer fatal errors: "
                           f"{producer.fatal_errors})"),
        ("input topic", f"{len(inputs)} records; acknowledged but missing {source.lost}, "
                        f"duplicated {source.duplicated}, order violations {source.order_violations}"),
        ("outputs", result.outputs),
        ("dead letters", result.dead_letters),
        ("unrecognized records", result.unrecognized),
        ("catch-up", f"{caught_up} after {waited:.0f}s, lag left {lag}"),
        ("LOST", f"{result.lost} (keys affected: {len(result.lost_keys)}){examples(result.lost_examples)}"),
        ("DUPLICATED" if args.exactly_once else "duplicated",
         f"{result.duplicated} events seen more than once ({result.duplicate_records} extra records)"
         + (" (exactly-once: must be 0)" if args.exactly_once else "")),
        ("ORDER VIOLATIONS", f"{result.order_violations} (keys affected: {len(result.violation_keys)})"
                             f"{examples(result.violation_examples)}"),
        ("seen but not acknowledged", result.seen_not_acked),
        ("keys split across partitions", result.split_keys),
        ("max partition idle", f"{result.max_idle_s:.1f}s (input partition {result.max_idle_partition}) "
                               f"while producing"),
        ("result", "PASS" if passed else "FAIL (lost, reordered, misplaced"
                   + (" or duplicated" if args.exactly_once else "") + " events)"),
    ]
    say("\n" + table(rows) + "\n")
    write_report(run_dir, args, rows, result, faults, unexpected)
    if passed:
        drop_topics(bootstrap, [topics.input, topics.output, topics.dlq], kafka_logger)
    return 0 if passed else 1


def write_report(run_dir: Path, args, rows, result: verify.Result, faults: Faults, unexpected: list[Exit]) -> None:
    report = {
        "run": args.run,
        "guarantee": "exactly-once" if args.exactly_once else "at-least-once",
        "command": " ".join(sys.argv),
        "table": {name: str(value) for name, value in rows},
        "lost": result.lost, "duplicated": result.duplicated, "order_violations": result.order_violations,
        "produced": result.produced, "outputs": result.outputs, "dead_letters": result.dead_letters,
        "faults_done": faults.done, "unexpected_exits": len(unexpected), "max_idle_s": result.max_idle_s,
    }
    (run_dir / "report.json").write_text(json.dumps(report, indent=2) + "\n")


def self_test(bootstrap: str, topics: Topics, run: str, logger) -> int:
    """The verifier on real topics: writes outputs and dead letters as the
    worker would, with one lost event, one duplicate and one reordering
    planted, reads them back and checks each is counted, and nothing else."""
    keys, seqs = 20, 50
    # Every tenth seq is a dead letter; these three are outputs.
    lost, duplicate, swapped = (3, 17), (5, 21), (7, 32)
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all",
                         "logger": logger})
    for key in range(keys):
        order = list(range(1, seqs + 1))
        if key == swapped[0]:
            i = order.index(swapped[1])
            order[i], order[i + 1] = order[i + 1], order[i]
        if key == duplicate[0]:
            order.insert(order.index(duplicate[1]) + 3, duplicate[1])  # a replay, a little later
        for seq in order:
            if (key, seq) == lost:
                continue
            ident = event_id(run, key, seq)
            partition = key % PARTITIONS
            if seq % 10 == 0:
                original = json.dumps({"event_id": ident, "product_id": product_key(key), "name": 42}).encode()
                producer.produce(topics.dlq, key=product_key(key), value=original, partition=partition,
                                 headers=[("dlq.reason", b"invalid_field"),
                                          ("dlq.source.partition", str(partition).encode())])
            else:
                output = {"product_id": product_key(key), "category": {"code": "X", "name": "X"},
                          "source": {"topic": topics.input, "partition": partition, "offset": seq, "event_id": ident}}
                producer.produce(topics.output, key=product_key(key), value=json.dumps(output).encode(),
                                 partition=partition)
        producer.poll(0)
    if producer.flush(60):
        raise RuntimeError("self-test: records not acknowledged within 60s")
    records, unrecognized = read_results(bootstrap, topics, run, logger)
    acked = {key: list(range(1, seqs + 1)) for key in range(keys)}
    result = verify.verify(acked, records)
    checks = [
        ("produced", result.produced, keys * seqs),
        ("outputs + dead letters", result.outputs + result.dead_letters, keys * seqs),  # one lost, one extra
        ("dead letters", result.dead_letters, keys * seqs // 10),
        ("unrecognized", unrecognized, 0),
        ("lost", result.lost, 1),
        ("lost event", result.lost_examples, [lost]),
        ("duplicated", result.duplicated, 1),
        ("order violations", result.order_violations, 1),
        ("violation", result.violation_examples, [(OUTPUT, swapped[0], swapped[1], swapped[1] + 1)]),
        ("passed", result.passed, False),
    ]
    say(table([(name, f"{got}  (expected {want}) {'ok' if got == want else 'MISMATCH'}")
               for name, got, want in checks]))
    ok = all(got == want for _, got, want in checks)
    say("self-test: " + ("the verifier counted exactly the planted loss, duplicate and reordering"
                         if ok else "FAILED: the verifier miscounted"))
    return 0 if ok else 1


# ------------------------------------------------------------ environment --
def kafka_env(args) -> dict[str, str]:
    """Environment for scripts/local-kafka: the single node's port and dir."""
    env = dict(os.environ)
    env.update(LOCAL_KAFKA_PORT=str(args.kafka_port), LOCAL_KAFKA_CONTROLLER_PORT=str(args.kafka_port + 1),
               LOCAL_KAFKA_DIR=str(args.kafka_dir))
    return env


def worker_env(args, bootstrap: str, topics: Topics, group: str) -> dict[str, str]:
    # Every KAFKA_<NAME> variable would become a librdkafka property of the
    # worker (KAFKA_PORT -> `port`): none is inherited.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "OTEL_"))}
    env.update(
        KAFKA_BOOTSTRAP_SERVERS=bootstrap, KAFKA_GROUP_ID=group, INPUT_TOPIC=topics.input,
        OUTPUT_TOPIC=topics.output, DLQ_TOPIC=topics.dlq, CREATE_TOPICS="false", MODEL_PATH=str(args.model),
        ORT_DYLIB_PATH=args.ort_dylib_path,
        DELIVERY_GUARANTEE="exactly-once" if args.exactly_once else "at-least-once",
    )
    return env


def ort_dylib_path() -> str:
    if os.environ.get("ORT_DYLIB_PATH"):
        return os.environ["ORT_DYLIB_PATH"]
    return subprocess.run([str(ROOT / "scripts" / "ort-path")], capture_output=True, text=True,
                          check=True).stdout.strip()


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="scripts/chaos", description=__doc__.split("\n\n")[0])
    p.add_argument("--short", action="store_true", help="the quick run of `make test`: "
                   + ", ".join(f"{k}={v}" for k, v in PRESETS["short"].items()))
    p.add_argument("--self-test", action="store_true",
                   help="check the verifier on real topics with a planted loss, duplicate and reordering; no workers")
    p.add_argument("--cluster", action="store_true", help="use the 3-node cluster instead of the single node")
    p.add_argument("--exactly-once", action="store_true",
                   help="run the workers with DELIVERY_GUARANTEE=exactly-once; a duplicate then fails the run too")
    p.add_argument("--duration", type=float, help=f"seconds of production [{PRESETS['default']['duration']}]")
    p.add_argument("--workers", type=int, help=f"worker processes [{PRESETS['default']['workers']}]")
    p.add_argument("--kills", type=int, help=f"worker SIGKILLs, each followed by a restart [{PRESETS['default']['kills']}]")
    p.add_argument("--terms", type=int, help=f"worker SIGTERMs, each followed by a restart [{PRESETS['default']['terms']}]")
    p.add_argument("--broker-crashes", type=int,
                   help=f"broker kill -9s, each followed by a restart [{PRESETS['default']['broker_crashes']}]")
    p.add_argument("--rate", type=float, help=f"events per second [{PRESETS['default']['rate']}]")
    p.add_argument("--keys", type=int, help=f"distinct keys (products) [{PRESETS['default']['keys']}]")
    p.add_argument("--bad-fraction", type=float, default=0.02, help="share of events invalid on purpose (dead letters) [%(default)s]")
    p.add_argument("--model", type=Path, default=ROOT / "model" / "product_category.onnx", help="ONNX model [%(default)s]")
    p.add_argument("--seed", type=int, help="random seed of the faults and the events [random]")
    p.add_argument("--restart-delay", type=float, default=5.0,
                   help="a killed worker restarts after a random 0.5..this many seconds [%(default)s]")
    p.add_argument("--broker-down", type=float, help="seconds a crashed broker stays down [3; cluster: 15]")
    p.add_argument("--term-timeout", type=float, default=45.0,
                   help="seconds a SIGTERM'd worker may take to exit before SIGKILL [%(default)s]")
    p.add_argument("--catchup-timeout", type=float, default=120.0,
                   help="longest wait, after producing, for the workers to commit everything [%(default)s]")
    p.add_argument("--quiet", type=float, default=60.0,
                   help="stop waiting for catch-up once no output came for this long [%(default)s]")
    p.add_argument("--kafka-port", type=int, default=29092,
                   help="single node: broker port (controller: +1), for scripts/local-kafka [%(default)s]")
    p.add_argument("--kafka-dir", type=Path, default=ROOT / ".run" / "kafka-chaos",
                   help="single node: runtime dir, for scripts/local-kafka [%(default)s]")
    p.add_argument("--binary", type=Path, default=ROOT / "target" / "release" / "product-categorizer",
                   help="the worker [%(default)s]")
    args = p.parse_args(argv)
    preset = PRESETS["short" if args.short else "default"]
    for name, value in preset.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(1_000_000)
    if args.broker_down is None:
        args.broker_down = 15.0 if args.cluster else 3.0
    args.model = args.model.resolve()
    if not args.self_test and not args.binary.exists():
        p.error(f"{args.binary} not found: cargo build --release --bins")
    if args.workers < 1 or args.duration <= 0 or args.rate <= 0 or args.keys < 1:
        p.error("--workers, --duration, --rate and --keys must be positive")
    args.ort_dylib_path = ort_dylib_path()
    args.run = time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:4]
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    return harness(args, ROOT / ".run" / "chaos" / args.run, run)


def harness(args, run_dir: Path, run) -> int:
    """Runs `run(args, run_dir, clock, cleanups)` with its log in `run_dir`,
    and on any exit (error, Ctrl-C, SIGTERM) undoes what it started: each
    clean-up step it appended to `cleanups`, last first."""
    run_dir.mkdir(parents=True)
    logging.basicConfig(filename=run_dir / "harness.log", level=logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    clock = Clock()
    cleanups: list = []

    def clean_up() -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut clean-up short
        while cleanups:
            step = cleanups.pop()
            try:
                step()
            except Exception as error:  # keep cleaning
                say(f"clean-up: {error}")

    def on_signal(number, _frame):
        raise SystemExit(128 + number)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    atexit.register(clean_up)
    try:
        return run(args, run_dir, clock, cleanups)
    except KeyboardInterrupt:
        say(f"{clock.stamp()} interrupted; stopping everything")
        return 130
    except Exception as error:
        log.exception("run failed")
        say(f"{clock.stamp()} run failed: {error!r} (log: {run_dir / 'harness.log'})")
        return 2
    finally:
        say(f"{clock.stamp()} stopping what this run started")
        clean_up()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
