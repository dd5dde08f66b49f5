//! Throughput figures: model-only (the app service through ONNX Runtime, per
//! batch size) and end to end (the worker binary draining a topic on the local
//! broker). Prints figures; asserts nothing about speed.
//!
//!     make bench            # or: cargo bench --bench throughput
//!
//! Needs a broker at KAFKA_BOOTSTRAP_SERVERS (scripts/local-kafka start) and
//! ORT_DYLIB_PATH (scripts/ort-path). With BENCH_BASELINE_BIN set to another
//! build of the worker, the end-to-end drain runs both in alternating rounds
//! and prints the ratio; with BENCH_SHADOW=1, also this build with the same
//! model as a shadow (SHADOW_MODEL_PATH).

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::*;
use product_categorizer::adapters::onnx::OnnxRuntime;
use product_categorizer::app::{spawn_shadow, Categorizer, Settings, SourceRecord};
use product_categorizer::telemetry::Metrics;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;

const RECORDS: usize = 200_000;

fn events(n: usize) -> Vec<Vec<u8>> {
    let products = real_products();
    (0..n)
        .map(|i| {
            let mut event = products[i % products.len()].1.clone();
            event["product_id"] = serde_json::json!(format!("SKU-{i}"));
            event.to_string().into_bytes()
        })
        .collect()
}

fn model_only() {
    let runtime = OnnxRuntime::load(&ort_dylib()).expect("ONNX Runtime");
    let settings = Settings { review_threshold: 0.5, max_text_chars: 1000 };
    let load = || runtime.load_model(&repo().join(TEXT_MODEL), 1).expect("model");
    let (predictor, model) = load();
    let categorizer = Categorizer::new(predictor, model, settings);
    let values = events(20_000);
    let records: Vec<SourceRecord> = values
        .iter()
        .enumerate()
        .map(|(i, v)| SourceRecord {
            topic: "bench".into(),
            partition: 0,
            offset: i as i64,
            key: None,
            value: Some(v.clone()),
        })
        .collect();
    let rate = |categorizer: &Categorizer<_>, batch: usize| {
        let started = Instant::now();
        for chunk in records.chunks(batch) {
            categorizer.categorize(chunk, time::OffsetDateTime::now_utc()).expect("the model answers");
        }
        records.len() as f64 / started.elapsed().as_secs_f64()
    };
    println!("model only (decode + validate + ONNX Runtime, 1 thread), {} records:", values.len());
    let mut plain_64 = 0.0;
    for batch in [1, 8, 64, 256] {
        let r = rate(&categorizer, batch);
        if batch == 64 {
            plain_64 = r;
        }
        println!("  batch {batch:>4}: {r:>10.0} records/s");
    }
    // The same model as a shadow: its own thread scores every batch it can keep up with.
    let metrics = std::sync::Arc::new(Metrics::new().expect("metrics"));
    let (shadow_predictor, shadow_model) = load();
    let shadow = spawn_shadow(Categorizer::new(shadow_predictor, shadow_model, settings), None, metrics.clone())
        .expect("shadow thread");
    let (predictor, model) = load();
    let with_shadow = Categorizer::new(predictor, model, settings).with_shadow(shadow);
    let r = rate(&with_shadow, 64);
    std::thread::sleep(Duration::from_millis(500));
    let (compared, skipped) =
        (metrics.shadow_compared.get(), metrics.shadow_skipped.with_label_values(&["behind"]).get());
    println!(
        "  batch   64 with a shadow model: {r:>10.0} records/s ({:.2}x of without); the shadow compared {compared}, \
         skipped {skipped} (behind)",
        r / plain_64
    );
}

const ROUNDS: usize = 3;

/// Fills a fresh 6-partition topic with `RECORDS` events, then times one
/// worker draining it, from its start to the last result final (published,
/// or committed with exactly-once), as its own metrics count them.
async fn drain(binary: &std::path::Path, extra_env: &[(&str, &str)]) -> f64 {
    let topics = Topics::new("bench");
    topics.create_input(6).await;
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("linger.ms", "20")
        .set("queue.buffering.max.messages", "1000000")
        .create()
        .expect("producer");
    let values = events(RECORDS);
    // Enqueue everything, then wait for every acknowledgement.
    let deliveries: Vec<_> = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let key = format!("k{i}");
            producer
                .send_result(FutureRecord::to(&topics.input).key(&key).payload(v))
                .map_err(|(e, _)| e)
                .expect("enqueue")
        })
        .collect();
    for delivery in deliveries {
        delivery.await.expect("delivery").map_err(|(e, _)| e).expect("produce");
    }
    let started = Instant::now();
    let mut env = vec![("RUST_LOG", "info,ort=warn"), ("TOPIC_PARTITIONS", "6")];
    env.extend_from_slice(extra_env);
    let worker = Worker::start_command(worker_command_of(binary, &topics, TEXT_MODEL, &env));
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let metrics = worker.metrics();
        let done = metric_value(&metrics, "categorizer_records_categorized_total", &[])
            + metric_value(&metrics, "categorizer_records_dead_lettered_total", &[]);
        if done as usize >= RECORDS {
            break;
        }
        assert!(Instant::now() < deadline, "worker did not finish:\n{}", worker.log_text());
        std::thread::sleep(Duration::from_millis(50));
    }
    RECORDS as f64 / started.elapsed().as_secs_f64()
}

fn median(mut rates: Vec<f64>) -> f64 {
    rates.sort_by(f64::total_cmp);
    rates[rates.len() / 2]
}

/// A label, a worker binary and the extra environment it runs with.
type Contender = (&'static str, std::path::PathBuf, Vec<(&'static str, &'static str)>);

async fn end_to_end() {
    let this = std::path::PathBuf::from(env!("CARGO_BIN_EXE_product-categorizer"));
    let mut contenders: Vec<Contender> = vec![
        ("this build", this.clone(), vec![]),
        ("exactly-once", this.clone(), vec![("DELIVERY_GUARANTEE", "exactly-once")]),
    ];
    if let Some(baseline) = std::env::var_os("BENCH_BASELINE_BIN") {
        contenders.push(("baseline", baseline.into(), vec![]));
    }
    if std::env::var_os("BENCH_SHADOW").is_some() {
        contenders.push(("+ shadow", this, vec![("SHADOW_MODEL_PATH", TEXT_MODEL)]));
    }
    println!("end to end (start worker, drain {RECORDS} records from 6 partitions, publish results), {ROUNDS} rounds:");
    let mut rates = vec![Vec::new(); contenders.len()];
    for round in 1..=ROUNDS {
        for ((label, binary, env), rates) in contenders.iter().zip(&mut rates) {
            let rate = drain(binary, env).await;
            println!("  round {round} {label:<12} {rate:>8.0} records/s");
            rates.push(rate);
        }
    }
    let medians: Vec<f64> = rates.into_iter().map(median).collect();
    for ((label, binary, _), median) in contenders.iter().zip(&medians) {
        println!("  median {label:<12} {median:>8.0} records/s  ({})", binary.display());
    }
    for ((label, _, _), median) in contenders.iter().zip(&medians).skip(1) {
        println!("  this build / {label}: {:.2}x", medians[0] / median);
    }
}

#[tokio::main]
async fn main() {
    model_only();
    end_to_end().await;
}
