//! Creates the worker's topics when they are missing, waiting for the brokers
//! while they are unreachable.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use backon::{ExponentialBuilder, Retryable};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::ClientContext;
use tokio_util::sync::CancellationToken;

use super::config::{describe, KafkaConfig};
use super::context::SecurityAlarm;

/// How long the brokers may take to answer one attempt; librdkafka's own
/// default (`socket.timeout.ms`, 60 s) would hide an outage for a minute.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a broker may take to finish creating the topics.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(10);
/// A bound on one attempt, whatever librdkafka does.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(20);

/// Pauses between attempts: 1 s, 2 s, 4 s, then every 5 s.
fn backoff() -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_secs(1))
        .with_max_delay(Duration::from_secs(5))
        .with_factor(2.0)
        .without_max_times()
}

/// Creates input, output and dead-letter topics (and `extra` ones, e.g. the
/// shadow topic) that do not exist yet; an
/// existing topic is left exactly as it is.
///
/// While the brokers are unreachable (or not ready: no controller, timeouts)
/// it tries again with backoff, one warning per attempt, until they answer or
/// `shutdown` is cancelled; then it returns `Ok` at once (the caller checks
/// the token). A permanent answer (not authorized, invalid replication factor,
/// policy violation, ...) is an error naming the topic, and so is `security`
/// raised by the worker's clients (wrong credentials, untrusted CA, wrong
/// protocol): no answer will ever come. `extra` topics are created beside
/// the worker's own.
pub async fn ensure_topics(
    config: &KafkaConfig,
    extra: &[String],
    security: &SecurityAlarm,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let create = || create_topics(config, extra);
    let waiting = create.retry(backoff()).when(Failure::is_transient).notify(|failure, wait| {
        tracing::warn!(
            brokers = %config.bootstrap_servers,
            waited = format!("{}s", started.elapsed().as_secs()),
            retry_in = ?wait,
            "Kafka is not reachable yet, waiting for it (not ready): {failure}"
        );
    });
    tokio::select! {
        biased;
        () = shutdown.cancelled() => {
            tracing::info!("stopped while waiting for Kafka");
            Ok(())
        }
        result = waiting => result.map_err(|failure| anyhow::anyhow!(failure.to_string())),
        failure = security.raised() => {
            anyhow::bail!("cannot connect to Kafka at {}: {failure}", config.bootstrap_servers)
        }
    }
}

/// One attempt's failure.
#[derive(Debug)]
enum Failure {
    /// The brokers did not answer or are not ready: worth waiting for.
    Unreachable(String),
    /// The brokers answered no.
    Refused(String),
}

impl Failure {
    fn is_transient(&self) -> bool {
        matches!(self, Failure::Unreachable(_))
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Unreachable(text) | Failure::Refused(text) => f.write_str(text),
        }
    }
}

/// Error codes that mean "not reachable or not ready yet" rather than "no".
fn is_transient(code: RDKafkaErrorCode) -> bool {
    use RDKafkaErrorCode::*;
    matches!(
        code,
        BrokerTransportFailure
            | AllBrokersDown
            | Resolve
            | OperationTimedOut
            | MessageTimedOut
            | TimedOutQueue
            | BrokerDestroy
            | RequestTimedOut
            | NetworkException
            | BrokerNotAvailable
            | LeaderNotAvailable
            | NotController
            | CoordinatorNotAvailable
            | CoordinatorLoadInProgress
            | NotCoordinator
            | ThrottlingQuotaExceeded
    )
}

async fn create_topics(config: &KafkaConfig, extra: &[String]) -> Result<(), Failure> {
    // A fresh client per attempt connects at once, rather than after
    // librdkafka's reconnect backoff (up to 10 s) once the brokers are back.
    let admin: AdminClient<AdminContext> = config
        .admin_config()
        .create_with_context(AdminContext::default())
        .map_err(|error| Failure::Refused(format!("cannot create the Kafka admin client: {}", describe(&error))))?;
    let names = [&config.input_topic, &config.output_topic, &config.dlq_topic];
    let topics: Vec<NewTopic<'_>> = names
        .into_iter()
        .chain(extra)
        .map(|name| {
            NewTopic::new(name, config.topic_partitions, TopicReplication::Fixed(config.topic_replication_factor))
        })
        .collect();
    let options = AdminOptions::new().request_timeout(Some(REQUEST_TIMEOUT)).operation_timeout(Some(OPERATION_TIMEOUT));
    let last_error = || admin.inner().context().last_error().map(|e| format!(" (last client error: {e})"));
    let results = match tokio::time::timeout(ATTEMPT_TIMEOUT, admin.create_topics(&topics, &options)).await {
        Err(_) => {
            return Err(Failure::Unreachable(format!(
                "no answer within {ATTEMPT_TIMEOUT:?}{}",
                last_error().unwrap_or_default()
            )))
        }
        Ok(Err(error)) => {
            let text = format!("cannot create topics: {}{}", describe(&error), last_error().unwrap_or_default());
            // rdkafka's `rdkafka_error_code` is None for admin errors.
            let code = match &error {
                KafkaError::AdminOp(code) => Some(*code),
                other => other.rdkafka_error_code(),
            };
            return Err(match code {
                Some(code) if is_transient(code) => Failure::Unreachable(text),
                _ if matches!(error, KafkaError::Canceled) => Failure::Unreachable(text),
                _ => Failure::Refused(text),
            });
        }
        Ok(Ok(results)) => results,
    };
    let mut unreachable = Vec::new();
    for result in results {
        match result {
            Ok(topic) => {
                tracing::info!(%topic, partitions = config.topic_partitions, "created topic")
            }
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) if is_transient(code) => unreachable.push(format!("topic {topic}: {code}")),
            Err((topic, code)) => {
                return Err(Failure::Refused(format!(
                    "cannot create topic {topic} ({} partitions, replication factor {}): {code}",
                    config.topic_partitions, config.topic_replication_factor
                )))
            }
        }
    }
    match unreachable.is_empty() {
        true => Ok(()),
        false => Err(Failure::Unreachable(format!("cannot create {}", unreachable.join(", ")))),
    }
}

/// Each topic's `max.message.bytes`, the largest record batch it accepts:
/// the producer keeps its batches and records within it, so a batch of small
/// records is never refused whole for its size. A topic that cannot be
/// described (no DESCRIBE_CONFIGS right, no answer in time) is left out, with
/// a warning; the producer's own limit then applies.
pub async fn message_limits(config: &KafkaConfig, topics: &[&str]) -> HashMap<String, usize> {
    let admin: AdminClient<AdminContext> = match config.admin_config().create_with_context(AdminContext::default()) {
        Ok(admin) => admin,
        Err(error) => {
            tracing::warn!(error = %describe(&error), "cannot read the topics' size limits");
            return HashMap::new();
        }
    };
    let resources: Vec<ResourceSpecifier<'_>> = topics.iter().map(|topic| ResourceSpecifier::Topic(topic)).collect();
    let options = AdminOptions::new().request_timeout(Some(REQUEST_TIMEOUT));
    let described = match tokio::time::timeout(ATTEMPT_TIMEOUT, admin.describe_configs(&resources, &options)).await {
        Ok(Ok(described)) => described,
        Ok(Err(error)) => {
            tracing::warn!(error = %describe(&error), "cannot read the topics' size limits");
            return HashMap::new();
        }
        Err(_) => {
            tracing::warn!(timeout = ?ATTEMPT_TIMEOUT, "cannot read the topics' size limits: no answer");
            return HashMap::new();
        }
    };
    let mut limits = HashMap::new();
    for (topic, resource) in topics.iter().zip(described) {
        let limit = resource
            .ok()
            .and_then(|resource| resource.get("max.message.bytes").and_then(|entry| entry.value.clone()))
            .and_then(|value| value.parse::<usize>().ok());
        match limit {
            Some(limit) => {
                limits.insert((*topic).to_owned(), limit);
            }
            None => tracing::warn!(%topic, "cannot read the topic's max.message.bytes; the producer's limit applies"),
        }
    }
    limits
}

/// The admin client's callbacks: librdkafka's complaints about unreachable
/// brokers go to debug, and the last one into the attempt's warning, rather
/// than a burst of error lines per attempt.
#[derive(Default)]
struct AdminContext {
    last_error: Mutex<Option<String>>,
}

impl AdminContext {
    fn last_error(&self) -> Option<String> {
        self.last_error.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

impl ClientContext for AdminContext {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        tracing::debug!(?level, facility, "librdkafka (admin): {message}");
    }

    fn error(&self, error: KafkaError, reason: &str) {
        tracing::debug!(%error, "librdkafka (admin): {reason}");
        *self.last_error.lock().unwrap_or_else(PoisonError::into_inner) = Some(reason.to_owned());
    }

    fn stats_raw(&self, _statistics: &[u8]) {}
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[test]
    fn unreachable_brokers_are_waited_for_and_refusals_are_not() {
        for code in [
            RDKafkaErrorCode::BrokerTransportFailure,
            RDKafkaErrorCode::AllBrokersDown,
            RDKafkaErrorCode::OperationTimedOut,
            RDKafkaErrorCode::Resolve,
            RDKafkaErrorCode::NotController,
        ] {
            assert!(is_transient(code), "{code:?}");
        }
        for code in [
            RDKafkaErrorCode::TopicAuthorizationFailed,
            RDKafkaErrorCode::ClusterAuthorizationFailed,
            RDKafkaErrorCode::InvalidReplicationFactor,
            RDKafkaErrorCode::PolicyViolation,
            RDKafkaErrorCode::InvalidPartitions,
            RDKafkaErrorCode::InvalidTopic,
            RDKafkaErrorCode::InvalidConfig,
        ] {
            assert!(!is_transient(code), "{code:?}");
        }
    }

    #[test]
    fn backoff_waits_one_to_five_seconds_for_ever() {
        use backon::BackoffBuilder;
        let waits: Vec<Duration> = backoff().build().take(8).collect();
        let seconds: Vec<u64> = waits.iter().map(Duration::as_secs).collect();
        assert_eq!(seconds, [1, 2, 4, 5, 5, 5, 5, 5]);
        assert!(backoff().build().nth(1000).is_some(), "no limit on attempts");
    }

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        kafka: KafkaConfig,
    }

    /// Nothing listens on the port: the attempts fail, and cancelling the
    /// token ends the wait promptly with Ok.
    #[tokio::test]
    async fn waits_for_an_unreachable_broker_until_cancelled() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut config = Cli::try_parse_from(["test"]).unwrap().kafka;
        config.bootstrap_servers = format!("127.0.0.1:{port}");
        let shutdown = CancellationToken::new();
        let cancel = shutdown.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(7)).await;
            cancel.cancel();
        });
        let started = Instant::now();
        ensure_topics(&config, &[], &SecurityAlarm::default(), &shutdown).await.unwrap();
        let took = started.elapsed();
        assert!(took >= Duration::from_secs(7), "gave up after {took:?} instead of waiting");
        assert!(took < Duration::from_secs(9), "cancellation took {took:?}");
    }
}
