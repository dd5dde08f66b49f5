//! Kafka in and out: the consumer loop, the publisher and their plumbing.

mod config;
mod consumer;
mod context;
mod headers;
mod offsets;
mod publisher;
mod spans;
mod topics;

pub use config::KafkaConfig;
pub use consumer::{LoopConfig, Worker};
pub use context::WorkerContext;
pub use publisher::Publisher;
pub use topics::ensure_topics;
