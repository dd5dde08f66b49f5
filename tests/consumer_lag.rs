//! The lag metric against Kafka's own view of the group's lag.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

const STATS_INTERVAL: Duration = Duration::from_secs(1);
const PARTITIONS: i32 = 2;

#[tokio::test(flavor = "multi_thread")]
async fn lag_rises_while_the_worker_is_behind_matches_the_broker_and_returns_to_zero() {
    let topics = Topics::new("lag");
    topics.create_input(PARTITIONS).await;
    // One record at a time, each waiting for its acknowledgement: a worker
    // slower than the burst below, with nothing faked.
    let env = [("BATCH_SIZE", "1"), ("MAX_IN_FLIGHT", "1"), ("KAFKA_LINGER_MS", "10")];
    let worker = Worker::start(&topics, TEXT_MODEL, &env);
    let total = 1500;
    let inputs: Vec<Input> = (0..total)
        .map(|i| Input::json(&format!("k{i}"), json!({"product_id": i, "name": "Mouse sem fio Logitech M170"})))
        .collect();
    produce(&topics.input, &inputs).await;

    // Per partition: (elapsed, metric) and (elapsed, broker) samples until the worker catches up.
    let started = Instant::now();
    let mut metric_samples: Vec<(Duration, i32, f64)> = Vec::new();
    let mut broker_samples: Vec<(Duration, i32, f64)> = Vec::new();
    let mut max_lag_seconds: f64 = 0.0;
    loop {
        let broker = broker_lag(&topics);
        let at = started.elapsed();
        broker_samples.extend(broker.iter().map(|(p, lag)| (at, *p, *lag)));
        let metrics = worker.metrics();
        for p in 0..PARTITIONS {
            let labels = [topics.input.as_str(), &format!("partition=\"{p}\"")];
            // No sample while librdkafka does not know the lag yet.
            if metrics
                .lines()
                .any(|l| l.starts_with("categorizer_consumer_lag{") && labels.iter().all(|x| l.contains(x)))
            {
                metric_samples.push((
                    started.elapsed(),
                    p,
                    metric_value(&metrics, "categorizer_consumer_lag", &labels),
                ));
            }
        }
        max_lag_seconds =
            max_lag_seconds.max(metric_value(&metrics, "categorizer_consumer_lag_seconds", &[&topics.input]));
        let caught_up = broker.values().all(|lag| *lag == 0.0)
            && metric_value(&metrics, "categorizer_consumer_lag", &[&topics.input]) == 0.0;
        if caught_up && started.elapsed() > 3 * STATS_INTERVAL {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(120), "worker did not catch up:\n{}", worker.log_text());
        std::thread::sleep(Duration::from_millis(100));
    }

    let peak = metric_samples.iter().map(|(_, _, lag)| *lag).fold(0.0, f64::max);
    assert!(peak >= 200.0, "lag should rise well above zero while the worker is behind, peaked at {peak}");
    assert!(max_lag_seconds > 0.0, "lag in seconds should be positive while behind");
    // Each sample equals the broker's lag of that partition at some moment of
    // the last statistics interval. Samples of the first interval may predate
    // the broker samples: skip them.
    let slack = Duration::from_millis(600);
    let checked: Vec<_> = metric_samples.iter().filter(|(at, _, _)| *at > STATS_INTERVAL + slack).collect();
    assert!(checked.iter().filter(|(_, _, lag)| *lag > 0.0).count() >= 5, "too few samples while behind: {checked:?}");
    for (at, partition, lag) in checked {
        let (low, high) = broker_samples
            .iter()
            .filter(|(t, p, _)| p == partition && *t + STATS_INTERVAL + slack >= *at && *t <= *at + slack)
            .fold((f64::MAX, f64::MIN), |(lo, hi), (_, _, b)| (lo.min(*b), hi.max(*b)));
        assert!(
            *lag >= low - 2.0 && *lag <= high + 2.0,
            "partition {partition} at {at:?}: the metric said {lag}, the broker said {low}..{high} in the last interval"
        );
    }
    for p in 0..PARTITIONS {
        let last = metric_samples.iter().rev().find(|(_, q, _)| *q == p).map(|(_, _, lag)| *lag);
        assert_eq!(last, Some(0.0), "partition {p} back to zero once caught up");
    }
}

/// Per partition: end offset minus the group's committed offset (none committed yet: all of it).
fn broker_lag(topics: &Topics) -> HashMap<i32, f64> {
    let committed = committed(&topics.group, &topics.input, PARTITIONS);
    let ends = end_offsets(&topics.input, PARTITIONS);
    ends.iter()
        .map(|(p, end)| {
            let done = committed.get(p).copied().filter(|c| *c >= 0).unwrap_or(0);
            (*p, (end - done).max(0) as f64)
        })
        .collect()
}
