//! Creates the worker's topics when they are missing.

use std::time::Duration;

use anyhow::Context as _;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;

use super::config::KafkaConfig;

/// Creates input, output and dead-letter topics that do not exist yet; an
/// existing topic is left exactly as it is.
pub async fn ensure_topics(config: &KafkaConfig) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> =
        config.client_config(&[]).create().context("cannot create the Kafka admin client")?;
    let names = [&config.input_topic, &config.output_topic, &config.dlq_topic];
    let topics: Vec<NewTopic<'_>> = names
        .iter()
        .map(|name| {
            NewTopic::new(name, config.topic_partitions, TopicReplication::Fixed(config.topic_replication_factor))
        })
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let results = tokio::time::timeout(Duration::from_secs(60), admin.create_topics(&topics, &options))
        .await
        .with_context(|| {
            format!("no answer from Kafka at {} within 60s while creating topics", config.bootstrap_servers)
        })?
        .with_context(|| format!("cannot create topics on {}", config.bootstrap_servers))?;
    for result in results {
        match result {
            Ok(topic) => {
                tracing::info!(%topic, partitions = config.topic_partitions, "created topic")
            }
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => anyhow::bail!("cannot create topic {topic}: {code}"),
        }
    }
    Ok(())
}
