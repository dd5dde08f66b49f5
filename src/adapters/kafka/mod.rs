//! Kafka in and out: the record source and output sink over rdkafka, and
//! their plumbing.

mod config;
mod context;
mod dead_letter;
mod environment;
mod headers;
mod redrive;
mod shadow;
mod sink;
mod source;
mod spans;
mod topics;

pub use config::{
    Client, KafkaConfig, Property, CONSUMER_DEFAULTS, EXACTLY_ONCE_LOCKED, EXACTLY_ONCE_PRODUCER_DEFAULTS,
    LOCKED_PROPERTIES, PRODUCER_DEFAULTS,
};
pub use context::{SecurityAlarm, WorkerContext};
pub use redrive::{redrive, RedriveError, RedriveOptions};
pub use shadow::KafkaShadowPublisher;
pub use sink::{KafkaSink, Transactions};
pub use source::{KafkaMeta, KafkaSource};
pub use topics::{ensure_topics, message_limits};
