//! Shared helpers for integration tests: a real broker (started by
//! `make test`, at KAFKA_BOOTSTRAP_SERVERS), the real worker binary, the real
//! models and ONNX Runtime.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, OwnedHeaders, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

pub const TEXT_MODEL: &str = "model/product_category.onnx";
pub const FEATURES_MODEL: &str = "model/product_category_features.onnx";

pub fn brokers() -> String {
    std::env::var("KAFKA_BOOTSTRAP_SERVERS").unwrap_or_else(|_| "127.0.0.1:9092".into())
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A name no other test (or earlier run) uses.
pub fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("{prefix}-{}-{}-{}", std::process::id(), nanos % 1_000_000_000, COUNTER.fetch_add(1, Ordering::SeqCst))
}

/// Topics and group of one test.
#[derive(Clone)]
pub struct Topics {
    pub input: String,
    pub output: String,
    pub dlq: String,
    pub group: String,
}

impl Topics {
    pub fn new(test: &str) -> Self {
        let base = unique(test);
        Topics {
            input: format!("{base}.in"),
            output: format!("{base}.out"),
            dlq: format!("{base}.dlq"),
            group: format!("{base}.group"),
        }
    }

    /// Creates the input topic with `partitions` (the worker creates the rest).
    pub async fn create_input(&self, partitions: i32) {
        create_topic(&self.input, partitions).await;
    }
}

pub async fn create_topic(name: &str, partitions: i32) {
    create_topic_with(name, partitions, &[]).await;
}

/// A topic with topic-level settings, e.g. `max.message.bytes`.
pub async fn create_topic_with(name: &str, partitions: i32, settings: &[(&str, &str)]) {
    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", brokers()).create().expect("admin client");
    let mut topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    for (key, value) in settings {
        topic = topic.set(key, value);
    }
    let results = admin.create_topics([&topic], &AdminOptions::new()).await.expect("create topic");
    for r in results {
        r.expect("topic created");
    }
}

/// Panics unless `instance` is valid against `docs/schemas/<name>.schema.json`
/// (the event formats the docs promise), listing every violation.
pub fn assert_schema(name: &str, instance: &serde_json::Value) {
    let path = repo().join("docs/schemas").join(format!("{name}.schema.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let schema: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let validator = jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let errors: Vec<String> =
        validator.iter_errors(instance).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(errors.is_empty(), "not a valid {name}: {errors:#?}\n{instance:#}");
}

/// A dead letter's headers as the JSON object the dead-letter schema describes.
pub fn headers_object(message: &OwnedMessage) -> serde_json::Value {
    use rdkafka::message::Headers;
    let mut object = serde_json::Map::new();
    if let Some(headers) = message.headers() {
        for header in headers.iter() {
            let value = header.value.map(|v| String::from_utf8_lossy(v).into_owned()).unwrap_or_default();
            object.insert(header.key.to_owned(), serde_json::Value::String(value));
        }
    }
    serde_json::Value::Object(object)
}

/// Deletes a topic and waits until the broker has it gone.
pub async fn delete_topic(name: &str) {
    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", brokers()).create().expect("admin client");
    let results = admin.delete_topics(&[name], &AdminOptions::new()).await.expect("delete topic");
    for r in results {
        r.expect("topic deleted");
    }
    // The controller has accepted the deletion; the broker applies it a little
    // later, and until then a write to the topic still succeeds. Wait until
    // the broker's metadata no longer holds the topic.
    let client: BaseConsumer = ClientConfig::new().set("bootstrap.servers", brokers()).create().expect("consumer");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let metadata = client.fetch_metadata(Some(name), Duration::from_secs(5)).expect("metadata");
        if metadata.topics().iter().all(|t| t.name() != name || t.error().is_some() || t.partitions().is_empty()) {
            return;
        }
        assert!(Instant::now() < deadline, "topic {name} still in the broker's metadata 30 s after its deletion");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A running worker process; killed on drop so no test leaves one behind.
pub struct Worker {
    pub child: Option<Child>,
    pub http: SocketAddr,
    pub log: PathBuf,
}

pub fn ort_dylib() -> PathBuf {
    if let Ok(path) = std::env::var("ORT_DYLIB_PATH") {
        return PathBuf::from(path);
    }
    let capi = repo().join(".venv/lib/python3.11/site-packages/onnxruntime/capi");
    std::fs::read_dir(&capi)
        .ok()
        .and_then(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("libonnxruntime.so.")))
        })
        .unwrap_or_else(|| {
            panic!("no libonnxruntime.so in {}; run scripts/setup-python or set ORT_DYLIB_PATH", capi.display())
        })
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub fn worker_command(topics: &Topics, model: &str, extra_env: &[(&str, &str)]) -> (Command, SocketAddr, PathBuf) {
    worker_command_of(Path::new(env!("CARGO_BIN_EXE_product-categorizer")), topics, model, extra_env)
}

/// `binary` (the worker, or one of its commands) with nothing of this
/// environment but PATH, on the test broker and `topics`' group, input and
/// dead-letter topic.
pub fn command_on(binary: &Path, topics: &Topics) -> Command {
    let mut command = Command::new(binary);
    command
        .current_dir(repo())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("KAFKA_BOOTSTRAP_SERVERS", brokers())
        .env("KAFKA_GROUP_ID", &topics.group)
        .env("INPUT_TOPIC", &topics.input)
        .env("DLQ_TOPIC", &topics.dlq);
    command
}

/// The same for another build of the worker (the benchmark's baseline).
pub fn worker_command_of(
    binary: &Path,
    topics: &Topics,
    model: &str,
    extra_env: &[(&str, &str)],
) -> (Command, SocketAddr, PathBuf) {
    let http: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let log = std::env::temp_dir().join(format!("{}.log", unique("worker")));
    let mut command = command_on(binary, topics);
    command
        .env("OUTPUT_TOPIC", &topics.output)
        // Most tests let the worker create the topics it does not find
        // (the binary's default is CREATE_TOPICS=false); some set it back.
        .env("CREATE_TOPICS", "true")
        .env("TOPIC_PARTITIONS", "3")
        .env("MODEL_PATH", repo().join(model))
        .env("ORT_DYLIB_PATH", ort_dylib())
        .env("HTTP_ADDR", http.to_string())
        // Quick failover when a test kills a worker, quick lag samples.
        .env("KAFKA_SESSION_TIMEOUT_MS", "6000")
        .env("KAFKA_HEARTBEAT_INTERVAL_MS", "500")
        .env("KAFKA_STATISTICS_INTERVAL_MS", "1000")
        .env("KAFKA_AUTO_COMMIT_INTERVAL_MS", "500")
        .env("RUST_LOG", "info,ort=warn,product_categorizer=debug");
    for (k, v) in extra_env {
        command.env(k, v);
    }
    (command, http, log)
}

impl Worker {
    /// Starts the worker and waits until /readyz says ready.
    pub fn start(topics: &Topics, model: &str, extra_env: &[(&str, &str)]) -> Worker {
        Worker::start_command(worker_command(topics, model, extra_env))
    }

    pub fn start_command((mut command, http, log): (Command, SocketAddr, PathBuf)) -> Worker {
        let file = std::fs::File::create(&log).unwrap();
        let child = command
            .stdout(Stdio::from(file.try_clone().unwrap()))
            .stderr(Stdio::from(file))
            .spawn()
            .expect("spawn worker");
        let mut worker = Worker { child: Some(child), http, log };
        worker.wait_ready(Duration::from_secs(60));
        worker
    }

    fn wait_ready(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("worker exited with {status} before ready:\n{}", self.log_text());
            }
            if http_get(self.http, "/readyz").map(|(status, _)| status) == Some(200) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("worker not ready within {timeout:?}:\n{}", self.log_text());
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn metrics(&self) -> String {
        http_get(self.http, "/metrics").map(|(_, body)| body).unwrap_or_default()
    }

    /// Sum of a metric's samples whose line contains every `label` fragment.
    pub fn metric(&self, name: &str, labels: &[&str]) -> f64 {
        metric_value(&self.metrics(), name, labels)
    }

    pub fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().unwrap().id().to_string();
        let status = Command::new("kill").args([&format!("-{signal}"), &pid]).status().unwrap();
        assert!(status.success());
    }

    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        let child = self.child.as_mut().unwrap();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                self.child = None;
                return status;
            }
            assert!(Instant::now() < deadline, "worker did not exit within {timeout:?}:\n{}", self.log_text());
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub fn metric_value(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.split(['{', ' ']).next() == Some(name))
        .filter(|l| labels.iter().all(|label| l.contains(label)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// A minimal HTTP/1.0 GET: status and body.
pub fn http_get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split(' ').nth(1)?.parse().ok()?;
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    Some((status, body))
}

pub fn producer() -> FutureProducer {
    // Room for the near-limit records of the size tests.
    ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("linger.ms", "5")
        .set("message.max.bytes", "1048576")
        .create()
        .expect("producer")
}

/// One record to produce.
#[derive(Clone, Default)]
pub struct Input {
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(String, Vec<u8>)>,
    pub partition: Option<i32>,
}

impl Input {
    pub fn json(key: &str, value: serde_json::Value) -> Self {
        Input { key: Some(key.into()), value: Some(value.to_string().into_bytes()), ..Default::default() }
    }
}

/// Produces the records, in order; returns (partition, offset) of each.
pub async fn produce(topic: &str, inputs: &[Input]) -> Vec<(i32, i64)> {
    let producer = producer();
    // Enqueue all, then wait for every acknowledgement.
    let deliveries: Vec<_> = inputs
        .iter()
        .map(|input| {
            let mut headers = OwnedHeaders::new();
            for (k, v) in &input.headers {
                headers = headers.insert(Header { key: k, value: Some(v) });
            }
            let mut record: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(topic).headers(headers);
            if let Some(k) = &input.key {
                record = record.key(k);
            }
            if let Some(v) = &input.value {
                record = record.payload(v);
            }
            if let Some(p) = input.partition {
                record = record.partition(p);
            }
            producer.send_result(record).map_err(|(e, _)| e).expect("enqueue")
        })
        .collect();
    let mut positions = Vec::with_capacity(deliveries.len());
    for delivery in deliveries {
        let delivery = delivery.await.expect("delivery").map_err(|(e, _)| e).expect("produce");
        positions.push((delivery.partition, delivery.offset));
    }
    positions
}

/// Reads `topic` from the beginning until `count` records arrived or
/// `timeout` passed.
pub fn consume(topic: &str, count: usize, timeout: Duration) -> Vec<OwnedMessage> {
    consume_until(topic, timeout, |messages| messages.len() >= count)
}

/// Reads `topic` from the beginning until `done` says so or `timeout` passed.
pub fn consume_until(
    topic: &str,
    timeout: Duration,
    mut done: impl FnMut(&[OwnedMessage]) -> bool,
) -> Vec<OwnedMessage> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("group.id", unique("reader"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    let deadline = Instant::now() + timeout;
    let mut messages = Vec::new();
    while !done(&messages) && Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => messages.push(m.detach()),
            Some(Err(e)) => eprintln!("consume {topic}: {e}"),
            None => {}
        }
    }
    messages
}

/// Committed offset of each partition of `topic` for `group`.
pub fn committed(group: &str, topic: &str, partitions: i32) -> HashMap<i32, i64> {
    let consumer: BaseConsumer =
        ClientConfig::new().set("bootstrap.servers", brokers()).set("group.id", group).create().expect("consumer");
    let mut list = TopicPartitionList::new();
    for p in 0..partitions {
        list.add_partition(topic, p);
    }
    let committed = consumer.committed_offsets(list, Duration::from_secs(10)).expect("committed offsets");
    committed
        .elements()
        .iter()
        .map(|e| (e.partition(), if let Offset::Offset(o) = e.offset() { o } else { -1 }))
        .collect()
}

/// High watermark of each partition.
pub fn end_offsets(topic: &str, partitions: i32) -> HashMap<i32, i64> {
    try_end_offsets(topic, partitions).expect("watermarks")
}

/// High watermark of each partition; an error while the topic is still being created.
pub fn try_end_offsets(topic: &str, partitions: i32) -> rdkafka::error::KafkaResult<HashMap<i32, i64>> {
    let consumer: BaseConsumer = ClientConfig::new().set("bootstrap.servers", brokers()).create()?;
    (0..partitions).map(|p| Ok((p, consumer.fetch_watermarks(topic, p, Duration::from_secs(10))?.1))).collect()
}

pub fn header<'a>(message: &'a OwnedMessage, name: &str) -> Option<&'a str> {
    use rdkafka::message::Headers;
    message.headers()?.iter().find(|h| h.key == name).and_then(|h| std::str::from_utf8(h.value?).ok())
}

pub fn json(message: &OwnedMessage) -> serde_json::Value {
    serde_json::from_slice(message.payload().expect("payload")).expect("JSON payload")
}

/// Hand-written real product names with their expected category
/// (ml/tests/real_products.tsv: category, name, brand, description).
pub fn real_products() -> Vec<(String, serde_json::Value)> {
    let path = repo().join("ml/tests/real_products.tsv");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#') && !l.starts_with("category\t"))
        .map(|line| {
            let cols: Vec<&str> = line.split('\t').collect();
            let field = |i: usize| cols.get(i).copied().unwrap_or("").to_owned();
            (field(0), serde_json::json!({"name": field(1), "brand": field(2), "description": field(3)}))
        })
        .collect()
}

pub fn exists(path: &str) -> bool {
    Path::new(&repo().join(path)).exists()
}
