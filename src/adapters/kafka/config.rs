//! Kafka client settings: the worker's own flags, the `KAFKA_*` / `-X`
//! passthrough, the defaults chosen for fast recovery, and the properties the
//! delivery guarantees rest on, which the passthrough cannot change.
//!
//! A client's properties are applied in this order, later ones winning:
//! [`CONSUMER_DEFAULTS`] / [`PRODUCER_DEFAULTS`], then the passthrough, then
//! [`LOCKED_PROPERTIES`], then the worker's own flags (brokers, group,
//! instance id). [`KafkaConfig::validate`] refuses, at start-up, a passthrough
//! that would have been overridden by the last two.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::Context as _;
use rdkafka::consumer::{ConsumerContext, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::producer::FutureProducer;
use rdkafka::{ClientConfig, ClientContext};

use super::environment;

/// Kafka settings with their own flags; every other librdkafka property comes
/// from `KAFKA_<NAME>` variables or `--kafka-property name=value`.
#[derive(Debug, Clone, clap::Args)]
pub struct KafkaConfig {
    /// Kafka brokers, comma-separated host:port.
    #[arg(long, env = "KAFKA_BOOTSTRAP_SERVERS", default_value = "127.0.0.1:9092")]
    pub bootstrap_servers: String,

    /// Consumer group: instances with the same group share the input partitions.
    #[arg(long, env = "KAFKA_GROUP_ID", default_value = "product-categorizer")]
    pub group_id: String,

    /// Static group membership (the consumer's group.instance.id): a restarted instance
    /// with the same id gets its partitions back at once, without a rebalance, if it
    /// returns within the session timeout (10 s). Give every replica its own stable name
    /// that survives restarts: in compose, one service per replica with a fixed
    /// INSTANCE_ID each (replicas of one service share their environment: leave it unset
    /// there); in Kubernetes, a StatefulSet's pod name through the downward API
    /// (env INSTANCE_ID, valueFrom.fieldRef.fieldPath: metadata.name). Never the same id
    /// on two live instances: the broker fences one of them. With random names (a
    /// Deployment's pods) leave it unset. Letters, digits, '.', '_', '-'; at most 249.
    #[arg(long, env = "INSTANCE_ID", value_parser = parse_instance_id)]
    pub instance_id: Option<String>,

    /// at-least-once: every record's outcome is published at least once; after a crash
    /// or a rebalance about a second of outputs may be published again (same event_id).
    /// exactly-once: outputs, dead letters and input positions are committed together in
    /// Kafka transactions; consumers of the outputs must read with
    /// isolation.level=read_committed to see each outcome exactly once.
    #[arg(long, env = "DELIVERY_GUARANTEE", value_enum, default_value_t = DeliveryGuarantee::AtLeastOnce)]
    pub delivery_guarantee: DeliveryGuarantee,

    /// Exactly-once: the producer's transactional.id. Stable per instance and unique
    /// among live instances: a restarted instance with the same id aborts what its
    /// predecessor left open at once, and fences it if it is still alive. Default:
    /// <group>-<INSTANCE_ID> when INSTANCE_ID is set, else <group>-<hostname>-<pid>
    /// (stable across restarts of one container, whose pid is 1; otherwise a crashed
    /// instance's open transaction holds back read_committed consumers until
    /// transaction.timeout.ms, 60 s, expires).
    #[arg(long, env = "TRANSACTIONAL_ID", value_parser = parse_instance_id)]
    pub transactional_id: Option<String>,

    /// Topic of product-created events.
    #[arg(long, env = "INPUT_TOPIC", default_value = "product-created")]
    pub input_topic: String,

    /// Topic of product-categorized results.
    #[arg(long, env = "OUTPUT_TOPIC", default_value = "product-categorized")]
    pub output_topic: String,

    /// Dead-letter topic for records that cannot be categorized.
    #[arg(long, env = "DLQ_TOPIC", default_value = "product-created.dlq")]
    pub dlq_topic: String,

    /// Create the input, output and dead-letter topics at start-up when missing. Off by
    /// default: on a production cluster the platform creates topics with its own
    /// replication and retention, and a missing topic stops start-up with an error naming it.
    #[arg(long, env = "CREATE_TOPICS", default_value_t = false, action = clap::ArgAction::Set)]
    pub create_topics: bool,

    /// Partitions of topics the worker creates.
    #[arg(long, env = "TOPIC_PARTITIONS", default_value_t = 6, value_parser = clap::value_parser!(i32).range(1..))]
    pub topic_partitions: i32,

    /// Replication factor of topics the worker creates [default: the cluster's
    /// default.replication.factor].
    #[arg(long, env = "TOPIC_REPLICATION_FACTOR", value_parser = clap::value_parser!(i32).range(1..))]
    pub topic_replication_factor: Option<i32>,

    /// Extra librdkafka property (repeatable), e.g. `-X security.protocol=SASL_SSL`.
    /// `KAFKA_<NAME>` variables do the same: KAFKA_SASL_MECHANISMS=PLAIN sets sasl.mechanisms;
    /// `KAFKA_<NAME>_FILE=/run/secrets/x` reads the value from a file. A `KAFKA_*` variable
    /// that names no librdkafka property is ignored with a warning. Values are never logged.
    /// The properties the delivery guarantees rest on cannot be changed (see docs/configuration.md).
    #[arg(short = 'X', long = "kafka-property", value_name = "NAME=VALUE", value_parser = parse_property)]
    pub properties: Vec<PropertyFlag>,

    #[arg(skip)]
    environment: EnvironmentOnce,
}

/// The `KAFKA_*` variables (and `_FILE` contents), read once: every client
/// and every check sees the same values. Its `Debug` hides them (secrets).
#[derive(Clone, Default)]
struct EnvironmentOnce(Arc<OnceLock<environment::Environment>>);

impl EnvironmentOnce {
    fn get(&self) -> &environment::Environment {
        self.0.get_or_init(environment::current)
    }
}

impl std::fmt::Debug for EnvironmentOnce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EnvironmentOnce(..)")
    }
}

/// One `-X name=value`; its `Debug` hides the value (it may be a secret).
#[derive(Clone, PartialEq, Eq)]
pub struct PropertyFlag {
    pub name: String,
    pub value: String,
}

impl std::fmt::Debug for PropertyFlag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}=(value not shown)", self.name)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DeliveryGuarantee {
    AtLeastOnce,
    ExactlyOnce,
}

/// Which client a property is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Client {
    Consumer,
    Producer,
}

/// A librdkafka property with the value the worker sets, and why.
#[derive(Debug, Clone, Copy)]
pub struct Property {
    pub client: Client,
    pub name: &'static str,
    pub value: &'static str,
    pub reason: &'static str,
}

/// The properties the delivery guarantees rest on. Set last on every client,
/// after the passthrough; a passthrough that gives one of them another value
/// (under any of its librdkafka names) stops the worker at start-up.
pub const LOCKED_PROPERTIES: &[Property] = &[
    Property {
        client: Client::Consumer,
        name: "enable.auto.commit",
        value: "true",
        reason: "the worker never commits by hand: librdkafka commits, in the background and on \
                 rebalance and close, the offsets the worker stored; with false nothing is ever \
                 committed and every restart re-processes the whole backlog",
    },
    Property {
        client: Client::Consumer,
        name: "enable.auto.offset.store",
        value: "false",
        reason: "the worker stores a partition's offset only once the outputs of that record and \
                 of every earlier one are acknowledged; with true librdkafka stores offsets as it \
                 hands records out, and a crash loses the records whose outputs were not yet written",
    },
    Property {
        client: Client::Consumer,
        name: "isolation.level",
        value: "read_committed",
        reason: "records of aborted (or still open) producer transactions never happened: with \
                 read_uncommitted the worker would categorize them",
    },
    Property {
        client: Client::Producer,
        name: "enable.idempotence",
        value: "true",
        reason: "librdkafka's own retries must neither duplicate nor reorder outputs (order per key); \
                 idempotence also forces acks=all, at most 5 requests in flight and retries >= 1, \
                 and librdkafka refuses a producer whose settings contradict that",
    },
    Property {
        client: Client::Producer,
        name: "acks",
        value: "all",
        reason: "an output counts as written, and its input offset may be committed, only once every \
                 in-sync replica has it; with fewer acknowledgements a broker failure can lose an \
                 output whose input was already committed",
    },
];

/// Exactly-once replaces these locked values.
pub const EXACTLY_ONCE_LOCKED: &[Property] = &[Property {
    client: Client::Consumer,
    name: "enable.auto.commit",
    value: "false",
    reason: "exactly-once commits the input positions inside each output transaction \
             (send_offsets_to_transaction); a commit outside it would move positions past outputs \
             that may still be aborted",
}];

/// Exactly-once producer defaults, in place of `message.timeout.ms=0`, which
/// a transactional producer cannot take (its sends end with the transaction).
pub const EXACTLY_ONCE_PRODUCER_DEFAULTS: &[Property] = &[Property {
    client: Client::Producer,
    name: "transaction.timeout.ms",
    value: "60000",
    reason: "how long a transaction may stay open: the broker aborts one older than this and the \
             producer is then fenced (the worker exits and is restarted), so it must outlast a broker \
             restart (10 s made the worker exit in make test's chaos run); it is also how long a \
             vanished instance's transaction holds back read_committed consumers when no restart \
             with the same TRANSACTIONAL_ID aborts it sooner, and the longest a send may take \
             (librdkafka's message.timeout.ms follows it)",
}];

/// The redrive command's producer default without transactions, in place of
/// `message.timeout.ms=0`: a command must end.
const REDRIVE_PRODUCER_DEFAULTS: &[Property] = &[Property {
    client: Client::Producer,
    name: "message.timeout.ms",
    value: "60000",
    reason: "a redrive without transactions waits for every send's acknowledgement before it \
             commits: a send the broker never takes fails the command after a minute",
}];

/// Limits the idempotent producer puts on properties the worker leaves to the
/// user: (name, least, most). librdkafka refuses to create a producer that
/// breaks them; `validate` says so at start-up instead.
const IDEMPOTENCE_LIMITS: &[(&str, i64, i64)] =
    &[("max.in.flight.requests.per.connection", 1, 5), ("retries", 1, i32::MAX as i64)];

/// The worker's defaults: a passthrough property overrides them.
pub const CONSUMER_DEFAULTS: &[Property] = &[
    Property {
        client: Client::Consumer,
        name: "partition.assignment.strategy",
        value: "cooperative-sticky",
        reason: "a rebalance moves only the partitions that change owner; the others keep being \
                 processed (the eager default stops every partition of every member)",
    },
    Property {
        client: Client::Consumer,
        name: "session.timeout.ms",
        value: "10000",
        reason: "a crashed (or, with INSTANCE_ID, stopped) instance's partitions are idle until its \
                 session expires: 10 s instead of librdkafka's 45 s, still above the broker's \
                 6 s minimum and far above a heartbeat round trip",
    },
    Property {
        client: Client::Consumer,
        name: "heartbeat.interval.ms",
        value: "1000",
        reason: "a cooperative rebalance's second round waits for every member to notice it at its \
                 next heartbeat: 1 s keeps a scale-up's pause on the moved partitions at ~1.3 s \
                 (3.6 s at librdkafka's 3 s; scripts/scale-out), and ten heartbeats fit in a session",
    },
    Property {
        client: Client::Consumer,
        name: "auto.offset.reset",
        value: "earliest",
        reason: "a new group (or one whose offsets expired) starts at the oldest record, not after the newest",
    },
    Property {
        client: Client::Consumer,
        name: "auto.commit.interval.ms",
        value: "1000",
        reason: "stored positions reach the broker within a second: after a crash the next owner \
                 repeats at most about a second of outputs (librdkafka's default: 5 s)",
    },
    Property {
        client: Client::Consumer,
        name: "fetch.wait.max.ms",
        value: "100",
        reason: "how long the broker holds a fetch for new data: a resumed partition (after \
                 back-pressure) and a quiet topic both wait this long for their next records \
                 (librdkafka's 500 ms default stalled each pause/resume for half a second)",
    },
    Property {
        client: Client::Consumer,
        name: "queued.max.messages.kbytes",
        value: "2048",
        reason: "the prefetch queue is part of the memory budget: 2 MB instead of librdkafka's 64 MB \
                 keeps peak RSS under a backlog ~50 MB lower at the same drain rate (docs/\
                 performance.md); the pipeline pulls only about a batch ahead of the model, so this \
                 queue is the worker's buffer",
    },
    Property {
        client: Client::Consumer,
        name: "fetch.message.max.bytes",
        value: "131072",
        reason: "at most 128 KB per partition per fetch (librdkafka: 1 MB): compressed inputs \
                 are unpacked in memory beyond the prefetch queue's count, so big fetches of lz4 \
                 batches cost 25 MB of peak RSS over 6 partitions at no gain in rate (docs/\
                 performance.md); a larger first batch is still returned whole",
    },
    Property {
        client: Client::Consumer,
        name: "fetch.queue.backoff.ms",
        value: "20",
        reason: "with the small prefetch queue full, fetch again after 20 ms, not 1 s: librdkafka's \
                 default would stall each partition for a second every time the queue fills",
    },
    Property {
        client: Client::Consumer,
        name: "statistics.interval.ms",
        value: "5000",
        reason: "librdkafka statistics feed the consumer lag metrics",
    },
];

/// The worker's producer defaults: a passthrough property overrides them.
pub const PRODUCER_DEFAULTS: &[Property] = &[
    Property {
        client: Client::Producer,
        name: "message.timeout.ms",
        value: "0",
        reason: "infinite: the idempotent producer retries a failed send itself, in order and \
                 without duplicates, for as long as it takes, so the worker never re-sends (and \
                 reorders) an output; permanent errors (too large, not authorized, unknown topic) \
                 still fail the send at once",
    },
    Property {
        client: Client::Producer,
        name: "linger.ms",
        value: "1",
        reason: "how long outputs wait to be batched: each result waits about this long before it \
                 is sent (5 ms was a third of the worker's median latency); under a backlog batches \
                 fill before it runs out, and the idempotent producer's at most 5 requests in flight \
                 bound the request rate whatever it is",
    },
    Property {
        client: Client::Producer,
        name: "message.max.bytes",
        value: "1048588",
        reason: "the broker's default record-batch limit (message.max.bytes / max.message.bytes): \
                 librdkafka's 1000000 is lower, so a record the broker accepted on input could not \
                 be dead-lettered whole",
    },
    Property {
        client: Client::Producer,
        name: "compression.type",
        value: "lz4",
        reason: "JSON outputs compress well at little CPU cost",
    },
];

/// Consumer defaults librdkafka refuses with `group.protocol=consumer`
/// (KIP-848: the broker decides them).
const CLASSIC_GROUP_ONLY: [&str; 3] = ["partition.assignment.strategy", "session.timeout.ms", "heartbeat.interval.ms"];

/// Properties with a flag of their own: (property, flag and variable).
const FLAG_PROPERTIES: [(&str, &str); 4] = [
    ("bootstrap.servers", "--bootstrap-servers / KAFKA_BOOTSTRAP_SERVERS"),
    ("group.id", "--group-id / KAFKA_GROUP_ID"),
    ("group.instance.id", "--instance-id / INSTANCE_ID"),
    ("transactional.id", "--transactional-id / TRANSACTIONAL_ID (with DELIVERY_GUARANTEE=exactly-once)"),
];

/// librdkafka's aliases of one property: (alias, the name the worker uses).
const ALIASES: &[(&str, &str)] = &[
    ("metadata.broker.list", "bootstrap.servers"),
    ("request.required.acks", "acks"),
    ("auto.commit.enable", "enable.auto.commit"),
    ("max.in.flight", "max.in.flight.requests.per.connection"),
    ("message.send.max.retries", "retries"),
    ("delivery.timeout.ms", "message.timeout.ms"),
    ("queue.buffering.max.ms", "linger.ms"),
    ("compression.codec", "compression.type"),
    ("max.partition.fetch.bytes", "fetch.message.max.bytes"),
    ("sasl.mechanism", "sasl.mechanisms"),
    ("sasl.oauthbearer.client.credentials.client.id", "sasl.oauthbearer.client.id"),
    ("sasl.oauthbearer.client.credentials.client.secret", "sasl.oauthbearer.client.secret"),
];

/// The one name of a property whatever librdkafka name it is given under:
/// aliases, and the `topic.` prefix librdkafka accepts for topic-level
/// properties (`topic.acks`). Two names of one property in a client's
/// configuration would be applied in no defined order.
pub fn canonical_name(name: &str) -> &str {
    let name = match name.strip_prefix("topic.") {
        // The global properties whose own name starts with `topic.`.
        Some(_) if name.starts_with("topic.metadata.") || name == "topic.blacklist" => name,
        Some(rest) => rest,
        None => name,
    };
    ALIASES.iter().find(|(alias, _)| *alias == name).map_or(name, |(_, canonical)| canonical)
}

/// A value as librdkafka reads it, for comparing: booleans (`true`, `t`, `1`),
/// `-1` for `all`, letter case.
fn normalized(value: &str) -> String {
    let value = value.trim().to_ascii_lowercase();
    match value.as_str() {
        "true" | "t" | "1" => "true".into(),
        "false" | "f" | "0" => "false".into(),
        "-1" => "all".into(),
        _ => value,
    }
}

fn parse_property(raw: &str) -> Result<PropertyFlag, String> {
    match raw.split_once('=') {
        Some((name, value)) if !name.trim().is_empty() => {
            Ok(PropertyFlag { name: name.trim().to_owned(), value: value.to_owned() })
        }
        // Not echoed: it may be a secret with the `=` forgotten.
        _ => Err("expected NAME=VALUE, a property name, `=` and its value".into()),
    }
}

/// Kafka's rule for a group instance id (the same as for topic names).
fn parse_instance_id(raw: &str) -> Result<String, String> {
    let id = raw.trim();
    if id.is_empty() || id == "." || id == ".." {
        return Err("must be a non-empty name other than '.' and '..'".into());
    }
    if id.len() > 249 {
        return Err(format!("at most 249 characters, got {}", id.len()));
    }
    if let Some(bad) = id.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))) {
        return Err(format!("only letters, digits, '.', '_' and '-' are allowed, found {bad:?}"));
    }
    Ok(id.to_owned())
}

/// One passthrough property and where it came from.
struct Passthrough {
    /// `KAFKA_SASL_USERNAME` or `-X sasl.username`.
    source: String,
    name: String,
    value: String,
}

/// A client's properties, one entry per property whatever name it was given
/// under: canonical name -> (name as given, value).
#[derive(Default)]
struct Properties(BTreeMap<String, (String, String)>);

impl Properties {
    fn set(&mut self, name: &str, value: &str) {
        self.0.insert(canonical_name(name).to_owned(), (name.to_owned(), value.to_owned()));
    }

    fn into_client_config(self) -> ClientConfig {
        let mut config = ClientConfig::new();
        for (_, (name, value)) in self.0 {
            config.set(name, value);
        }
        config
    }
}

impl KafkaConfig {
    /// The environment's properties (see [`environment`]), then the flags.
    fn passthrough_entries(&self) -> Vec<Passthrough> {
        let environment = self.environment.get().properties.iter();
        let mut entries: Vec<Passthrough> = environment
            .map(|p| Passthrough { source: p.source.clone(), name: p.name.clone(), value: p.value.clone() })
            .collect();
        entries.extend(self.properties.iter().map(|flag| Passthrough {
            source: format!("-X {}", flag.name),
            name: flag.name.clone(),
            value: flag.value.clone(),
        }));
        entries
    }

    /// Passthrough properties: environment first, then flags, so a flag wins.
    pub fn passthrough(&self) -> Vec<(String, String)> {
        self.passthrough_entries().into_iter().map(|p| (p.name, p.value)).collect()
    }

    /// Property names for the start-up log; values may be secrets.
    pub fn passthrough_names(&self) -> Vec<String> {
        self.passthrough().into_iter().map(|(name, _)| name).collect()
    }

    /// Start-up checks of the passthrough, before any client exists: a
    /// property that has a flag of its own, a locked property with another
    /// value, a value the idempotent producer cannot take, and any name or
    /// value librdkafka itself rejects. The error names every offending
    /// property; it never prints a passthrough value, except those of locked
    /// and limited properties, which are not secrets.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.transactional_id.is_some() && !self.exactly_once() {
            anyhow::bail!(
                "TRANSACTIONAL_ID is set but DELIVERY_GUARANTEE is at-least-once: set DELIVERY_GUARANTEE=exactly-once, \
                 or unset TRANSACTIONAL_ID"
            );
        }
        let locked_properties = self.locked();
        let environment = self.environment.get();
        for variable in &environment.ignored {
            tracing::warn!(%variable, "ignored: a KAFKA_* variable that names no librdkafka property");
        }
        let mut problems = environment.problems.clone();
        for Passthrough { source, name, value } in self.passthrough_entries() {
            let canonical = canonical_name(&name);
            if let Some((_, flag)) = FLAG_PROPERTIES.iter().find(|(property, _)| *property == canonical) {
                problems.push(format!("{source}: {canonical} has a setting of its own, {flag}; set it there"));
                continue;
            }
            if let Some(locked) = locked_properties.iter().find(|p| p.name == canonical) {
                if normalized(&value) != normalized(locked.value) {
                    problems.push(format!(
                        "{source}={value}: {} is locked to {}: {}",
                        locked.name, locked.value, locked.reason
                    ));
                }
                continue;
            }
            if let Some((_, least, most)) = IDEMPOTENCE_LIMITS.iter().find(|(limited, _, _)| *limited == canonical) {
                if value.trim().parse::<i64>().is_ok_and(|v| v < *least || v > *most) {
                    problems.push(format!(
                        "{source}={value}: the idempotent producer (enable.idempotence=true, locked) needs \
                         {canonical} between {least} and {most}"
                    ));
                    continue;
                }
            }
            // librdkafka's own check of the name and value, without printing the value.
            if let Err(error) = ClientConfig::new().set(&name, &value).create_native_config() {
                problems.push(format!("{source}: {}", describe(&error)));
            }
        }
        if problems.is_empty() {
            return Ok(());
        }
        anyhow::bail!(
            "Kafka passthrough properties (KAFKA_* variables, -X) the worker cannot accept:\n  - {}",
            problems.join("\n  - ")
        )
    }

    /// The consumer's properties: defaults, passthrough, locked, own flags.
    /// Offsets are stored by the worker, only behind acknowledged outputs,
    /// and committed by librdkafka on its interval, on rebalance and on close.
    pub fn consumer_config(&self) -> ClientConfig {
        let new_protocol = self.passthrough().iter().any(|(name, value)| {
            canonical_name(name) == "group.protocol" && value.trim().eq_ignore_ascii_case("consumer")
        });
        let defaults = CONSUMER_DEFAULTS.iter().filter(|p| !(new_protocol && CLASSIC_GROUP_ONLY.contains(&p.name)));
        let mut properties = self.properties_with(defaults, Some(Client::Consumer));
        properties.set("group.id", &self.group_id);
        if let Some(id) = &self.instance_id {
            properties.set("group.instance.id", id);
        }
        properties.into_client_config()
    }

    /// The producer's `transaction.timeout.ms`: how long an open transaction
    /// may live before the broker aborts it.
    pub fn transaction_timeout(&self) -> Duration {
        let millis = self.producer_config().get("transaction.timeout.ms").and_then(|value| value.parse().ok());
        Duration::from_millis(millis.unwrap_or(60_000))
    }

    /// The producer's properties: defaults, passthrough, locked, brokers, and
    /// for exactly-once the transactional id.
    pub fn producer_config(&self) -> ClientConfig {
        if !self.exactly_once() {
            return self.properties_with(PRODUCER_DEFAULTS.iter(), Some(Client::Producer)).into_client_config();
        }
        let defaults = PRODUCER_DEFAULTS.iter().filter(|p| p.name != "message.timeout.ms");
        let mut properties =
            self.properties_with(defaults.chain(EXACTLY_ONCE_PRODUCER_DEFAULTS), Some(Client::Producer));
        properties.set("transactional.id", &self.transactional_id());
        properties.into_client_config()
    }

    /// A producer outside any transaction (the shadow results: best effort,
    /// never part of the exactly-once outputs).
    pub fn plain_producer<C: ClientContext + 'static>(&self, context: C) -> anyhow::Result<FutureProducer<C>> {
        let plain =
            KafkaConfig { delivery_guarantee: DeliveryGuarantee::AtLeastOnce, transactional_id: None, ..self.clone() };
        plain.producer(context, None)
    }

    /// The settings `product-categorizer redrive` builds its clients from:
    /// its own group, no static membership (it assigns partitions itself),
    /// and the exactly-once locks, so its consumer never auto-commits (it
    /// commits inside its transactions, or by hand after its sends are
    /// acknowledged). The worker's DELIVERY_GUARANTEE and TRANSACTIONAL_ID do
    /// not apply to it.
    pub fn for_redrive(&self, group: &str, transactional_id: &str) -> KafkaConfig {
        KafkaConfig {
            group_id: group.to_owned(),
            instance_id: None,
            delivery_guarantee: DeliveryGuarantee::ExactlyOnce,
            transactional_id: Some(transactional_id.to_owned()),
            ..self.clone()
        }
    }

    /// The redrive's producer without transactions (refused by the cluster,
    /// or `--no-transactions`): idempotent, with a bounded
    /// `message.timeout.ms` (60 s, unless the passthrough sets one) in place
    /// of the worker's unbounded one, so a send the broker never takes fails
    /// the command instead of hanging it.
    pub fn redrive_plain_producer_config(&self) -> ClientConfig {
        let plain =
            KafkaConfig { delivery_guarantee: DeliveryGuarantee::AtLeastOnce, transactional_id: None, ..self.clone() };
        let defaults = PRODUCER_DEFAULTS.iter().filter(|p| p.name != "message.timeout.ms");
        // The passthrough comes after the defaults: its message.timeout.ms
        // (under any alias) wins.
        plain.properties_with(defaults.chain(REDRIVE_PRODUCER_DEFAULTS), Some(Client::Producer)).into_client_config()
    }

    pub fn exactly_once(&self) -> bool {
        self.delivery_guarantee == DeliveryGuarantee::ExactlyOnce
    }

    /// Exactly-once: TRANSACTIONAL_ID, else derived (see the flag's help).
    pub fn transactional_id(&self) -> String {
        if let Some(id) = &self.transactional_id {
            return id.clone();
        }
        match &self.instance_id {
            Some(instance) => format!("{}-{instance}", self.group_id),
            None => format!("{}-{}-{}", self.group_id, hostname(), std::process::id()),
        }
    }

    /// The locked properties of this delivery guarantee.
    fn locked(&self) -> Vec<&'static Property> {
        let replaced = |p: &&'static Property| {
            let replacement = EXACTLY_ONCE_LOCKED.iter().find(|r| r.client == p.client && r.name == p.name);
            match replacement {
                Some(replacement) if self.exactly_once() => replacement,
                _ => *p,
            }
        };
        LOCKED_PROPERTIES.iter().map(|p| replaced(&p)).collect()
    }

    /// The admin client's properties: passthrough and brokers. No locked
    /// producer properties: an idempotent admin client would ask the brokers
    /// for a producer id it never uses.
    pub fn admin_config(&self) -> ClientConfig {
        self.properties_with([].iter(), None).into_client_config()
    }

    fn properties_with<'a>(&self, defaults: impl Iterator<Item = &'a Property>, client: Option<Client>) -> Properties {
        let mut properties = Properties::default();
        for default in defaults {
            properties.set(default.name, default.value);
        }
        for (name, value) in self.passthrough() {
            properties.set(&name, &value);
        }
        for locked in self.locked().into_iter().filter(|p| Some(p.client) == client) {
            properties.set(locked.name, locked.value);
        }
        properties.set("bootstrap.servers", &self.bootstrap_servers);
        properties
    }

    /// The consumer, with any context (see [`Self::consumer_config`]).
    pub fn consumer<C: ConsumerContext + 'static>(&self, context: C) -> anyhow::Result<StreamConsumer<C>> {
        self.consumer_config()
            .create_with_context(context)
            .map_err(|error| anyhow::anyhow!(describe(&error)))
            .context("cannot create the Kafka consumer")
    }

    /// The producer, with any context (see [`Self::producer_config`]):
    /// idempotent, so librdkafka's own retries neither duplicate nor reorder,
    /// and it retries without a time limit (`message.timeout.ms=0`).
    /// `record_batch_limit`: the smallest `max.message.bytes` of the topics
    /// it writes; its batches stay below it, so a topic never refuses a batch
    /// of records it would each accept.
    pub fn producer<C: ClientContext + 'static>(
        &self,
        context: C,
        record_batch_limit: Option<usize>,
    ) -> anyhow::Result<FutureProducer<C>> {
        let mut config = self.producer_config();
        if let Some(limit) = record_batch_limit {
            let batch = config.get("batch.size").and_then(|v| v.parse::<usize>().ok()).unwrap_or(LIBRDKAFKA_BATCH_SIZE);
            let within = limit.saturating_sub(BATCH_FRAMING_BYTES).max(1);
            if within < batch {
                config.set("batch.size", within.to_string());
            }
        }
        config
            .create_with_context(context)
            .map_err(|error| anyhow::anyhow!(describe(&error)))
            .context("cannot create the Kafka producer")
    }
}

/// librdkafka's default `batch.size`.
const LIBRDKAFKA_BATCH_SIZE: usize = 1_000_000;
/// Room in a topic's limit for the record batch's own framing.
const BATCH_FRAMING_BYTES: usize = 512;

/// The machine's name, as far as a transactional id allows.
fn hostname() -> String {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let name: String =
        name.trim().chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')).collect();
    if name.is_empty() {
        "host".into()
    } else {
        name
    }
}

/// A client error without the property value (it may be a secret): rdkafka's
/// `Display` appends it, and librdkafka quotes it in some messages.
pub(super) fn describe(error: &KafkaError) -> String {
    match error {
        KafkaError::ClientConfig(_, description, name, _) if description.is_empty() => {
            format!("invalid Kafka property {name}")
        }
        KafkaError::ClientConfig(_, description, _, value) if !value.is_empty() => {
            let hidden = "(value not shown)";
            let description = description.trim_end().replace(&format!("\"{value}\""), hidden);
            match description.strip_suffix(value.as_str()) {
                Some(head) => format!("{head}{hidden}"),
                None => description,
            }
        }
        KafkaError::ClientConfig(_, description, _, _) => description.trim_end().to_owned(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        kafka: KafkaConfig,
    }

    /// Parses flags only: the tests must not depend on the environment, so
    /// none of them sets KAFKA_* variables, and the flags are what they vary.
    fn config(args: &[&str]) -> KafkaConfig {
        let mut config = Cli::try_parse_from(std::iter::once("test").chain(args.iter().copied())).unwrap().kafka;
        config.bootstrap_servers = "127.0.0.1:1".into();
        config
    }

    /// What librdkafka itself makes of a configuration.
    fn native(config: &ClientConfig, name: &str) -> String {
        config.create_native_config().unwrap().get(name).unwrap()
    }

    fn error_of(args: &[&str]) -> String {
        format!("{:#}", config(args).validate().unwrap_err())
    }

    #[test]
    fn property_flags_need_a_name_and_an_equals_sign() {
        assert_eq!(parse_property("a.b=c=d"), Ok(PropertyFlag { name: "a.b".into(), value: "c=d".into() }));
        assert!(parse_property("=x").is_err());
        let error = parse_property("sasl.password:hunter2").unwrap_err();
        assert!(!error.contains("hunter2"), "{error}");
    }

    #[test]
    fn a_property_flag_never_shows_its_value_in_debug_output() {
        let config = config(&["-X", "sasl.password=hunter2"]);
        let debug = format!("{config:?}");
        assert!(debug.contains("sasl.password=(value not shown)"), "{debug}");
        assert!(!debug.contains("hunter2"), "{debug}");
    }

    #[test]
    fn aliases_and_the_topic_prefix_name_one_property() {
        assert_eq!(canonical_name("request.required.acks"), "acks");
        assert_eq!(canonical_name("topic.acks"), "acks");
        assert_eq!(canonical_name("topic.request.required.acks"), "acks");
        assert_eq!(canonical_name("metadata.broker.list"), "bootstrap.servers");
        assert_eq!(canonical_name("max.in.flight"), "max.in.flight.requests.per.connection");
        assert_eq!(canonical_name("topic.metadata.refresh.interval.ms"), "topic.metadata.refresh.interval.ms");
        assert_eq!(canonical_name("security.protocol"), "security.protocol");
    }

    #[test]
    fn the_locked_properties_cover_the_guarantees() {
        let locked: Vec<(Client, &str, &str)> = LOCKED_PROPERTIES.iter().map(|p| (p.client, p.name, p.value)).collect();
        assert_eq!(
            locked,
            [
                (Client::Consumer, "enable.auto.commit", "true"),
                (Client::Consumer, "enable.auto.offset.store", "false"),
                (Client::Consumer, "isolation.level", "read_committed"),
                (Client::Producer, "enable.idempotence", "true"),
                (Client::Producer, "acks", "all"),
            ]
        );
        assert!(LOCKED_PROPERTIES.iter().all(|p| p.reason.len() > 40));
    }

    #[test]
    fn a_locked_property_with_another_value_is_refused_naming_every_one() {
        let error = error_of(&[
            "-X",
            "enable.auto.commit=false",
            "-X",
            "enable.auto.offset.store=true",
            "-X",
            "isolation.level=read_uncommitted",
            "-X",
            "enable.idempotence=false",
            "-X",
            "acks=1",
        ]);
        for expected in [
            "-X enable.auto.commit=false: enable.auto.commit is locked to true",
            "-X enable.auto.offset.store=true: enable.auto.offset.store is locked to false",
            "-X isolation.level=read_uncommitted: isolation.level is locked to read_committed",
            "-X enable.idempotence=false: enable.idempotence is locked to true",
            "-X acks=1: acks is locked to all",
        ] {
            assert!(error.contains(expected), "{expected:?} missing from:\n{error}");
        }
        assert!(error.contains("a crash loses the records"), "the reason is given:\n{error}");
    }

    #[test]
    fn a_locked_property_under_an_alias_is_refused_too() {
        let error = error_of(&["-X", "request.required.acks=0", "-X", "topic.acks=1"]);
        assert!(error.contains("-X request.required.acks=0: acks is locked to all"), "{error}");
        assert!(error.contains("-X topic.acks=1: acks is locked to all"), "{error}");
    }

    #[test]
    fn a_locked_property_with_the_same_value_is_accepted() {
        config(&[
            "-X",
            "enable.auto.commit=true",
            "-X",
            "enable.auto.offset.store=False",
            "-X",
            "isolation.level=read_committed",
            "-X",
            "enable.idempotence=1",
            "-X",
            "acks=-1",
            "-X",
            "request.required.acks=all",
            "-X",
            "security.protocol=PLAINTEXT",
        ])
        .validate()
        .unwrap();
    }

    #[test]
    fn own_settings_given_as_passthrough_are_refused_with_their_flag() {
        let error = error_of(&[
            "-X",
            "bootstrap.servers=secret-host:9092",
            "-X",
            "metadata.broker.list=other:9092",
            "-X",
            "group.id=g",
            "-X",
            "group.instance.id=i",
        ]);
        assert!(error.contains("-X bootstrap.servers: bootstrap.servers has a setting of its own, --bootstrap-servers"));
        assert!(error.contains("-X metadata.broker.list: bootstrap.servers has a setting of its own"));
        assert!(error.contains("-X group.id: group.id has a setting of its own, --group-id / KAFKA_GROUP_ID"));
        assert!(error.contains("-X group.instance.id: group.instance.id has a setting of its own, --instance-id"));
        assert!(!error.contains("secret-host"), "values of other properties are never printed: {error}");
    }

    #[test]
    fn what_the_idempotent_producer_cannot_take_is_refused_at_start_up() {
        let error = error_of(&["-X", "max.in.flight=6", "-X", "retries=0"]);
        assert!(error.contains("-X max.in.flight=6: the idempotent producer"), "{error}");
        assert!(error.contains("max.in.flight.requests.per.connection between 1 and 5"), "{error}");
        assert!(error.contains("-X retries=0"), "{error}");
        config(&["-X", "max.in.flight.requests.per.connection=5", "-X", "retries=3"]).validate().unwrap();
    }

    #[test]
    fn librdkafka_itself_refuses_a_producer_that_breaks_idempotence() {
        // What `validate` spares the user from meeting later, at producer creation.
        for (name, value, message) in [
            ("max.in.flight", "6", "`max.in.flight` must be set <= 5"),
            ("retries", "0", "`retries` must be set >= 1"),
            ("queuing.strategy", "lifo", "`queuing.strategy` must be set to `fifo`"),
        ] {
            let mut producer = config(&[]).producer_config();
            producer.set(name, value);
            let error = match producer.create::<rdkafka::producer::BaseProducer>() {
                Ok(_) => panic!("{name}={value} accepted"),
                Err(error) => error.to_string(),
            };
            assert!(error.contains(message), "{name}={value}: {error}");
        }
    }

    #[test]
    fn names_and_values_librdkafka_rejects_are_reported_without_the_value() {
        let error = error_of(&[
            "-X",
            "sasl.pasword=hunter2",
            "-X",
            "session.timeout.ms=soon",
            "-X",
            "security.protocol=hunter3",
        ]);
        assert!(error.contains("-X sasl.pasword: No such configuration property"), "{error}");
        assert!(error.contains("-X session.timeout.ms: Invalid value"), "{error}");
        assert!(error.contains("-X security.protocol: Invalid value"), "{error}");
        for value in ["hunter2", "soon", "hunter3"] {
            assert!(!error.contains(value), "{value} printed: {error}");
        }
    }

    #[test]
    fn passthrough_cannot_override_locked_properties_in_the_clients() {
        // Even without `validate`, the locked values are what librdkafka gets.
        let config = config(&[
            "-X",
            "enable.auto.commit=false",
            "-X",
            "enable.auto.offset.store=true",
            "-X",
            "isolation.level=read_uncommitted",
            "-X",
            "enable.idempotence=false",
            "-X",
            "request.required.acks=1",
            "-X",
            "group.id=other",
            "-X",
            "bootstrap.servers=elsewhere:9092",
        ]);
        let consumer = config.consumer_config();
        assert_eq!(native(&consumer, "enable.auto.commit"), "true");
        assert_eq!(native(&consumer, "enable.auto.offset.store"), "false");
        assert_eq!(native(&consumer, "isolation.level"), "read_committed");
        assert_eq!(native(&consumer, "group.id"), config.group_id);
        assert_eq!(native(&consumer, "bootstrap.servers"), "127.0.0.1:1");
        let producer = config.producer_config();
        assert_eq!(native(&producer, "enable.idempotence"), "true");
        assert_eq!(native(&producer, "acks"), "-1");
        assert_eq!(native(&producer, "bootstrap.servers"), "127.0.0.1:1");
    }

    #[test]
    fn defaults_favour_fast_recovery() {
        let config = config(&[]);
        let consumer = config.consumer_config();
        assert_eq!(native(&consumer, "partition.assignment.strategy"), "cooperative-sticky");
        assert_eq!(native(&consumer, "session.timeout.ms"), "10000");
        assert_eq!(native(&consumer, "heartbeat.interval.ms"), "1000");
        assert_eq!(native(&consumer, "auto.offset.reset"), "smallest");
        assert_eq!(native(&consumer, "group.id"), config.group_id);
        assert_eq!(native(&consumer, "enable.auto.commit"), "true");
        assert_eq!(native(&consumer, "enable.auto.offset.store"), "false");
        assert_eq!(native(&consumer, "isolation.level"), "read_committed");
        assert_eq!(consumer.get("group.instance.id"), None, "dynamic membership unless INSTANCE_ID is set");
        assert_eq!(native(&consumer, "queued.max.messages.kbytes"), "2048", "prefetch is part of the memory budget");
        assert_eq!(native(&consumer, "fetch.queue.backoff.ms"), "20");
        assert_eq!(native(&consumer, "fetch.message.max.bytes"), "131072");
        let producer = config.producer_config();
        assert_eq!(native(&producer, "message.timeout.ms"), "0");
        assert_eq!(native(&producer, "enable.idempotence"), "true");
        assert_eq!(native(&producer, "acks"), "-1");
        assert_eq!(native(&producer, "linger.ms"), "1", "outputs leave within a millisecond");
        assert_eq!(native(&producer, "message.max.bytes"), "1048588", "what the broker accepts on input");
        // Consumer properties stay out of the producer and the other way round.
        assert_eq!(producer.get("session.timeout.ms"), None);
        assert_eq!(consumer.get("message.timeout.ms"), None);
    }

    #[test]
    fn passthrough_overrides_defaults_under_any_name() {
        let config = config(&[
            "-X",
            "session.timeout.ms=30000",
            "-X",
            "partition.assignment.strategy=range",
            "-X",
            "delivery.timeout.ms=60000",
            "-X",
            "queue.buffering.max.ms=50",
        ]);
        let consumer = config.consumer_config();
        assert_eq!(native(&consumer, "session.timeout.ms"), "30000");
        assert_eq!(native(&consumer, "partition.assignment.strategy"), "range");
        let producer = config.producer_config();
        // One entry per property: the alias replaced the default, no order to lose.
        assert_eq!(producer.get("message.timeout.ms"), None);
        assert_eq!(native(&producer, "message.timeout.ms"), "60000");
        assert_eq!(native(&producer, "linger.ms"), "50");
    }

    #[test]
    fn the_new_group_protocol_gets_no_classic_only_defaults() {
        let config = config(&["-X", "group.protocol=consumer"]);
        let consumer = config.consumer_config();
        for name in CLASSIC_GROUP_ONLY {
            assert_eq!(consumer.get(name), None, "{name}");
        }
        assert_eq!(native(&consumer, "group.protocol"), "consumer");
    }

    #[test]
    fn the_admin_client_gets_the_passthrough_and_nothing_of_the_producer() {
        let admin = config(&["-X", "security.protocol=PLAINTEXT"]).admin_config();
        assert_eq!(admin.get("security.protocol"), Some("PLAINTEXT"));
        assert_eq!(admin.get("bootstrap.servers"), Some("127.0.0.1:1"));
        assert_eq!(admin.get("enable.idempotence"), None);
        assert_eq!(admin.get("message.timeout.ms"), None);
    }

    #[test]
    fn an_instance_id_turns_on_static_membership() {
        let config = config(&["--instance-id", "categorizer-0"]);
        assert_eq!(native(&config.consumer_config(), "group.instance.id"), "categorizer-0");
        assert_eq!(config.producer_config().get("group.instance.id"), None);
        for bad in ["", "..", "pod 1", "a/b", &"x".repeat(250)] {
            assert!(Cli::try_parse_from(["test", "--instance-id", bad]).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn exactly_once_commits_in_transactions_with_a_stable_transactional_id() {
        let eos = config(&["--delivery-guarantee", "exactly-once", "--instance-id", "w-1"]);
        eos.validate().unwrap();
        let consumer = eos.consumer_config();
        assert_eq!(native(&consumer, "enable.auto.commit"), "false");
        assert_eq!(native(&consumer, "isolation.level"), "read_committed");
        let producer = eos.producer_config();
        assert_eq!(native(&producer, "transactional.id"), "product-categorizer-w-1");
        assert_eq!(native(&producer, "transaction.timeout.ms"), "60000");
        assert_eq!(eos.transaction_timeout(), Duration::from_secs(60), "how long an abort is retried");
        let shorter = config(&["--delivery-guarantee", "exactly-once", "-X", "transaction.timeout.ms=30000"]);
        assert_eq!(shorter.transaction_timeout(), Duration::from_secs(30));
        assert_eq!(producer.get("message.timeout.ms"), None, "librdkafka refuses 0 with transactions");
        assert!(producer.create::<FutureProducer>().is_ok(), "librdkafka takes it");
        let chosen = config(&["--delivery-guarantee", "exactly-once", "--transactional-id", "txn-a"]);
        assert_eq!(native(&chosen.producer_config(), "transactional.id"), "txn-a");
        let derived = config(&["--delivery-guarantee", "exactly-once"]).transactional_id();
        assert!(derived.ends_with(&format!("-{}", std::process::id())), "{derived}");
    }

    #[test]
    fn exactly_once_locks_auto_commit_off_and_refuses_a_transactional_id_elsewhere() {
        let error = error_of(&["--delivery-guarantee", "exactly-once", "-X", "enable.auto.commit=true"]);
        assert!(error.contains("enable.auto.commit is locked to false"), "{error}");
        let error = error_of(&["--delivery-guarantee", "exactly-once", "-X", "transactional.id=x"]);
        assert!(error.contains("TRANSACTIONAL_ID"), "{error}");
        let error = error_of(&["--transactional-id", "txn-a"]);
        assert!(error.contains("DELIVERY_GUARANTEE is at-least-once"), "{error}");
        let at_least_once = config(&[]);
        assert_eq!(at_least_once.producer_config().get("transactional.id"), None);
    }

    #[tokio::test]
    async fn clients_are_generic_over_their_context() {
        struct Quiet;
        impl ClientContext for Quiet {}
        impl ConsumerContext for Quiet {}
        let config = config(&[]);
        let _consumer: StreamConsumer<Quiet> = config.consumer(Quiet).unwrap();
        let _producer: FutureProducer<Quiet> = config.producer(Quiet, None).unwrap();
    }
}
