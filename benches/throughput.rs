//! Throughput, latency and memory, on the local broker. Prints figures and
//! ratios; asserts nothing about speed.
//!
//!     make bench                                   # full run (~15 min)
//!     make bench BENCH_ARGS=--short                # 50k records, 10 s per latency run (~5 min)
//!     cargo bench --bench throughput -- --only worker --models features --latency-secs 0
//!     cargo bench --bench throughput -- --records 300000 --rounds 3 --latency-secs 60
//!
//! 1. Model-only ceiling, in every round beside the drains: ONNX Runtime
//!    alone (the worker's predictor on decoded inputs) and the app service
//!    (decode + validate + model + result event), both at the worker's
//!    default batch (512) and one inference thread.
//! 2. Drain: a backlog (`--records`, 6 partitions) per model is filled once;
//!    then every contender drains it in turn, in alternating rounds, each with
//!    a fresh group and output topic. The rate is counted from the first
//!    result to 99% of the backlog (output high watermarks, polled every
//!    25 ms), so start-up and the tail do not count. Peak RSS is the
//!    contender's VmHWM (for the kcat pipe, both processes summed); CPU per
//!    record is its user + system time over the same span, per record: on a
//!    shared machine it moves far less than the rate does.
//!    Contenders: the worker (this build: BENCH_WORKER_BIN, which `make
//!    bench` builds as it ships, else the one cargo built for the bench; and
//!    the builds BENCH_BASELINE_BIN
//!    names, ':'-separated: an older build, or a script that sets variables
//!    and execs a build, to compare settings side by side), a
//!    Python consumer (benches/python_consumer.py: confluent-kafka +
//!    onnxruntime, batches of 500, commit after flush), and `kcat -C | kcat
//!    -P` (no parsing, no model): the passthrough ceiling.
//! 3. Latency: at each offered rate (`--latency-rates`, default
//!    5000,10000,half: half the worker's measured text drain rate), for
//!    `--latency-secs` each, three forwarders in turn on fresh topics: a
//!    librdkafka passthrough (consume -> produce, no model, the worker's 1 ms
//!    linger), the worker (text model) at-least-once, and exactly-once. Per
//!    result, its broker append time minus its input's
//!    broker append time (both topics have message.timestamp.type=
//!    LogAppendTime; the producer's delivery report carries the input's): the
//!    worker's share, without the bench producer's own queueing. Also per
//!    result, from the time the bench handed the input to its producer: the
//!    result's append time, and when a read_committed reader, tailing the
//!    output during the run, saw it (for exactly-once, results become visible
//!    at their transaction's commit). The first second is warm-up and not
//!    counted. Printed per run and as one table (p50/p90/p99/p99.9/max, the
//!    worker's own end-to-end histogram beside it, and its p99 as a multiple
//!    of the passthrough's at the same rate). BENCH_LATENCY_BIN runs another
//!    build (or settings wrapper) instead of this one.
//!
//!    Text events are short listings (ml/tests/real_products.tsv);
//!    BENCH_DESCRIPTIONS=0.05 gives 5% of them a 200-1,000 character
//!    description, in the drains, the latency runs and the model-only ceiling.
//!
//!    The drain also runs this build with DELIVERY_GUARANTEE=exactly-once
//!    (its output offsets include one commit marker per partition and
//!    transaction: about 0.3% at the default window) and, with BENCH_SHADOW
//!    set, with the text model as a shadow.
//!
//! Needs a broker at KAFKA_BOOTSTRAP_SERVERS (scripts/local-kafka start),
//! ORT_DYLIB_PATH (scripts/ort-path), .venv (scripts/setup-python) and kcat
//! (scripts/install-kcat). `--only worker,python,kcat` limits the
//! contenders. The bench deletes the topics it created and kills what it
//! started; every wait is bounded.

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::*;
use product_categorizer::adapters::onnx::load_model;
use product_categorizer::app::{Categorizer, Settings, SourceRecord};
use product_categorizer::domain::ModelInput;
use product_categorizer::ports::Predictor;
use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{BaseRecord, FutureProducer, FutureRecord, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{ClientConfig, ClientContext, Message, Offset, TopicPartitionList};

const PARTITIONS: i32 = 6;
/// The worker's default BATCH_SIZE and INFERENCE_THREADS.
const WORKER_BATCH: usize = 512;
const DRAIN_TIMEOUT: Duration = Duration::from_secs(300);
const POLL: Duration = Duration::from_millis(25);
/// The model-only ceiling's row in the results.
const MODEL_ONLY: &str = "ONNX Runtime alone";
const EXACTLY_ONCE: &str = "worker, exactly-once";
const EXACTLY_ONCE_ENV: (&str, &str) = ("DELIVERY_GUARANTEE", "exactly-once");

struct Options {
    records: usize,
    rounds: usize,
    latency_secs: u64,
    /// Offered rates; `None` in the list is half the worker's drain rate.
    latency_rates: Vec<Option<f64>>,
    only: Option<Vec<String>>,
    models: Vec<Model>,
    model_only: Option<Model>,
    /// Run as the latency run's passthrough child: input, output, group.
    passthrough: Option<[String; 3]>,
}

fn options() -> Options {
    let mut o = Options {
        records: 200_000,
        rounds: 3,
        latency_secs: 30,
        latency_rates: vec![Some(5_000.0), Some(10_000.0), None],
        only: None,
        models: Model::ALL.to_vec(),
        model_only: None,
        passthrough: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| panic!("{arg} needs a value"));
        match arg.as_str() {
            "--short" => {
                o.records = 50_000;
                o.latency_secs = 10;
            }
            "--records" => o.records = value().parse().expect("--records N"),
            "--rounds" => o.rounds = value().parse().expect("--rounds N"),
            "--latency-secs" => o.latency_secs = value().parse().expect("--latency-secs N"),
            "--latency-rate" | "--latency-rates" => {
                o.latency_rates = value()
                    .split(',')
                    .map(|r| match r {
                        "half" => None,
                        r => Some(r.parse().expect("--latency-rates N,N,half")),
                    })
                    .collect()
            }
            "--passthrough" => {
                let (input, output, group) = (value(), value(), value());
                o.passthrough = Some([input, output, group]);
            }
            "--models" => {
                o.models = value().split(',').map(|m| if m == "text" { Model::Text } else { Model::Features }).collect()
            }
            "--only" => o.only = Some(value().split(',').map(str::to_owned).collect()),
            "--model-only" => {
                o.model_only = Some(match value().as_str() {
                    "text" => Model::Text,
                    _ => Model::Features,
                })
            }
            "--bench" => {}
            other => panic!("unknown argument {other}"),
        }
    }
    o
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Model {
    Text,
    Features,
}

impl Model {
    const ALL: [Model; 2] = [Model::Text, Model::Features];

    fn path(self) -> &'static str {
        match self {
            Model::Text => TEXT_MODEL,
            Model::Features => FEATURES_MODEL,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Model::Text => "text model",
            Model::Features => "16-feature model",
        }
    }

    /// `n` input events, JSON, product ids `SKU-0..`.
    fn events(self, n: usize) -> Vec<Vec<u8>> {
        match self {
            Model::Text => {
                let products = text_products(n);
                products
                    .into_iter()
                    .enumerate()
                    .map(|(i, mut event)| {
                        event["product_id"] = serde_json::json!(format!("SKU-{i}"));
                        event.to_string().into_bytes()
                    })
                    .collect()
            }
            Model::Features => (0..n)
                .map(|i| {
                    let features: Vec<f64> = (0..16).map(|j| pseudo_random(i * 16 + j)).collect();
                    serde_json::json!({"product_id": format!("SKU-{i}"), "features": features}).to_string().into_bytes()
                })
                .collect(),
        }
    }

    fn inputs(self, n: usize) -> Vec<ModelInput> {
        match self {
            Model::Text => {
                let products = text_products(n);
                products
                    .iter()
                    .map(|p| {
                        let parts = ["name", "brand", "description"].map(|f| p[f].as_str().unwrap_or("").trim());
                        ModelInput::Text(parts.into_iter().filter(|s| !s.is_empty()).collect::<Vec<_>>().join(" "))
                    })
                    .collect()
            }
            Model::Features => (0..n)
                .map(|i| ModelInput::Features((0..16).map(|j| pseudo_random(i * 16 + j) as f32).collect()))
                .collect(),
        }
    }
}

/// `n` products from ml/tests/real_products.tsv (names of 35-78 characters).
/// `BENCH_DESCRIPTIONS=0.05` gives that share of them an ERP-style
/// description of 200-1,000 characters, as catalogs that fill the field do.
fn text_products(n: usize) -> Vec<serde_json::Value> {
    const WORDS: &str = "produto original com garantia de fabrica nota fiscal alta qualidade compativel medidas \
                         embalagem material resistente acabamento";
    let vocabulary: Vec<&str> = WORDS.split_whitespace().collect();
    let share: f64 = std::env::var("BENCH_DESCRIPTIONS").map_or(0.0, |s| s.parse().expect("BENCH_DESCRIPTIONS=0.05"));
    let products = real_products();
    (0..n)
        .map(|i| {
            let mut product = products[i % products.len()].1.clone();
            if (pseudo_random(i) + 3.0) / 6.0 < share {
                let words = 30 + (pseudo_random(i + 1) + 3.0) as usize * 18;
                let text: Vec<&str> = (0..words).map(|w| vocabulary[(i * 7 + w * 13) % vocabulary.len()]).collect();
                product["description"] = serde_json::json!(text.join(" "));
            }
            product
        })
        .collect()
}

/// A deterministic value in [-3, 3) with four decimals.
fn pseudo_random(seed: usize) -> f64 {
    let x = (seed as u64).wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    ((x >> 33) % 60_000) as f64 / 10_000.0 - 3.0
}

fn timed(n: usize, mut f: impl FnMut(usize)) -> f64 {
    f(0);
    let started = Instant::now();
    let mut done = 0;
    while done < n || started.elapsed() < Duration::from_millis(1500) {
        f(done);
        done += WORKER_BATCH;
    }
    done as f64 / started.elapsed().as_secs_f64()
}

/// ONNX Runtime alone and the app service at the worker's batch, in a child
/// run of this bench (`--model-only <text|features>`): ONNX Runtime allows
/// one environment per process. Runs inside each round, beside the drains,
/// so the ratio to the ceiling compares figures taken under the same load.
fn model_only(model: Model) -> Result<(f64, f64), String> {
    let name = match model {
        Model::Text => "text",
        Model::Features => "features",
    };
    let out = Command::new(std::env::current_exe().expect("bench binary"))
        .args(["--model-only", name])
        .output()
        .map_err(|e| format!("cannot run the model-only child: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let figures: Vec<f64> = text.split_whitespace().filter_map(|w| w.parse().ok()).collect();
    match figures[..] {
        [ceiling, service] => Ok((ceiling, service)),
        _ => Err(format!("{text}{}", String::from_utf8_lossy(&out.stderr))),
    }
}

/// Prints "<ONNX Runtime alone> <app service>" in records/s.
fn model_only_child(model: Model) {
    let (predictor, info) = load_model(&ort_dylib(), &repo().join(model.path()), 1).expect("model");
    let inputs = model.inputs(20_000);
    let refs: Vec<&ModelInput> = inputs.iter().collect();
    let ceiling = timed(refs.len(), |at| {
        let start = at % (refs.len() - WORKER_BATCH);
        predictor.predict(&refs[start..start + WORKER_BATCH]).expect("the model answers");
    });
    let categorizer = Categorizer::new(predictor, info, Settings { review_threshold: 0.5, max_text_chars: 1000 });
    let records: Vec<SourceRecord> = model
        .events(20_000)
        .into_iter()
        .enumerate()
        .map(|(i, v)| SourceRecord {
            topic: "bench".into(),
            partition: 0,
            offset: i as i64,
            key: Some(format!("k{i}").into_bytes()),
            value: Some(v),
        })
        .collect();
    let service = timed(records.len(), |at| {
        let start = at % (records.len() - WORKER_BATCH);
        categorizer
            .categorize(&records[start..start + WORKER_BATCH], time::OffsetDateTime::now_utc())
            .expect("the model answers");
    });
    println!("{ceiling:.0} {service:.0}");
}

async fn fill(topic: &str, values: &[Vec<u8>]) {
    create_topic(topic, PARTITIONS).await;
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("linger.ms", "20")
        .set("queue.buffering.max.messages", "1000000")
        .set("compression.type", "lz4")
        .create()
        .expect("producer");
    let deliveries: Vec<_> = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let key = format!("k{i}");
            producer.send_result(FutureRecord::to(topic).key(&key).payload(v)).map_err(|(e, _)| e).expect("enqueue")
        })
        .collect();
    for delivery in deliveries {
        delivery.await.expect("delivery").map_err(|(e, _)| e).expect("produce");
    }
}

async fn delete_topics(topics: &[String]) {
    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", brokers()).create().expect("admin client");
    let names: Vec<&str> = topics.iter().map(String::as_str).collect();
    // Best effort: a topic the contender never created is fine.
    let _ = admin.delete_topics(&names, &AdminOptions::new()).await;
}

/// Topics that record the broker's append time: the latency run reads it.
async fn create_output(topic: &str) {
    create_topic_with(topic, PARTITIONS, &[("message.timestamp.type", "LogAppendTime")]).await;
}

#[derive(Clone)]
enum Kind {
    /// A build of the worker, with settings beside its defaults.
    Worker(PathBuf, Vec<(&'static str, &'static str)>),
    Python,
    Kcat,
}

#[derive(Clone)]
struct Contender {
    label: String,
    kind: Kind,
}

impl Contender {
    fn family(&self) -> &'static str {
        match self.kind {
            Kind::Worker(..) => "worker",
            Kind::Python => "python",
            Kind::Kcat => "kcat",
        }
    }

    fn start(&self, model: Model, input: &str, output: &str, group: &str) -> Vec<Child> {
        let log = std::env::temp_dir().join(format!("{}.log", unique("bench")));
        let file = std::fs::File::create(&log).expect("log file");
        let err = || Stdio::from(file.try_clone().expect("log file"));
        match &self.kind {
            Kind::Worker(binary, env) => {
                let (mut command, _) = worker(binary, model, input, output, group);
                command.envs(env.iter().copied());
                vec![command.stdout(err()).stderr(err()).spawn().expect("spawn worker")]
            }
            Kind::Python => vec![Command::new(repo().join(".venv/bin/python"))
                .arg(repo().join("benches/python_consumer.py"))
                .args(["--bootstrap", &brokers(), "--input", input, "--output", output, "--group", group])
                .arg("--model")
                .arg(repo().join(model.path()))
                .stdout(err())
                .stderr(err())
                .spawn()
                .expect("spawn python (scripts/setup-python)")],
            Kind::Kcat => {
                let mut consume = Command::new("kcat")
                    .args(["-C", "-b", &brokers(), "-t", input, "-o", "beginning", "-e", "-q", "-K", "\t"])
                    .stdout(Stdio::piped())
                    .stderr(err())
                    .spawn()
                    .expect("spawn kcat (scripts/install-kcat)");
                let pipe = consume.stdout.take().expect("kcat stdout");
                let produce = Command::new("kcat")
                    .args(["-P", "-b", &brokers(), "-t", output, "-K", "\t"])
                    .stdin(pipe)
                    .stderr(err())
                    .spawn()
                    .expect("spawn kcat");
                vec![consume, produce]
            }
        }
    }
}

/// The worker at its default settings, on the bench's topics.
fn worker(binary: &Path, model: Model, input: &str, output: &str, group: &str) -> (Command, std::net::SocketAddr) {
    let http: std::net::SocketAddr = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
        listener.local_addr().expect("port")
    };
    let mut command = Command::new(binary);
    command
        .current_dir(repo())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("KAFKA_BOOTSTRAP_SERVERS", brokers())
        .env("KAFKA_GROUP_ID", group)
        .env("INPUT_TOPIC", input)
        .env("OUTPUT_TOPIC", output)
        .env("DLQ_TOPIC", format!("{output}.dlq"))
        // The bench creates input and output; the worker creates the dead-letter topic.
        .env("CREATE_TOPICS", "true")
        .env("TOPIC_PARTITIONS", PARTITIONS.to_string())
        .env("MODEL_PATH", repo().join(model.path()))
        .env("ORT_DYLIB_PATH", ort_dylib())
        .env("HTTP_ADDR", http.to_string());
    (command, http)
}

/// VmHWM of a live process, in bytes.
fn peak_rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    Some(line.split_whitespace().nth(1)?.parse::<u64>().ok()? * 1024)
}

/// CPU time (user + system, all threads) a live process has used, in seconds.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesized command name; utime and stime are the 12th and 13th.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// Reads high watermarks with one long-lived client.
struct Watermarks(BaseConsumer);

impl Watermarks {
    fn new() -> Self {
        Watermarks(ClientConfig::new().set("bootstrap.servers", brokers()).create().expect("consumer"))
    }

    fn count(&self, topic: &str) -> i64 {
        (0..PARTITIONS)
            .filter_map(|p| self.0.fetch_watermarks(topic, p, Duration::from_secs(5)).ok())
            .map(|w| w.1)
            .sum()
    }
}

struct Drain {
    rate: f64,
    rss: u64,
    /// CPU time per record between the first result and 99%: on a shared
    /// machine it moves far less than the rate does.
    cpu_us: f64,
}

async fn drain(
    contender: &Contender,
    model: Model,
    input: &str,
    records: usize,
    marks: &Watermarks,
) -> Result<Drain, String> {
    let output = unique("bench-out");
    create_output(&output).await;
    let group = unique("bench-group");
    let mut children = contender.start(model, input, &output, &group);
    let target = (records as f64 * 0.99).ceil() as i64;
    let deadline = Instant::now() + DRAIN_TIMEOUT;
    let mut rss = vec![0; children.len()];
    let mut cpu = vec![0.0; children.len()];
    let mut first: Option<(Instant, i64, f64)> = None;
    let result = loop {
        for ((child, peak), cpu) in children.iter().zip(&mut rss).zip(&mut cpu) {
            *peak = peak_rss(child.id()).unwrap_or(*peak);
            *cpu = cpu_seconds(child.id()).unwrap_or(*cpu);
        }
        let count = marks.count(&output);
        let now = Instant::now();
        if count > 0 && first.is_none() {
            first = Some((now, count, cpu.iter().sum()));
        }
        if count >= target {
            let (t0, c0, cpu0) = first.expect("a first result");
            let seconds = now.duration_since(t0).as_secs_f64();
            let records = (count - c0) as f64;
            let cpu_us = (cpu.iter().sum::<f64>() - cpu0) / records * 1e6;
            break match seconds > 0.0 {
                true => Ok(Drain { rate: records / seconds, rss: rss.iter().sum(), cpu_us }),
                false => Err("the whole backlog arrived within one poll: use more --records".into()),
            };
        }
        if children.iter_mut().all(|c| c.try_wait().ok().flatten().is_some()) {
            break Err(format!("{} exited after {count} results", contender.label));
        }
        if now > deadline {
            break Err(format!("{} did not drain within {DRAIN_TIMEOUT:?} ({count} results)", contender.label));
        }
        std::thread::sleep(POLL);
    };
    for child in &mut children {
        let _ = child.kill();
        let _ = child.wait();
    }
    delete_topics(&[output.clone(), format!("{output}.dlq")]).await;
    result
}

fn median(mut values: Vec<f64>) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied()
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn rate(r: Option<f64>) -> String {
    r.map_or("-".into(), |r| format!("{:.1}k/s", r / 1000.0))
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}x", a / b),
        _ => "-".into(),
    }
}

#[derive(Default)]
struct Figures {
    rates: Vec<f64>,
    rss: Vec<f64>,
    cpu_us: Vec<f64>,
}

type Results = BTreeMap<(String, Model), Figures>;

fn table(contenders: &[Contender], results: &Results, records: usize, rounds: usize) {
    let get = |label: &str, model: Model, pick: fn(&Figures) -> &Vec<f64>| {
        results.get(&(label.to_owned(), model)).and_then(|f| median(pick(f).clone()))
    };
    let rates = |label: &str, model: Model| get(label, model, |f| &f.rates);
    println!();
    println!(
        "== drain: {records}-record backlog, {PARTITIONS} partitions, first result to 99%, medians of {rounds} \
         alternating rounds =="
    );
    println!(
        "| contender | text model | 16-feature model | peak RSS text / features | CPU per record text / features |"
    );
    println!("| --- | --- | --- | --- | --- |");
    for c in contenders {
        let mb = |m: Option<f64>| m.map_or("-".into(), |m| format!("{m:.0} MB"));
        let us = |m: Option<f64>| m.map_or("-".into(), |m| format!("{m:.1} us"));
        println!(
            "| {} | {} | {} | {} / {} | {} / {} |",
            c.label,
            rate(rates(&c.label, Model::Text)),
            rate(rates(&c.label, Model::Features)),
            mb(get(&c.label, Model::Text, |f| &f.rss)),
            mb(get(&c.label, Model::Features, |f| &f.rss)),
            us(get(&c.label, Model::Text, |f| &f.cpu_us)),
            us(get(&c.label, Model::Features, |f| &f.cpu_us)),
        );
    }
    println!(
        "| {MODEL_ONLY}, batch {WORKER_BATCH}, 1 thread (the model-only ceiling) | {} | {} | | |",
        rate(rates(MODEL_ONLY, Model::Text)),
        rate(rates(MODEL_ONLY, Model::Features))
    );
    let Some(w) = contenders.iter().find(|c| c.family() == "worker") else { return };
    for other in contenders.iter().filter(|c| c.label != w.label) {
        let t = ratio(rates(&w.label, Model::Text), rates(&other.label, Model::Text));
        let f = ratio(rates(&w.label, Model::Features), rates(&other.label, Model::Features));
        // CPU per record: how many times less CPU the worker spends.
        let ct = ratio(get(&other.label, Model::Text, |f| &f.cpu_us), get(&w.label, Model::Text, |f| &f.cpu_us));
        let cf =
            ratio(get(&other.label, Model::Features, |f| &f.cpu_us), get(&w.label, Model::Features, |f| &f.cpu_us));
        println!("| ratio {} / {} | {t} | {f} | | {ct} / {cf} less CPU |", w.label, other.label);
    }
    let t = ratio(rates(&w.label, Model::Text), rates(MODEL_ONLY, Model::Text));
    let f = ratio(rates(&w.label, Model::Features), rates(MODEL_ONLY, Model::Features));
    println!("| ratio {} / {MODEL_ONLY} | {t} | {f} | | |", w.label);
    let t = ratio(rates(EXACTLY_ONCE, Model::Text), rates(&w.label, Model::Text));
    let f = ratio(rates(EXACTLY_ONCE, Model::Features), rates(&w.label, Model::Features));
    println!("| ratio exactly-once / at-least-once (this build) | {t} | {f} | | |");
}

/// The worker as it ships: `make bench` builds it apart (BENCH_WORKER_BIN),
/// because the one cargo builds beside the tests carries the features the
/// dev-dependencies turn on (serde_json's exact float parsing: 5% more CPU
/// per feature record).
fn this_build() -> PathBuf {
    std::env::var_os("BENCH_WORKER_BIN")
        .map_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_product-categorizer")), PathBuf::from)
}

fn contenders(only: &Option<Vec<String>>) -> Vec<Contender> {
    let this = this_build();
    let mut all = vec![
        Contender { label: "worker (this build)".into(), kind: Kind::Worker(this.clone(), vec![]) },
        Contender { label: EXACTLY_ONCE.into(), kind: Kind::Worker(this.clone(), vec![EXACTLY_ONCE_ENV]) },
    ];
    if std::env::var_os("BENCH_SHADOW").is_some() {
        let shadow = vec![("SHADOW_MODEL_PATH", TEXT_MODEL)];
        all.push(Contender { label: "worker + text shadow".into(), kind: Kind::Worker(this, shadow) });
    }
    // Other builds (or wrapper scripts that set variables and exec a build),
    // separated by ':'.
    let baselines = std::env::var("BENCH_BASELINE_BIN").unwrap_or_default();
    for baseline in baselines.split(':').filter(|b| !b.is_empty()) {
        let name = Path::new(baseline).file_name().map_or(baseline.into(), |n| n.to_string_lossy());
        all.push(Contender { label: format!("worker ({name})"), kind: Kind::Worker(baseline.into(), vec![]) });
    }
    all.push(Contender { label: "Python consumer, batch 500".into(), kind: Kind::Python });
    all.push(Contender { label: "kcat passthrough (kcat -C piped to kcat -P)".into(), kind: Kind::Kcat });
    all.retain(|c| only.as_ref().is_none_or(|only| only.iter().any(|o| o == c.family())));
    all
}

async fn drains(o: &Options, contenders: &[Contender]) -> Results {
    let marks = Watermarks::new();
    let mut backlogs = Vec::new();
    for &model in &o.models {
        let topic = unique("bench-backlog");
        let started = Instant::now();
        fill(&topic, &model.events(o.records)).await;
        println!("filled {topic}: {} {} events in {:.1} s", o.records, model.label(), started.elapsed().as_secs_f64());
        backlogs.push((model, topic));
    }
    let mut results = Results::new();
    for round in 1..=o.rounds {
        println!("round {round} (load average {}):", load_average());
        // Alternate the order too, so no contender always runs first.
        let order: Vec<&Contender> = match round % 2 {
            1 => contenders.iter().collect(),
            _ => contenders.iter().rev().collect(),
        };
        for (model, topic) in &backlogs {
            match model_only(*model) {
                Ok((ceiling, service)) => {
                    println!(
                        "  {:<30} {:<17} {ceiling:>9.0} records/s  (app service: decode, validate, model, result \
                         event: {service:.0})",
                        MODEL_ONLY,
                        model.label()
                    );
                    results.entry((MODEL_ONLY.to_owned(), *model)).or_default().rates.push(ceiling);
                }
                Err(e) => println!("  {MODEL_ONLY:<30} {:<17} FAILED: {e}", model.label()),
            }
            for c in &order {
                match drain(c, *model, topic, o.records, &marks).await {
                    Ok(d) => {
                        println!(
                            "  {:<30} {:<17} {:>9.0} records/s  peak RSS {:>4.0} MB  CPU {:>5.1} us/record",
                            c.label,
                            model.label(),
                            d.rate,
                            d.rss as f64 / 1e6,
                            d.cpu_us
                        );
                        let entry = results.entry((c.label.clone(), *model)).or_default();
                        entry.rates.push(d.rate);
                        entry.rss.push(d.rss as f64 / 1e6);
                        entry.cpu_us.push(d.cpu_us);
                    }
                    Err(e) => println!("  {:<30} {:<17} FAILED: {e}", c.label, model.label()),
                }
            }
        }
    }
    delete_topics(&backlogs.into_iter().map(|(_, t)| t).collect::<Vec<_>>()).await;
    results
}

/// The drain's figures as JSON, for scripts/plot-bench (medians per contender).
fn write_drain_json(dir: &Path, contenders: &[Contender], results: &Results, records: usize, rounds: usize) {
    let get = |label: &str, model: Model, pick: fn(&Figures) -> &Vec<f64>| {
        results.get(&(label.to_owned(), model)).and_then(|f| median(pick(f).clone()))
    };
    let labels = contenders.iter().map(|c| c.label.clone()).chain([MODEL_ONLY.to_owned()]);
    let rows: Vec<serde_json::Value> = labels
        .map(|label| {
            let per_model = |pick: fn(&Figures) -> &Vec<f64>| {
                serde_json::json!({"text": get(&label, Model::Text, pick), "features": get(&label, Model::Features, pick)})
            };
            serde_json::json!({
                "label": label,
                "rate": per_model(|f| &f.rates),
                "peak_rss_mb": per_model(|f| &f.rss),
                "cpu_us_per_record": per_model(|f| &f.cpu_us),
            })
        })
        .collect();
    let json = serde_json::json!({"records": records, "partitions": PARTITIONS, "rounds": rounds, "contenders": rows});
    write_json(&dir.join("drain.json"), &json);
}

fn write_json(path: &Path, value: &serde_json::Value) {
    if let Err(e) = std::fs::write(path, value.to_string()) {
        println!("  (cannot write {}: {e})", path.display());
    }
}

/// Where this run's JSON and plots go: BENCH_OUT, else .run/bench/<unix time>.
fn run_dir() -> PathBuf {
    let dir = std::env::var_os("BENCH_OUT").map_or_else(
        || {
            let secs = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
            repo().join(".run/bench").join(secs.to_string())
        },
        PathBuf::from,
    );
    if let Err(e) = std::fs::create_dir_all(&dir) {
        println!("(cannot create {}: {e}; no plots)", dir.display());
    }
    dir
}

fn percentile(sorted: &[i64], p: f64) -> i64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Who forwards the latency run's records: the worker (text model) under a
/// guarantee, or a librdkafka passthrough (consume -> produce, no model).
#[derive(Clone, Copy)]
enum Forwarder {
    Passthrough,
    Worker(&'static str),
}

impl Forwarder {
    const ALL: [Forwarder; 3] =
        [Forwarder::Passthrough, Forwarder::Worker("at-least-once"), Forwarder::Worker("exactly-once")];

    fn label(self) -> String {
        match self {
            Forwarder::Passthrough => "librdkafka passthrough".into(),
            Forwarder::Worker(guarantee) => format!("worker, {guarantee}"),
        }
    }

    /// The process, and the worker's HTTP address (for its own histogram).
    fn spawn(self, input: &str, output: &str, log: &Path) -> (Child, Option<std::net::SocketAddr>) {
        let group = unique("bench-group");
        let (mut command, http) = match self {
            Forwarder::Passthrough => {
                let mut command = Command::new(std::env::current_exe().expect("the bench binary"));
                command.args(["--passthrough", input, output, &group]).env("KAFKA_BOOTSTRAP_SERVERS", brokers());
                (command, None)
            }
            Forwarder::Worker(guarantee) => {
                // BENCH_LATENCY_BIN: the latency of another build (or settings wrapper).
                let binary = std::env::var_os("BENCH_LATENCY_BIN").map_or_else(this_build, PathBuf::from);
                let (mut command, http) = worker(&binary, Model::Text, input, output, &group);
                command.env(EXACTLY_ONCE_ENV.0, guarantee);
                (command, Some(http))
            }
        };
        let file = std::fs::File::create(log).expect("log file");
        let child = command
            .stdout(Stdio::from(file.try_clone().expect("log")))
            .stderr(Stdio::from(file))
            .spawn()
            .expect("spawn the forwarder");
        (child, http)
    }
}

/// The latency run's passthrough: what a plain librdkafka consume -> produce
/// loop achieves on this broker, with the worker's producer linger (1 ms)
/// and librdkafka's defaults otherwise. Runs until killed.
fn passthrough_child([input, output, group]: [String; 3]) {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("group.id", &group)
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer");
    consumer.subscribe(&[&input]).expect("subscribe");
    let producer: ThreadedProducer<rdkafka::producer::DefaultProducerContext> =
        ClientConfig::new().set("bootstrap.servers", brokers()).set("linger.ms", "1").create().expect("producer");
    loop {
        let Some(Ok(message)) = consumer.poll(Duration::from_millis(100)) else { continue };
        let (key, value) = (message.key().unwrap_or_default(), message.payload().unwrap_or_default());
        while producer.send(BaseRecord::<[u8], [u8]>::to(&output).key(key).payload(value)).is_err() {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// One forwarder's latency at one rate, in ms.
struct Latency {
    rate: f64,
    forwarder: String,
    /// Input append -> result append, sorted.
    appended: Vec<i64>,
    /// The worker's own end_to_end_latency_seconds p50 and p99, from its
    /// histogram (input timestamp -> output acknowledged; warm-up included).
    own: Option<(f64, f64)>,
}

async fn latency(forwarder: Forwarder, rate: f64, seconds: u64, dir: &Path) -> Option<Latency> {
    println!();
    println!(
        "== latency, {}: text events, steady {rate:.0} records/s for {seconds} s: from the input's append time to \
         the result's; from the input's send to the result's append time, and to a read_committed reader seeing it ==",
        forwarder.label()
    );
    let input = unique("bench-latency");
    let output = format!("{input}.out");
    create_output(&input).await;
    create_output(&output).await;
    let log = std::env::temp_dir().join(format!("{}.log", unique("bench-latency")));
    let (mut child, http) = forwarder.spawn(&input, &output, &log);
    let ready_by = Instant::now() + Duration::from_secs(60);
    match http {
        Some(http) => {
            while http_get(http, "/readyz").map(|(s, _)| s) != Some(200) && Instant::now() < ready_by {
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        // No readiness endpoint: 3 s to join its group (it reads from the
        // earliest offset, so a late join only lengthens the warm-up).
        None => std::thread::sleep(Duration::from_secs(3)),
    }
    let expected = Arc::new(AtomicUsize::new(usize::MAX));
    let reader = {
        let (output, expected) = (output.clone(), expected.clone());
        let deadline = Instant::now() + Duration::from_secs(seconds + 90);
        std::thread::spawn(move || read_live(&output, &expected, deadline))
    };
    // The worker's histogram at the end of the warm-up, taken off its final
    // one so that both measurements count the same span.
    let warmed_up = http.map(|http| {
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(1));
            http_get(http, "/metrics").map(|(_, text)| latency_buckets(&text)).unwrap_or_default()
        })
    });
    let Produced { sent, appended: inputs_appended } = produce_steadily(&input, rate, seconds);
    expected.store(sent.len(), Ordering::SeqCst);
    let seen = reader.join().expect("reader");
    let own = http.and_then(|http| http_get(http, "/metrics")).map(|(_, text)| {
        let before = warmed_up.and_then(|t| t.join().ok()).unwrap_or_default();
        own_quantiles(&latency_buckets(&text), &before)
    });
    let rss = peak_rss(child.id()).unwrap_or(0);
    let _ = child.kill();
    let _ = child.wait();
    let warm_up = sent.first().map_or(0, |t| t + 1000);
    let (mut latencies, mut from_send, mut visible) = (Vec::new(), Vec::new(), Vec::new());
    let started = sent.first().copied().unwrap_or(0);
    let mut over_time = Vec::new();
    for (i, appended, seen_at) in &seen {
        let (Some(&sent_at), Some(&Some(input_appended))) = (sent.get(*i), inputs_appended.get(*i)) else { continue };
        if sent_at >= warm_up {
            over_time.push(serde_json::json!([(sent_at - started) as f64 / 1000.0, appended - input_appended]));
            latencies.push(appended - input_appended);
            from_send.push(appended - sent_at);
            visible.push(seen_at - sent_at);
        }
    }
    delete_topics(&[input.clone(), output.clone(), format!("{output}.dlq")]).await;
    if let Forwarder::Worker(guarantee) = forwarder {
        let json = serde_json::json!({"guarantee": guarantee, "rate": rate, "seconds": seconds, "results": over_time});
        write_json(&dir.join(format!("latency-{guarantee}-{rate:.0}.json")), &json);
    }
    for l in [&mut latencies, &mut from_send, &mut visible] {
        l.sort_unstable();
    }
    if latencies.is_empty() {
        println!("  no results (log: {})", log.display());
        return None;
    }
    println!(
        "  sent {} ({:.0}/s), results counted {} (after 1 s warm-up), peak RSS {:.0} MB",
        sent.len(),
        sent.len() as f64 / seconds as f64,
        latencies.len(),
        rss as f64 / 1e6
    );
    for (what, l) in [
        ("input appended -> result appended", &latencies),
        ("input sent     -> result appended", &from_send),
        ("input sent     -> result visible ", &visible),
    ] {
        println!("  {what}: {}", percentiles(l));
    }
    if let Some((p50, p99)) = own {
        println!(
            "  the worker's own histogram after the warm-up (input timestamp -> output acknowledged, interpolated \
             in its buckets): p50 {p50:.1} ms   p99 {p99:.1} ms"
        );
    }
    Some(Latency { rate, forwarder: forwarder.label(), appended: latencies, own })
}

fn percentiles(sorted: &[i64]) -> String {
    format!(
        "p50 {} ms   p90 {} ms   p99 {} ms   p99.9 {} ms   max {} ms",
        percentile(sorted, 0.5),
        percentile(sorted, 0.9),
        percentile(sorted, 0.99),
        percentile(sorted, 0.999),
        sorted[sorted.len() - 1]
    )
}

/// The cumulative buckets of the worker's end-to-end histogram: (le, count).
fn latency_buckets(metrics: &str) -> Vec<(f64, f64)> {
    metrics
        .lines()
        .filter_map(|line| line.strip_prefix("categorizer_end_to_end_latency_seconds_bucket{le=\""))
        .filter_map(|rest| {
            let (le, count) = rest.split_once("\"} ")?;
            let le = if le == "+Inf" { f64::INFINITY } else { le.parse().ok()? };
            Some((le, count.trim().parse().ok()?))
        })
        .collect()
}

/// p50 and p99, in ms, of what the histogram counted between `before` and
/// `after`, interpolated within buckets as Prometheus's histogram_quantile does.
fn own_quantiles(after: &[(f64, f64)], before: &[(f64, f64)]) -> (f64, f64) {
    let buckets: Vec<(f64, f64)> =
        after.iter().map(|&(le, count)| (le, count - before.iter().find(|b| b.0 == le).map_or(0.0, |b| b.1))).collect();
    let quantile = |q: f64| {
        let total = buckets.last().map_or(0.0, |b| b.1);
        let rank = q * total;
        let (mut lower, mut below) = (0.0, 0.0);
        for &(le, count) in &buckets {
            if count >= rank {
                if le.is_infinite() {
                    return lower * 1000.0;
                }
                let share = if count > below { (rank - below) / (count - below) } else { 0.0 };
                return (lower + (le - lower) * share) * 1000.0;
            }
            (lower, below) = (le, count);
        }
        f64::NAN
    };
    (quantile(0.5), quantile(0.99))
}

/// Every rate's figures side by side, the worker's p99 as a multiple of the
/// passthrough's at the same rate; and latency-summary.json for the plot.
fn latency_table(runs: &[Latency], dir: &Path) {
    println!();
    println!("## Latency, input appended -> result appended (ms), text events, after 1 s warm-up");
    println!();
    println!("| rate | forwarder | p50 | p90 | p99 | p99.9 | max | worker's own p50 / p99 | p99 / passthrough p99 |");
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    let mut rows = Vec::new();
    for run in runs {
        let l = &run.appended;
        let passthrough = runs
            .iter()
            .find(|r| r.rate == run.rate && r.forwarder == Forwarder::Passthrough.label())
            .map(|r| percentile(&r.appended, 0.99));
        let p99 = percentile(l, 0.99);
        let ratio = match passthrough {
            Some(base) if run.forwarder != Forwarder::Passthrough.label() => {
                format!("{:.1}x", p99 as f64 / base.max(1) as f64)
            }
            _ => "-".into(),
        };
        let own = run.own.map_or("-".into(), |(p50, p99)| format!("{p50:.1} / {p99:.1}"));
        println!(
            "| {:.0}/s | {} | {} | {} | {p99} | {} | {} | {own} | {ratio} |",
            run.rate,
            run.forwarder,
            percentile(l, 0.5),
            percentile(l, 0.9),
            percentile(l, 0.999),
            l[l.len() - 1]
        );
        rows.push(serde_json::json!({
            "rate": run.rate, "forwarder": run.forwarder,
            "p50": percentile(l, 0.5), "p90": percentile(l, 0.9), "p99": p99,
            "p999": percentile(l, 0.999), "max": l[l.len() - 1],
        }));
    }
    write_json(&dir.join("latency-summary.json"), &serde_json::json!({"runs": rows}));
}

fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// Per input record (by index): when the bench handed it to its producer,
/// and its broker append time from the delivery report (None if it failed).
struct Produced {
    sent: Vec<i64>,
    appended: Vec<Option<i64>>,
}

/// Keeps each record's append time from its delivery report: librdkafka
/// reports the broker's time on a LogAppendTime topic.
#[derive(Default)]
struct AppendTimes(Mutex<Vec<Option<i64>>>);

impl ClientContext for AppendTimes {}

impl ProducerContext for AppendTimes {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, index: usize) {
        let Ok(message) = result else { return };
        let mut times = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if times.len() <= index {
            times.resize(index + 1, None);
        }
        times[index] = message.timestamp().to_millis();
    }
}

/// Sends record `i` (key `L<i>`) when `i / rate` seconds have passed.
/// linger.ms=5, not less: at 1 ms the producer sent ~1,900 requests/s, which
/// the broker (on the same 2 cores) queued for 0.1-5 s under load, so inputs
/// reached the broker long after their send time and the worker was charged
/// for it.
fn produce_steadily(topic: &str, rate: f64, seconds: u64) -> Produced {
    let producer: ThreadedProducer<AppendTimes> = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("linger.ms", "5")
        .set("queue.buffering.max.messages", "1000000")
        .create_with_context(AppendTimes::default())
        .expect("producer");
    let values = Model::Text.events(10_000);
    let mut sent = Vec::with_capacity((rate * seconds as f64) as usize + 1);
    let started = Instant::now();
    let length = Duration::from_secs(seconds);
    while started.elapsed() < length {
        let due = (started.elapsed().as_secs_f64() * rate) as usize;
        while sent.len() < due {
            let i = sent.len();
            let key = format!("L{i}");
            let ts = now_ms();
            let record =
                BaseRecord::with_opaque_to(topic, i).key(&key).payload(&values[i % values.len()]).timestamp(ts);
            match producer.send(record) {
                Ok(()) => sent.push(ts),
                Err(_) => std::thread::sleep(Duration::from_millis(1)),
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let _ = producer.flush(Duration::from_secs(30));
    let mut appended = std::mem::take(&mut *producer.context().0.lock().unwrap_or_else(PoisonError::into_inner));
    appended.resize(sent.len(), None);
    Produced { sent, appended }
}

/// Reads the results as they become visible (read_committed, librdkafka's
/// default) until `expected` are seen or `deadline`: per result, the index
/// of its input (key `L<i>`), its append time and when it was seen.
fn read_live(output: &str, expected: &AtomicUsize, deadline: Instant) -> Vec<(usize, i64, i64)> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("group.id", unique("bench-reader"))
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "10")
        .create()
        .expect("consumer");
    let mut list = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        list.add_partition_offset(output, p, Offset::Beginning).expect("partition");
    }
    consumer.assign(&list).expect("assign");
    let mut seen = Vec::new();
    while seen.len() < expected.load(Ordering::SeqCst) && Instant::now() < deadline {
        let Some(Ok(message)) = consumer.poll(Duration::from_millis(100)) else { continue };
        let visible = now_ms();
        let index = message
            .key()
            .and_then(|k| std::str::from_utf8(k).ok())
            .and_then(|k| k.strip_prefix('L'))
            .and_then(|i| i.parse::<usize>().ok());
        if let (Some(index), Some(appended)) = (index, message.timestamp().to_millis()) {
            seen.push((index, appended, visible));
        }
    }
    seen
}

#[tokio::main]
async fn main() {
    let o = options();
    if let Some(model) = o.model_only {
        return model_only_child(model);
    }
    if let Some(topics) = o.passthrough {
        return passthrough_child(topics);
    }
    println!("load average at start: {}", load_average());
    let dir = run_dir();
    let contenders = contenders(&o.only);
    let results = drains(&o, &contenders).await;
    table(&contenders, &results, o.records, o.rounds);
    write_drain_json(&dir, &contenders, &results, o.records, o.rounds);
    println!("load average at end of drains: {}", load_average());
    let worker_text =
        results.get(&("worker (this build)".to_owned(), Model::Text)).and_then(|r| median(r.rates.clone()));
    let mut rates: Vec<f64> = o.latency_rates.iter().filter_map(|r| r.or(worker_text.map(|w| w / 2.0))).collect();
    rates.sort_by(f64::total_cmp);
    rates.dedup();
    if o.latency_secs == 0 || rates.is_empty() {
        println!("(no latency run: give --latency-rates or include the worker)");
    }
    let mut runs = Vec::new();
    for rate in rates.into_iter().filter(|_| o.latency_secs > 0) {
        for forwarder in Forwarder::ALL {
            runs.extend(latency(forwarder, rate, o.latency_secs, &dir).await);
        }
    }
    if !runs.is_empty() {
        latency_table(&runs, &dir);
    }
    println!("load average at end: {}", load_average());
    // Pictures next to the tables: throughput per contender, latency over time.
    match Command::new(repo().join("scripts/plot-bench")).arg(&dir).status() {
        Ok(status) if status.success() => {}
        other => println!("(no plots: scripts/plot-bench {}: {other:?})", dir.display()),
    }
}
