"""The chaos harness's verifier: what was produced against what came out.

Every input event carries `event_id = "<run>/<key>/<seq>"`, where `seq`
counts the key's events from 1 in the order they were produced. Outputs echo
it in `source.event_id`; dead letters keep the original value, so both tell
which event they stand for. The verifier reads both topics from the beginning
(read_committed) and counts, against the events the broker acknowledged:

- lost: acknowledged, in neither the output nor the dead-letter topic;
- duplicated: seen more than once (across both topics);
- order violations: walking one topic's records of a key in topic order, a
  seq seen for the first time that is smaller than the largest seq already
  seen for that key. Replays of earlier seqs are not violations: at-least-once
  redelivery repeats a suffix of the stream, and interleaving two in-order
  streams of the same key cannot produce a violation under this definition.

The counting (`verify`) is pure, so it is unit-tested on synthetic streams
(tests/chaos/test_verify.py); `read_topic` is the Kafka side.
"""
from __future__ import annotations

import json
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping

OUTPUT = "output"
DLQ = "dlq"


def event_id(run: str, key: int, seq: int) -> str:
    return f"{run}/{key}/{seq}"


def parse_event_id(run: str, value: object) -> tuple[int, int] | None:
    """(key, seq) of an event id of this run; None for anything else."""
    if not isinstance(value, str):
        return None
    parts = value.split("/")
    if len(parts) != 3 or parts[0] != run or not parts[1].isdigit() or not parts[2].isdigit():
        return None
    return int(parts[1]), int(parts[2])


@dataclass(frozen=True)
class Seen:
    """One record read back from the output or dead-letter topic."""

    kind: str  # OUTPUT or DLQ
    partition: int
    offset: int
    key: int
    seq: int
    source_partition: int | None  # the input partition it came from
    timestamp_ms: int  # when the worker produced it


@dataclass
class Result:
    produced: int = 0
    outputs: int = 0
    dead_letters: int = 0
    unrecognized: int = 0  # records that are not events of this run
    lost: int = 0
    lost_keys: set[int] = field(default_factory=set)
    lost_examples: list[tuple[int, int]] = field(default_factory=list)
    duplicated: int = 0  # seqs seen more than once
    duplicate_records: int = 0  # the extra copies
    order_violations: int = 0
    violation_keys: set[int] = field(default_factory=set)
    violation_examples: list[tuple[str, int, int, int]] = field(default_factory=list)  # kind, key, seq, max before
    seen_not_acked: int = 0  # delivery reported failed (or never reported), yet the event came out
    split_keys: int = 0  # keys found in more than one partition of a topic: their order is undefined
    max_idle_s: float = 0.0
    max_idle_partition: int | None = None
    # With `step_of`: the losses, duplicates and order violations of the
    # events produced in each step of a run (the scale-out run's replica counts).
    steps: dict[int, "StepCounts"] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.lost == 0 and self.order_violations == 0 and self.split_keys == 0


@dataclass
class StepCounts:
    lost: int = 0
    duplicated: int = 0
    order_violations: int = 0


EXAMPLES = 5


def verify(
    acked: Mapping[int, Iterable[int]],
    records: Iterable[Seen],
    window_ms: tuple[int, int] | None = None,
    step_of: Callable[[int, int], int] | None = None,
) -> Result:
    """Counts losses, duplicates and order violations.

    `acked`: per key, the seqs the broker acknowledged. `records`: everything
    read back from both topics, each topic's partitions in offset order.
    `window_ms`: the production window, for the longest time an input
    partition produced no output while input was flowing. `step_of(key,
    seq)`: the step an event was produced in; each loss, duplicate and
    order violation is then also counted in `result.steps` under the step
    of the event it concerns (for a violation, the event that came late).
    """
    result = Result()

    def count(attr: str, key: int, seq: int) -> None:
        if step_of is not None:
            counts = result.steps.setdefault(step_of(key, seq), StepCounts())
            setattr(counts, attr, getattr(counts, attr) + 1)

    acked_sets = {key: set(seqs) for key, seqs in acked.items()}
    result.produced = sum(len(s) for s in acked_sets.values())

    times_seen: dict[tuple[int, int], int] = defaultdict(int)
    # Per topic kind and key: seqs already seen in that topic, and the largest.
    seen_in_topic: dict[tuple[str, int], set[int]] = defaultdict(set)
    max_in_topic: dict[tuple[str, int], int] = {}
    output_times: dict[int, list[int]] = defaultdict(list)
    partition_of: dict[tuple[str, int], int] = {}
    split: set[tuple[str, int]] = set()

    for r in records:
        if r.kind == OUTPUT:
            result.outputs += 1
        else:
            result.dead_letters += 1
        times_seen[(r.key, r.seq)] += 1
        if r.source_partition is not None:
            output_times[r.source_partition].append(r.timestamp_ms)
        stream = (r.kind, r.key)
        if partition_of.setdefault(stream, r.partition) != r.partition:
            split.add(stream)
        seen = seen_in_topic[stream]
        if r.seq not in seen:
            largest = max_in_topic.get(stream, 0)
            if r.seq < largest:
                result.order_violations += 1
                count("order_violations", r.key, r.seq)
                result.violation_keys.add(r.key)
                if len(result.violation_examples) < EXAMPLES:
                    result.violation_examples.append((r.kind, r.key, r.seq, largest))
            seen.add(r.seq)
            max_in_topic[stream] = max(largest, r.seq)

    result.split_keys = len(split)
    for (key, seq), n in times_seen.items():
        if n > 1:
            result.duplicated += 1
            count("duplicated", key, seq)
            result.duplicate_records += n - 1
        if seq not in acked_sets.get(key, ()):
            result.seen_not_acked += 1
    for key in sorted(acked_sets):
        for seq in sorted(acked_sets[key]):
            if (key, seq) not in times_seen:
                result.lost += 1
                count("lost", key, seq)
                result.lost_keys.add(key)
                if len(result.lost_examples) < EXAMPLES:
                    result.lost_examples.append((key, seq))

    if window_ms is not None:
        result.max_idle_s, result.max_idle_partition = longest_idle(output_times, window_ms)
    return result


def longest_idle(times_by_partition: Mapping[int, list[int]], window_ms: tuple[int, int]) -> tuple[float, int | None]:
    """The longest time, within the window, that one input partition went
    without an output: gaps between consecutive outputs, from the window's
    start to the first and from the last to the window's end, clipped to it."""
    start, end = window_ms
    worst, worst_partition = 0, None
    for partition, times in sorted(times_by_partition.items()):
        previous = start
        for t in sorted(times) + [end]:
            if previous >= end:
                break
            gap = min(t, end) - previous
            if gap > worst:
                worst, worst_partition = gap, partition
            previous = max(previous, t)
    return worst / 1000.0, worst_partition


def decode(kind: str, run: str, partition: int, offset: int, timestamp_ms: int, value: bytes | None,
           headers: list[tuple[str, bytes]] | None) -> Seen | None:
    """A record of the output or dead-letter topic as a `Seen`; None when it
    is not an event of this run."""
    try:
        event = json.loads(value) if value is not None else None
    except ValueError:
        return None
    if not isinstance(event, dict):
        return None
    if kind == OUTPUT:
        source = event.get("source")
        if not isinstance(source, dict):
            return None
        ident = parse_event_id(run, source.get("event_id"))
        source_partition = source.get("partition") if isinstance(source.get("partition"), int) else None
    else:
        ident = parse_event_id(run, event.get("event_id"))
        raw = dict(headers or []).get("dlq.source.partition")
        source_partition = int(raw) if raw is not None and raw.isdigit() else None
    if ident is None:
        return None
    return Seen(kind, partition, offset, ident[0], ident[1], source_partition, timestamp_ms)


def read_topic(bootstrap: str, topic: str, kind: str, run: str, timeout_s: float,
               logger=None) -> tuple[list[Seen], int]:
    """Reads a whole topic from the beginning with read_committed, up to the
    end it has when reading starts. Returns the decoded records in
    (partition, offset) order and the count of records that are not events
    of this run. Raises TimeoutError past `timeout_s`."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

    config = {
        "bootstrap.servers": bootstrap,
        "group.id": f"chaos-verifier-{uuid.uuid4()}",
        "enable.auto.commit": False,
        "isolation.level": "read_committed",
        "enable.partition.eof": True,
        "auto.offset.reset": "earliest",
    }
    if logger is not None:
        config["logger"] = logger
    consumer = Consumer(config)
    try:
        metadata = consumer.list_topics(topic, timeout=30)
        partitions = sorted(metadata.topics[topic].partitions)
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        pending = set(partitions)
        seen: list[Seen] = []
        unrecognized = 0
        deadline = time.monotonic() + timeout_s
        while pending:
            if time.monotonic() > deadline:
                raise TimeoutError(f"reading {topic}: partitions {sorted(pending)} not at their end after {timeout_s:.0f}s")
            for message in consumer.consume(num_messages=5000, timeout=1.0):
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        pending.discard(message.partition())
                        continue
                    if error.fatal():
                        raise KafkaException(error)
                    continue
                headers = [(k, v.decode("utf-8", "replace") if v is not None else None)
                           for k, v in (message.headers() or [])]
                record = decode(kind, run, message.partition(), message.offset(), message.timestamp()[1],
                                message.value(), headers)
                if record is None:
                    unrecognized += 1
                else:
                    seen.append(record)
        seen.sort(key=lambda r: (r.partition, r.offset))
        return seen, unrecognized
    finally:
        consumer.close()
