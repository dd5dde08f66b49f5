//! The lag metric against Kafka's own view of the group's lag.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

const STATS_INTERVAL: Duration = Duration::from_secs(1);

#[tokio::test(flavor = "multi_thread")]
async fn lag_rises_while_the_worker_is_behind_matches_the_broker_and_returns_to_zero() {
    let topics = Topics::new("lag");
    topics.create_input(2).await;
    // One record at a time, each waiting for its acknowledgement: a worker
    // slower than the burst below, with nothing faked.
    let env = [("BATCH_SIZE", "1"), ("MAX_IN_FLIGHT", "1"), ("KAFKA_LINGER_MS", "10")];
    let worker = Worker::start(&topics, TEXT_MODEL, &env);
    let total = 1500;
    let inputs: Vec<Input> = (0..total)
        .map(|i| Input::json(&format!("k{i}"), json!({"product_id": i, "name": "Mouse sem fio Logitech M170"})))
        .collect();
    produce(&topics.input, &inputs).await;

    // (elapsed, metric) and (elapsed, broker) samples until the worker catches up.
    let started = Instant::now();
    let mut metric_samples = Vec::new();
    let mut broker_samples = Vec::new();
    let mut max_lag_seconds: f64 = 0.0;
    loop {
        let broker_lag = broker_lag(&topics);
        broker_samples.push((started.elapsed(), broker_lag));
        let metrics = worker.metrics();
        let lag = metric_value(&metrics, "categorizer_consumer_lag", &[&topics.input]);
        max_lag_seconds =
            max_lag_seconds.max(metric_value(&metrics, "categorizer_consumer_lag_seconds", &[&topics.input]));
        metric_samples.push((started.elapsed(), lag));
        if broker_lag == 0.0 && lag == 0.0 && started.elapsed() > 3 * STATS_INTERVAL {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(120), "worker did not catch up:\n{}", worker.log_text());
        std::thread::sleep(Duration::from_millis(100));
    }

    let peak = metric_samples.iter().map(|(_, lag)| *lag).fold(0.0, f64::max);
    assert!(peak >= 200.0, "lag should rise well above zero while the worker is behind, peaked at {peak}");
    assert!(max_lag_seconds > 0.0, "lag in seconds should be positive while behind");
    // Each sample equals the broker's lag at some moment of the last statistics interval.
    let slack = Duration::from_millis(600);
    // Samples from the first interval may predate the broker samples: skip them.
    let checked: Vec<_> = metric_samples.iter().filter(|(at, _)| *at > STATS_INTERVAL + slack).collect();
    assert!(checked.iter().filter(|(_, lag)| *lag > 0.0).count() >= 5, "too few samples while behind: {checked:?}");
    for (at, lag) in checked {
        let window: Vec<f64> = broker_samples
            .iter()
            .filter(|(t, _)| *t + STATS_INTERVAL + slack >= *at && *t <= *at + slack)
            .map(|(_, b)| *b)
            .collect();
        let (low, high) = window.iter().fold((f64::MAX, f64::MIN), |(lo, hi), b| (lo.min(*b), hi.max(*b)));
        assert!(
            *lag >= low - 2.0 && *lag <= high + 2.0,
            "at {at:?} the metric said {lag}, the broker said {low}..{high} in the last interval"
        );
    }
    assert_eq!(metric_samples.last().map(|(_, lag)| *lag), Some(0.0), "back to zero once caught up");
}

/// Sum over partitions of end offset minus the group's committed offset.
fn broker_lag(topics: &Topics) -> f64 {
    let committed = committed(&topics.group, &topics.input, 2);
    let ends = end_offsets(&topics.input, 2);
    ends.iter()
        .map(|(p, end)| {
            let done = committed.get(p).copied().filter(|c| *c >= 0).unwrap_or(0);
            (end - done).max(0) as f64
        })
        .sum()
}
