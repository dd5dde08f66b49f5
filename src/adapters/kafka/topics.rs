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

/// How long a topic the worker does not create may be missing before that is
/// an error: a topic created just before the worker started can take a moment
/// to appear in every broker's metadata.
const MISSING_GRACE: Duration = Duration::from_secs(5);

/// Makes sure the input, output and dead-letter topics (and `extra` ones,
/// e.g. the shadow topic) exist before the pipeline starts. With
/// `CREATE_TOPICS=true` it creates those that do not exist yet (an existing
/// topic is left exactly as it is); otherwise it only checks that they
/// exist, and a missing one is an error naming it and the two ways out.
///
/// While the brokers are unreachable (or not ready: no controller, timeouts)
/// it tries again with backoff, one warning per attempt, until they answer or
/// `shutdown` is cancelled; then it returns `Ok` at once (the caller checks
/// the token). A permanent answer (not authorized, invalid replication factor,
/// policy violation, a topic still missing after [`MISSING_GRACE`], ...) is an
/// error naming the topic, and so is `security` raised by the worker's
/// clients (wrong credentials, untrusted CA, wrong protocol): no answer will
/// ever come.
pub async fn ensure_topics(
    config: &KafkaConfig,
    extra: &[String],
    security: &SecurityAlarm,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let started = Instant::now();
    if config.create_topics {
        warn_about_replication(config);
    }
    let attempt = || async {
        match config.create_topics {
            true => create_topics(config, extra).await,
            false => check_topics(config, extra).await,
        }
    };
    let waiting = attempt
        .retry(backoff())
        .when(|failure| match failure {
            Failure::Unreachable(_) => true,
            Failure::Missing(_) => started.elapsed() < MISSING_GRACE,
            Failure::Refused(_) => false,
        })
        .notify(|failure, wait| match failure {
            Failure::Missing(text) => tracing::info!(retry_in = ?wait, "{text}; looking again"),
            _ => tracing::warn!(
                brokers = %config.bootstrap_servers,
                waited = format!("{}s", started.elapsed().as_secs()),
                retry_in = ?wait,
                "Kafka is not reachable yet, waiting for it (not ready): {failure}"
            ),
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

/// One replica is right for a laptop's single broker and wrong anywhere else:
/// a topic created that way loses its records with that broker's disk.
fn warn_about_replication(config: &KafkaConfig) {
    if config.topic_replication_factor != Some(1) || only_loopback(&config.bootstrap_servers) {
        return;
    }
    tracing::warn!(
        brokers = %config.bootstrap_servers,
        "TOPIC_REPLICATION_FACTOR=1 on brokers that are not local: topics the worker creates keep one copy \
         of each record, lost with that broker's disk; unset it to use the cluster's default replication \
         factor, or create the topics yourself and set CREATE_TOPICS=false"
    );
}

/// Whether every bootstrap server is this machine (the local test broker).
fn only_loopback(servers: &str) -> bool {
    servers.split(',').map(str::trim).filter(|s| !s.is_empty()).all(|server| {
        // `host:port`, `[v6]:port`, or a `protocol://` prefix librdkafka accepts.
        let server = server.rsplit("://").next().unwrap_or(server);
        let host = match server.rsplit_once(':') {
            Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host,
            _ => server,
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
    })
}

/// The replication factor as the messages say it.
fn replication_text(config: &KafkaConfig) -> String {
    match config.topic_replication_factor {
        Some(factor) => format!("replication factor {factor}"),
        None => "the cluster's default replication factor".into(),
    }
}

/// One attempt's failure.
#[derive(Debug)]
enum Failure {
    /// The brokers did not answer or are not ready: worth waiting for.
    Unreachable(String),
    /// A topic the worker does not create is not in the brokers' metadata:
    /// worth looking again for a few seconds only.
    Missing(String),
    /// The brokers answered no.
    Refused(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Unreachable(text) | Failure::Missing(text) | Failure::Refused(text) => f.write_str(text),
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
            // -1 asks the broker for its default.replication.factor (KIP-464, Kafka 2.4+).
            let replication = config.topic_replication_factor.unwrap_or(-1);
            NewTopic::new(name, config.topic_partitions, TopicReplication::Fixed(replication))
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
                    "cannot create topic {topic} ({} partitions, {}): {code}",
                    config.topic_partitions,
                    replication_text(config)
                )))
            }
        }
    }
    match unreachable.is_empty() {
        true => Ok(()),
        false => Err(Failure::Unreachable(format!("cannot create {}", unreachable.join(", ")))),
    }
}

/// With `CREATE_TOPICS=false`: every topic the worker needs is in the
/// brokers' metadata. All topics are asked for, not each by name: a request
/// naming a missing topic may make a broker with `auto.create.topics.enable`
/// create it, with its defaults, which is what this setting is there to avoid.
async fn check_topics(config: &KafkaConfig, extra: &[String]) -> Result<(), Failure> {
    let admin: AdminClient<AdminContext> = config
        .admin_config()
        .create_with_context(AdminContext::default())
        .map_err(|error| Failure::Refused(format!("cannot create the Kafka admin client: {}", describe(&error))))?;
    // fetch_metadata blocks its thread for up to REQUEST_TIMEOUT.
    let fetched = tokio::task::spawn_blocking(move || {
        let metadata = admin.inner().fetch_metadata(None, REQUEST_TIMEOUT);
        let names: Result<Vec<String>, KafkaError> =
            metadata.map(|metadata| metadata.topics().iter().map(|topic| topic.name().to_owned()).collect());
        (names, admin.inner().context().last_error())
    });
    let (names, last_error) = match tokio::time::timeout(ATTEMPT_TIMEOUT, fetched).await {
        Ok(Ok(result)) => result,
        Ok(Err(join)) => return Err(Failure::Refused(format!("cannot read the topics' metadata: {join}"))),
        Err(_) => return Err(Failure::Unreachable(format!("no answer within {ATTEMPT_TIMEOUT:?}"))),
    };
    let existing = match names {
        Ok(names) => names,
        Err(error) => {
            let last_error = last_error.map(|e| format!(" (last client error: {e})")).unwrap_or_default();
            let text = format!("cannot read the topics' metadata: {}{last_error}", describe(&error));
            // Waited for, whatever the code: a metadata request for all
            // topics fails only when no broker answers it, and brokers that
            // refuse the credentials or TLS raise the security alarm, which
            // stops the wait with its own message.
            return Err(Failure::Unreachable(text));
        }
    };
    let wanted = [&config.input_topic, &config.output_topic, &config.dlq_topic].into_iter().chain(extra);
    let missing: Vec<&String> = wanted.filter(|name| !existing.contains(name)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let list = missing.iter().map(|name| name.as_str()).collect::<Vec<_>>().join(", ");
    let first = missing[0];
    Err(Failure::Missing(format!(
        "missing topic{s} {list} (CREATE_TOPICS is false, so the worker does not create topics): create {them} \
         (e.g. kafka-topics.sh --bootstrap-server {brokers} --create --topic {first} --partitions {partitions}), \
         or set CREATE_TOPICS=true to have the worker create {them} with {replication}; \
         a topic this principal may not DESCRIBE looks missing too",
        s = if missing.len() > 1 { "s" } else { "" },
        them = if missing.len() > 1 { "them" } else { "it" },
        brokers = config.bootstrap_servers,
        partitions = config.topic_partitions,
        replication = replication_text(config),
    )))
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
    fn only_brokers_on_this_machine_count_as_local() {
        for local in ["127.0.0.1:9092", "localhost:9092,127.0.0.2:9093", "[::1]:9092", "PLAINTEXT://127.0.0.1:39092"] {
            assert!(only_loopback(local), "{local}");
        }
        for remote in ["kafka:9092", "127.0.0.1:9092,b-1.kafka:9092", "10.0.0.5:9092", "[2001:db8::1]:9092"] {
            assert!(!only_loopback(remote), "{remote}");
        }
    }

    #[test]
    fn topics_are_not_created_by_default_and_then_with_the_clusters_replication() {
        let config = Cli::try_parse_from(["test"]).unwrap().kafka;
        assert!(!config.create_topics);
        assert_eq!(config.topic_replication_factor, None);
        assert_eq!(replication_text(&config), "the cluster's default replication factor");
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
