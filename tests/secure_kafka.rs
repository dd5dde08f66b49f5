//! The worker on the secured local broker (`scripts/local-kafka start
//! --secure`, as `make test` starts it): SASL/SCRAM-SHA-512 over TLS, ACLs
//! enforced. It categorizes end to end with exactly the ACLs the README
//! lists; each misconfiguration (wrong password, unknown user, untrusted CA,
//! plaintext client on the TLS port, a value librdkafka rejects, no WRITE on
//! the dead-letter topic) ends in a clear error and a non-zero exit in
//! bounded time; and none of them lets the password appear in anything the
//! worker writes: its output at trace level (librdkafka's debug too),
//! `/metrics`, `/readyz`, `--help`.

mod common;

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;
use serde_json::json;

/// A failed start-up must end well within this (it takes about 2 s).
const EXIT_BOUND: Duration = Duration::from_secs(20);

fn kafka_dir() -> PathBuf {
    std::env::var_os("LOCAL_KAFKA_DIR").map_or_else(|| repo().join(".run/kafka"), PathBuf::from)
}

/// The variables of a `secure*.env` file written by `scripts/local-kafka start --secure`.
fn secure_env(file: &str) -> HashMap<String, String> {
    let path = kafka_dir().join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!("{}: {e}; start the broker with `scripts/local-kafka start --secure` (make test does)", path.display())
    });
    text.lines()
        .filter_map(|line| line.strip_prefix("export ")?.split_once('='))
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect()
}

fn worker_identity() -> HashMap<String, String> {
    secure_env("secure.env")
}

/// A client of the admin (super user) over SASL_SSL.
fn admin_client() -> ClientConfig {
    let admin = secure_env("secure-admin.env");
    let mut config = ClientConfig::new();
    for (variable, property) in [
        ("KAFKA_BOOTSTRAP_SERVERS", "bootstrap.servers"),
        ("KAFKA_SECURITY_PROTOCOL", "security.protocol"),
        ("KAFKA_SASL_MECHANISM", "sasl.mechanism"),
        ("KAFKA_SASL_USERNAME", "sasl.username"),
        ("KAFKA_SASL_PASSWORD", "sasl.password"),
        ("KAFKA_SSL_CA_LOCATION", "ssl.ca.location"),
    ] {
        config.set(property, &admin[variable]);
    }
    config
}

/// Runs `scripts/local-kafka secure-admin` (users, topics, ACLs as the admin).
fn secure_admin(instructions: &str) {
    let mut child = Command::new(repo().join("scripts/local-kafka"))
        .arg("secure-admin")
        .current_dir(repo())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run scripts/local-kafka secure-admin");
    child.stdin.take().unwrap().write_all(instructions.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "secure-admin failed:\n{}", String::from_utf8_lossy(&output.stderr));
}

async fn produce_as_admin(topic: &str, records: &[(&str, String)]) {
    let producer: FutureProducer = admin_client().create().expect("admin producer");
    for (key, value) in records {
        producer
            .send(FutureRecord::to(topic).key(*key).payload(value), Duration::from_secs(30))
            .await
            .map_err(|(error, _)| error)
            .expect("produce as admin");
    }
}

/// Reads `topic` as the admin until a record with `key` arrives.
fn find_as_admin(topic: &str, key: &str, timeout: Duration) -> Option<rdkafka::message::OwnedMessage> {
    use rdkafka::Message;
    let consumer: BaseConsumer = admin_client()
        .set("group.id", unique("secure-reader"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("admin consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Some(Ok(message)) = consumer.poll(Duration::from_millis(200)) {
            if message.key() == Some(key.as_bytes()) {
                return Some(message.detach());
            }
        }
    }
    None
}

/// The worker's command with `identity` as its Kafka settings.
fn secure_worker(topics: &Topics, identity: &HashMap<String, String>, extra: &[(&str, &str)]) -> Worker {
    let mut env: Vec<(&str, &str)> = identity.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    env.extend_from_slice(extra);
    let (mut command, http, log) = worker_command(topics, TEXT_MODEL, &env);
    let file = std::fs::File::create(&log).unwrap();
    let child =
        command.stdout(Stdio::from(file.try_clone().unwrap())).stderr(Stdio::from(file)).spawn().expect("spawn");
    Worker { child: Some(child), http, log }
}

/// Everything a worker wrote: its output, and what `/metrics` and `/readyz`
/// said while it ran.
struct Written {
    status: std::process::ExitStatus,
    took: Duration,
    output: String,
    http: String,
}

/// Waits for the worker to exit, reading `/metrics` and `/readyz` meanwhile.
fn run_to_exit(mut worker: Worker, bound: Duration) -> Written {
    let started = Instant::now();
    let mut http = String::new();
    let status = loop {
        if let Some(status) = worker.child.as_mut().unwrap().try_wait().unwrap() {
            worker.child = None;
            break status;
        }
        assert!(started.elapsed() < bound, "still running after {bound:?}:\n{}", tail(&worker.log_text()));
        for path in ["/metrics", "/readyz"] {
            if let Some((code, body)) = http_get(worker.http, path) {
                http.push_str(&format!("{path} {code}\n{body}"));
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    Written { status, took: started.elapsed(), output: worker.log_text(), http }
}

/// The message `main` prints last (`error: ...`, maybe several lines).
fn error_message(output: &str) -> &str {
    output.rfind("\nerror: ").map_or("(no error message)", |at| output[at + 1..].trim_end())
}

fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// `--help` as the worker would print it with this environment.
fn help_with(identity: &HashMap<String, String>, extra: &[(&str, &str)]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_product-categorizer"))
        .arg("--help")
        .env_clear()
        .envs(identity.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .envs(extra.iter().copied())
        .output()
        .expect("--help");
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

/// A worker with `identity` + `extra`, at trace level with librdkafka's own
/// debug output on, must exit non-zero within [`EXIT_BOUND`] naming `cause`,
/// and `secret` must appear nowhere in what it wrote.
fn assert_fails_clearly(
    name: &str,
    identity: &HashMap<String, String>,
    extra: &[(&str, &str)],
    cause: &str,
    secret: &str,
) {
    let topics = Topics::new(name);
    let mut env = vec![("RUST_LOG", "trace"), ("KAFKA_DEBUG", "all")];
    env.extend_from_slice(extra);
    let written = run_to_exit(secure_worker(&topics, identity, &env), EXIT_BOUND + Duration::from_secs(10));
    let error = error_message(&written.output);
    eprintln!(
        "{name}: {} after {:.1?} ({} bytes of output): {error}",
        written.status,
        written.took,
        written.output.len()
    );
    assert!(!written.status.success(), "{name}: {}\n{}", written.status, tail(&written.output));
    assert!(written.took < EXIT_BOUND, "{name}: took {:?}", written.took);
    assert!(error.contains(cause), "{name}: {cause:?} not in the error message {error:?}");
    assert_no_secret(name, secret, &written, identity, extra);
}

fn assert_no_secret(
    name: &str,
    secret: &str,
    written: &Written,
    identity: &HashMap<String, String>,
    extra: &[(&str, &str)],
) {
    assert!(secret.len() >= 8, "a recognizable secret");
    for (what, text) in
        [("output", written.output.as_str()), ("HTTP", written.http.as_str()), ("--help", &help_with(identity, extra))]
    {
        assert!(!text.contains(secret), "{name}: the password appears in the worker's {what}");
    }
}

/// A password no log line could contain by chance.
fn canary() -> String {
    format!("Canary-{}", unique("pw").replace('-', ""))
}

/// The ACLs of `principal`: (resource type, resource name, operation), as
/// Kafka's own AclCommand lists them to the admin.
fn acls_of(principal: &str) -> Vec<(String, String, String)> {
    let bootstrap = &secure_env("secure-admin.env")["KAFKA_BOOTSTRAP_SERVERS"];
    let config = kafka_dir().join("secure/admin.properties");
    let output = Command::new(repo().join("scripts/kafka-tool"))
        .args(["org.apache.kafka.tools.AclCommand", "--bootstrap-server", bootstrap, "--command-config"])
        .arg(&config)
        .args(["--list", "--principal", principal])
        .current_dir(repo())
        .output()
        .expect("run AclCommand");
    assert!(output.status.success(), "AclCommand: {}", String::from_utf8_lossy(&output.stderr));
    let field = |text: &str, name: &str| {
        text.split(&format!("{name}=")).nth(1).and_then(|rest| rest.split([',', ')']).next()).map(str::to_owned)
    };
    let mut resource = None;
    let mut acls = Vec::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        if line.starts_with("Current ACLs for resource") {
            resource = field(line, "resourceType").zip(field(line, "name"));
        } else if let (Some((kind, name)), Some(operation)) = (&resource, field(line, "operation")) {
            acls.push((kind.clone(), name.clone(), operation));
        }
    }
    acls.sort();
    acls
}

/// The worker categorizes over SASL_SSL with only the ACLs the script gives
/// it (checked as Kafka lists them), on the default topics and group, from
/// `secure.env` as the README says; Kubernetes service-link variables do not
/// stop it.
#[tokio::test(flavor = "multi_thread")]
async fn the_worker_categorizes_over_sasl_ssl_with_only_its_acls() {
    let acl = |kind: &str, name: &str, operation: &str| (kind.to_owned(), name.to_owned(), operation.to_owned());
    let mut expected = vec![
        acl("TOPIC", "product-created", "READ"),
        acl("GROUP", "product-categorizer", "READ"),
        acl("TOPIC", "product-categorized", "WRITE"),
        acl("TOPIC", "product-categorized", "DESCRIBE"),
        acl("TOPIC", "product-created.dlq", "WRITE"),
        acl("TOPIC", "product-created.dlq", "DESCRIBE"),
    ];
    expected.sort();
    assert_eq!(acls_of("User:worker"), expected, "the worker's ACLs, and nothing else");
    let identity = worker_identity();
    // The defaults: what the script's ACLs name.
    let topics = Topics {
        input: "product-created".into(),
        output: "product-categorized".into(),
        dlq: "product-created.dlq".into(),
        group: "product-categorizer".into(),
    };
    let service_links =
        [("KAFKA_PORT", "tcp://10.0.0.7:9092"), ("KAFKA_SERVICE_HOST", "10.0.0.7"), ("KAFKA_SERVICE_PORT", "9092")];
    let mut worker = secure_worker(&topics, &identity, &service_links);
    let deadline = Instant::now() + Duration::from_secs(60);
    while http_get(worker.http, "/readyz").map(|(status, _)| status) != Some(200) {
        assert!(worker.child.as_mut().unwrap().try_wait().unwrap().is_none(), "exited:\n{}", worker.log_text());
        assert!(Instant::now() < deadline, "not ready:\n{}", tail(&worker.log_text()));
        std::thread::sleep(Duration::from_millis(100));
    }
    let good = unique("secure-ok");
    let bad = unique("secure-bad");
    produce_as_admin(
        &topics.input,
        &[
            (
                &good,
                json!({"product_id": good, "name": "Pastilha de freio dianteira Gol G5", "brand": "Cobreq"})
                    .to_string(),
            ),
            (&bad, "not json".to_owned()),
        ],
    )
    .await;
    let result = find_as_admin(&topics.output, &good, Duration::from_secs(60)).expect("a result over SASL_SSL");
    assert_eq!(json(&result)["category"]["code"], json!("AUTOPECAS"));
    let dead = find_as_admin(&topics.dlq, &bad, Duration::from_secs(60)).expect("a dead letter over SASL_SSL");
    assert_eq!(header(&dead, "dlq.reason"), Some("invalid_json"));

    let log = worker.log_text();
    for variable in ["KAFKA_PORT", "KAFKA_SERVICE_HOST", "KAFKA_SERVICE_PORT"] {
        assert!(
            log.contains(&format!("ignored: a KAFKA_* variable that names no librdkafka property variable={variable}"))
        );
    }
    worker.signal("TERM");
    let status = worker.wait_exit(Duration::from_secs(40));
    assert!(status.success(), "{status}\n{}", tail(&worker.log_text()));
    let log = worker.log_text();
    assert!(!log.contains(&identity["KAFKA_SASL_PASSWORD"]), "the password appears in the log");
}

#[test]
fn a_wrong_password_stops_start_up_clearly_without_showing_it() {
    let mut identity = worker_identity();
    let password = canary();
    identity.insert("KAFKA_SASL_PASSWORD".into(), password.clone());
    assert_fails_clearly("wrongpw", &identity, &[("CREATE_TOPICS", "false")], "authentication failed", &password);
    // The same while creating topics, before the pipeline starts.
    assert_fails_clearly("wrongpw-create", &identity, &[("CREATE_TOPICS", "true")], "authentication failed", &password);
}

#[test]
fn an_unknown_user_stops_start_up_clearly_and_a_password_file_is_not_shown_either() {
    let mut identity = worker_identity();
    let password = canary();
    let file = std::env::temp_dir().join(unique("sasl-password"));
    std::fs::write(&file, format!("{password}\n")).unwrap();
    identity.remove("KAFKA_SASL_PASSWORD");
    identity.insert("KAFKA_SASL_PASSWORD_FILE".into(), file.display().to_string());
    identity.insert("KAFKA_SASL_USERNAME".into(), unique("nobody"));
    assert_fails_clearly("nouser", &identity, &[("CREATE_TOPICS", "false")], "authentication failed", &password);
    let _ = std::fs::remove_file(file);
}

#[test]
fn an_untrusted_ca_stops_start_up_clearly() {
    let mut identity = worker_identity();
    let password = identity["KAFKA_SASL_PASSWORD"].clone();
    let other_ca = other_ca();
    identity.insert("KAFKA_SSL_CA_LOCATION".into(), other_ca.display().to_string());
    assert_fails_clearly("untrustedca", &identity, &[], "TLS failed (check KAFKA_SSL_CA_LOCATION", &password);
}

#[test]
fn a_plaintext_client_on_the_tls_port_stops_start_up_clearly() {
    let mut identity = worker_identity();
    let password = identity["KAFKA_SASL_PASSWORD"].clone();
    identity.insert("KAFKA_SECURITY_PROTOCOL".into(), "PLAINTEXT".into());
    assert_fails_clearly("plaintext", &identity, &[], "KAFKA_SECURITY_PROTOCOL does not match", &password);
}

#[test]
fn no_create_acl_with_create_topics_on_stops_start_up_naming_the_topic() {
    let identity = worker_identity();
    let password = identity["KAFKA_SASL_PASSWORD"].clone();
    let cause = "cannot create topic product-created (6 partitions, the cluster's default replication factor): \
                 TopicAuthorizationFailed";
    let defaults = [
        ("INPUT_TOPIC", "product-created"),
        ("OUTPUT_TOPIC", "product-categorized"),
        ("DLQ_TOPIC", "product-created.dlq"),
        ("TOPIC_PARTITIONS", "6"),
        ("CREATE_TOPICS", "true"),
    ];
    assert_fails_clearly("nocreate", &identity, &defaults, cause, &password);
}

#[test]
fn a_value_librdkafka_rejects_is_named_but_not_shown() {
    // librdkafka's own message quotes the value.
    let mut identity = worker_identity();
    let value = canary();
    identity.insert("KAFKA_SECURITY_PROTOCOL".into(), value.clone());
    assert_fails_clearly("badvalue", &identity, &[], "KAFKA_SECURITY_PROTOCOL: Invalid value", &value);
}

/// No WRITE on the dead-letter topic: the first dead letter is fatal (not
/// ready, the topic and the error named, exit non-zero); results still flow
/// until then. A SCRAM user of its own (the worker's ACLs stay as the script
/// set them); the password comes from a file.
#[tokio::test(flavor = "multi_thread")]
async fn a_missing_write_acl_on_the_dead_letter_topic_is_fatal_and_named() {
    let user = unique("noacl").replace('-', "");
    let password = canary();
    let mut identity = worker_identity();
    identity.insert("KAFKA_SASL_USERNAME".into(), user.clone());
    let topics = Topics::new("secure-noacl");
    let worker = format!("User:{user}");
    secure_admin(&format!(
        "user {user} {password}\ntopic {in} 1\ntopic {out} 1\ntopic {dlq} 1\n\
         allow {worker} READ TOPIC {in}\nallow {worker} READ GROUP {group}\n\
         allow {worker} WRITE TOPIC {out}\nallow {worker} DESCRIBE TOPIC {out}\n\
         allow {worker} DESCRIBE TOPIC {dlq}\n",
        in = topics.input,
        out = topics.output,
        dlq = topics.dlq,
        group = topics.group
    ));
    let file = std::env::temp_dir().join(unique("sasl-password"));
    std::fs::write(&file, &password).unwrap();
    let mut identity_from_file = identity.clone();
    identity_from_file.remove("KAFKA_SASL_PASSWORD");
    identity_from_file.insert("KAFKA_SASL_PASSWORD_FILE".into(), file.display().to_string());
    let extra = [("RUST_LOG", "trace"), ("KAFKA_DEBUG", "all")];
    let mut worker = secure_worker(&topics, &identity_from_file, &extra);
    let deadline = Instant::now() + Duration::from_secs(60);
    while http_get(worker.http, "/readyz").map(|(status, _)| status) != Some(200) {
        assert!(worker.child.as_mut().unwrap().try_wait().unwrap().is_none(), "exited:\n{}", tail(&worker.log_text()));
        assert!(Instant::now() < deadline, "not ready:\n{}", tail(&worker.log_text()));
        std::thread::sleep(Duration::from_millis(100));
    }
    produce_as_admin(
        &topics.input,
        &[("ok", json!({"product_id": "P1", "name": "SSD Kingston A400 480GB"}).to_string()), ("bad", "{".to_owned())],
    )
    .await;
    let produced = Instant::now();
    let written = run_to_exit(worker, Duration::from_secs(60));
    let error = error_message(&written.output);
    eprintln!("no DLQ ACL: {} {:.1?} after the bad record was produced: {error}", written.status, produced.elapsed());
    assert!(!written.status.success(), "{}", written.status);
    assert!(error.contains(&format!("cannot write to topic {}", topics.dlq)), "{error}");
    assert!(error.contains("TopicAuthorizationFailed"), "{error}");
    // Too quick to catch /readyz at 503 reliably: the log says it.
    assert!(written.output.contains("fatal: stopping (not ready)"), "{}", tail(&written.output));
    assert!(find_as_admin(&topics.output, "ok", Duration::from_secs(30)).is_some(), "the result was written");
    assert_no_secret("no DLQ ACL", &password, &written, &identity_from_file, &extra);
    let _ = std::fs::remove_file(file);
}

/// A CA of its own (keytool, as the broker's), which signed nothing the broker has.
fn other_ca() -> PathBuf {
    let dir = std::env::temp_dir().join(unique("other-ca"));
    std::fs::create_dir_all(&dir).unwrap();
    let store = dir.join("ca.p12");
    let keytool = |args: &[&str]| {
        let output = Command::new("keytool").args(args).output().expect("keytool");
        assert!(output.status.success(), "keytool {args:?}: {}", String::from_utf8_lossy(&output.stderr));
        output.stdout
    };
    let store_arg = store.display().to_string();
    let common = ["-keystore", store_arg.as_str(), "-storetype", "PKCS12", "-storepass", "changeit", "-alias", "ca"];
    keytool(
        &[
            &["-genkeypair", "-dname", "CN=untrusted", "-keyalg", "RSA", "-keysize", "2048", "-ext", "bc:c"][..],
            &common[..],
        ]
        .concat(),
    );
    let pem = keytool(&[&["-exportcert", "-rfc"][..], &common[..]].concat());
    let path = dir.join("ca.pem");
    std::fs::write(&path, pem).unwrap();
    assert!(Path::new(&path).exists());
    path
}
