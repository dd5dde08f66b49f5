use anyhow::Context as _;
use rdkafka::consumer::StreamConsumer;
use rdkafka::producer::FutureProducer;
use rdkafka::ClientConfig;

use super::context::WorkerContext;

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

    /// Topic of product-created events.
    #[arg(long, env = "INPUT_TOPIC", default_value = "product-created")]
    pub input_topic: String,

    /// Topic of product-categorized results.
    #[arg(long, env = "OUTPUT_TOPIC", default_value = "product-categorized")]
    pub output_topic: String,

    /// Dead-letter topic for records that cannot be categorized.
    #[arg(long, env = "DLQ_TOPIC", default_value = "product-created.dlq")]
    pub dlq_topic: String,

    /// Create the input, output and dead-letter topics at start-up when missing.
    #[arg(long, env = "CREATE_TOPICS", default_value_t = true, action = clap::ArgAction::Set)]
    pub create_topics: bool,

    /// Partitions of topics the worker creates.
    #[arg(long, env = "TOPIC_PARTITIONS", default_value_t = 6, value_parser = clap::value_parser!(i32).range(1..))]
    pub topic_partitions: i32,

    /// Replication factor of topics the worker creates.
    #[arg(long, env = "TOPIC_REPLICATION_FACTOR", default_value_t = 1, value_parser = clap::value_parser!(i32).range(1..))]
    pub topic_replication_factor: i32,

    /// Extra librdkafka property (repeatable), e.g. `-X security.protocol=SASL_SSL`.
    /// `KAFKA_<NAME>` variables do the same: KAFKA_SASL_MECHANISMS=PLAIN sets sasl.mechanisms.
    #[arg(short = 'X', long = "kafka-property", value_name = "NAME=VALUE", value_parser = parse_property)]
    pub properties: Vec<(String, String)>,
}

/// Variables that are flags of their own, not passthrough properties.
const OWN_VARIABLES: [&str; 2] = ["KAFKA_BOOTSTRAP_SERVERS", "KAFKA_GROUP_ID"];

fn parse_property(raw: &str) -> Result<(String, String), String> {
    match raw.split_once('=') {
        Some((name, value)) if !name.trim().is_empty() => Ok((name.trim().to_owned(), value.to_owned())),
        _ => Err(format!("expected NAME=VALUE, got {raw:?}")),
    }
}

/// `KAFKA_SASL_USERNAME` -> `sasl.username`.
pub fn property_name(variable: &str) -> Option<String> {
    let name = variable.strip_prefix("KAFKA_")?;
    (!name.is_empty() && !OWN_VARIABLES.contains(&variable)).then(|| name.to_lowercase().replace('_', "."))
}

impl KafkaConfig {
    /// Passthrough properties: environment first, then flags, so a flag wins.
    pub fn passthrough(&self) -> Vec<(String, String)> {
        let mut properties: Vec<(String, String)> = std::env::vars()
            .filter_map(|(variable, value)| property_name(&variable).map(|name| (name, value)))
            .collect();
        properties.sort();
        properties.extend(self.properties.iter().cloned());
        properties
    }

    /// The consumer. Offsets are stored by the loop, only behind acknowledged
    /// outputs, and committed by librdkafka on its interval, on rebalance and
    /// on close.
    pub fn consumer(&self, context: WorkerContext) -> anyhow::Result<StreamConsumer<WorkerContext>> {
        self.client_config(&[
            ("group.id", &self.group_id),
            ("enable.auto.commit", "true"),
            ("enable.auto.offset.store", "false"),
            ("auto.offset.reset", "earliest"),
            ("statistics.interval.ms", "5000"),
        ])
        .create_with_context(context)
        .context("cannot create the Kafka consumer")
    }

    /// The producer: idempotent, so librdkafka's own retries neither duplicate
    /// nor reorder; a delivery that still fails surfaces within 30 s and the
    /// publisher retries it.
    pub fn producer(&self, context: WorkerContext) -> anyhow::Result<FutureProducer<WorkerContext>> {
        self.client_config(&[
            ("enable.idempotence", "true"),
            ("linger.ms", "5"),
            ("compression.type", "lz4"),
            ("message.timeout.ms", "30000"),
        ])
        .create_with_context(context)
        .context("cannot create the Kafka producer")
    }

    /// A client config with the brokers, the worker's `defaults` and then the
    /// user's passthrough properties, which override the defaults.
    pub(super) fn client_config(&self, defaults: &[(&str, &str)]) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.bootstrap_servers);
        for (name, value) in defaults {
            config.set(*name, *value);
        }
        for (name, value) in self.passthrough() {
            config.set(name, value);
        }
        config
    }

    /// Property names for the start-up log; values may be secrets.
    pub fn passthrough_names(&self) -> Vec<String> {
        self.passthrough().into_iter().map(|(name, _)| name).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_map_to_librdkafka_properties() {
        assert_eq!(property_name("KAFKA_SECURITY_PROTOCOL").as_deref(), Some("security.protocol"));
        assert_eq!(property_name("KAFKA_STATISTICS_INTERVAL_MS").as_deref(), Some("statistics.interval.ms"));
        assert_eq!(property_name("KAFKA_BOOTSTRAP_SERVERS"), None);
        assert_eq!(property_name("KAFKA_"), None);
        assert_eq!(property_name("OTHER"), None);
    }

    #[test]
    fn property_flags_need_a_name_and_an_equals_sign() {
        assert_eq!(parse_property("a.b=c=d"), Ok(("a.b".into(), "c=d".into())));
        assert!(parse_property("novalue").is_err());
        assert!(parse_property("=x").is_err());
    }
}
