"""The verifier must catch what it is there to catch: each test feeds it a
synthetic stream with one known defect and checks exactly that is counted."""
from __future__ import annotations

import json

from verify import DLQ, OUTPUT, Seen, StepCounts, decode, event_id, longest_idle, parse_event_id, verify

RUN = "run1"


def stream(kind: str, pairs: list[tuple[int, int]], partition: int = 0) -> list[Seen]:
    """Records of one topic partition, in offset order, from (key, seq) pairs."""
    return [Seen(kind, partition, offset, key, seq, partition, 1000 + offset) for offset, (key, seq) in enumerate(pairs)]


def test_a_clean_stream_passes():
    acked = {1: [1, 2, 3], 2: [1, 2]}
    records = stream(OUTPUT, [(1, 1), (2, 1), (1, 2), (2, 2)]) + stream(DLQ, [(1, 3)])
    result = verify(acked, records)
    assert (result.produced, result.outputs, result.dead_letters) == (5, 4, 1)
    assert (result.lost, result.duplicated, result.order_violations, result.seen_not_acked) == (0, 0, 0, 0)
    assert result.passed


def test_a_lost_record_is_counted():
    acked = {1: [1, 2, 3], 2: [1]}
    result = verify(acked, stream(OUTPUT, [(1, 1), (1, 3), (2, 1)]))
    assert result.lost == 1
    assert result.lost_keys == {1}
    assert result.lost_examples == [(1, 2)]
    assert result.order_violations == 0
    assert not result.passed


def test_a_duplicate_is_counted_and_is_not_a_violation():
    acked = {1: [1, 2, 3]}
    result = verify(acked, stream(OUTPUT, [(1, 1), (1, 2), (1, 3), (1, 2), (1, 3), (1, 3)]))
    assert (result.duplicated, result.duplicate_records) == (2, 3)
    assert result.order_violations == 0
    assert result.passed


def test_a_record_in_both_topics_is_a_duplicate():
    result = verify({1: [1]}, stream(OUTPUT, [(1, 1)]) + stream(DLQ, [(1, 1)]))
    assert result.duplicated == 1


def test_a_reordering_is_a_violation():
    acked = {1: [1, 2, 3, 4], 2: [1, 2]}
    result = verify(acked, stream(OUTPUT, [(1, 1), (1, 3), (2, 1), (1, 2), (1, 4), (2, 2)]))
    assert result.order_violations == 1
    assert result.violation_keys == {1}
    assert result.violation_examples == [(OUTPUT, 1, 2, 3)]
    assert (result.lost, result.duplicated) == (0, 0)
    assert not result.passed


def test_a_replayed_suffix_is_not_a_violation():
    # At-least-once after a crash: 3..4 again, then onwards.
    result = verify({1: [1, 2, 3, 4, 5]}, stream(OUTPUT, [(1, 1), (1, 2), (1, 3), (1, 4), (1, 3), (1, 4), (1, 5)]))
    assert result.order_violations == 0
    assert result.duplicated == 2


def test_order_is_per_topic_and_per_key():
    # Dead letters of key 1 in their own topic: 2 after output 3 is no violation.
    records = stream(OUTPUT, [(1, 1), (1, 3), (2, 5)]) + stream(DLQ, [(1, 2), (2, 1)])
    result = verify({1: [1, 2, 3], 2: [1, 5]}, records)
    assert result.order_violations == 0


def test_a_skipped_then_late_record_is_a_violation_and_not_lost():
    # seq 2 overtaken by 3 and 4, published last.
    result = verify({1: [1, 2, 3, 4]}, stream(OUTPUT, [(1, 1), (1, 3), (1, 4), (1, 2)]))
    assert (result.order_violations, result.lost) == (1, 0)


def test_an_event_whose_delivery_failed_is_not_lost_and_is_noted_when_seen():
    # seq 2's delivery was reported failed: not in `acked`.
    result = verify({1: [1, 3]}, stream(OUTPUT, [(1, 1), (1, 2), (1, 3)]))
    assert (result.lost, result.seen_not_acked) == (0, 1)
    assert verify({1: [1, 3]}, stream(OUTPUT, [(1, 1), (1, 3)])).lost == 0


def test_a_key_in_two_partitions_fails_the_run():
    records = stream(OUTPUT, [(1, 1)], partition=0) + stream(OUTPUT, [(1, 2)], partition=1)
    result = verify({1: [1, 2]}, records)
    assert result.split_keys == 1
    assert not result.passed


def test_each_defect_is_also_counted_in_the_step_its_event_was_produced_in():
    # Key 1: seqs 1-3 in step 0, 4-6 in step 1. Seq 2 lost, seq 5 twice,
    # seq 4 after 6 (late: a violation of step 1).
    acked = {1: [1, 2, 3, 4, 5, 6]}
    records = stream(OUTPUT, [(1, 1), (1, 3), (1, 5), (1, 6), (1, 4), (1, 5)])
    result = verify(acked, records, step_of=lambda key, seq: 0 if seq <= 3 else 1)
    assert (result.lost, result.duplicated, result.order_violations) == (1, 1, 1)
    assert result.steps == {0: StepCounts(lost=1), 1: StepCounts(duplicated=1, order_violations=1)}
    assert verify(acked, records).steps == {}


def test_longest_idle_partition():
    times = {0: [1000, 1100, 6100, 6200], 1: [1050, 1150]}
    assert longest_idle(times, (1000, 7000)) == (5.85, 1)
    assert longest_idle(times, (1000, 2000)) == (0.9, 0)
    assert longest_idle({0: [500, 9000]}, (1000, 2000)) == (1.0, 0)


def test_event_ids_round_trip_and_foreign_ones_are_rejected():
    assert parse_event_id(RUN, event_id(RUN, 7, 42)) == (7, 42)
    assert parse_event_id(RUN, event_id("other", 7, 42)) is None
    assert parse_event_id(RUN, "run1/x/1") is None
    assert parse_event_id(RUN, 5) is None


def test_decode_reads_outputs_and_dead_letters():
    output = json.dumps({"product_id": "P1", "source": {"partition": 4, "event_id": event_id(RUN, 1, 9)}}).encode()
    assert decode(OUTPUT, RUN, 2, 10, 123, output, []) == Seen(OUTPUT, 2, 10, 1, 9, 4, 123)
    original = json.dumps({"event_id": event_id(RUN, 3, 2), "name": 42}).encode()
    dead = decode(DLQ, RUN, 0, 5, 7, original, [("dlq.source.partition", "3"), ("dlq.reason", "invalid_field")])
    assert dead == Seen(DLQ, 0, 5, 3, 2, 3, 7)
    assert decode(OUTPUT, RUN, 0, 0, 0, b"not json", []) is None
    assert decode(DLQ, RUN, 0, 0, 0, None, []) is None
