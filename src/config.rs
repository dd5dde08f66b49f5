//! Command line and environment: every setting is a flag and a variable.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::adapters::kafka::KafkaConfig;
use crate::adapters::onnx::ModelConfig;
use crate::app::{InputConfig, PipelineConfig};
use crate::cli::redrive::RedriveArgs;
use crate::telemetry::logging::LogFormat;

#[derive(Debug, Parser)]
#[command(
    name = "product-categorizer",
    version,
    about = "Reads product-created events from Kafka, categorizes each product with an ONNX model and publishes product-categorized events.",
    subcommand_negates_reqs = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub worker: WorkerConfig,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Categorize product names given as arguments, or one per line on stdin, without Kafka.
    /// A line that starts with `{` is read as a whole product-created event.
    Predict(PredictArgs),
    /// Send dead letters back to the input topic once their cause is fixed: the original key, value
    /// and headers without the dlq.* ones, plus a redrive.count header that stops a record failing
    /// again after --max-redrives. Reads from the redrive group's position up to where the
    /// dead-letter topic ended at start, and commits that position (see docs/operations.md).
    Redrive(Box<RedriveArgs>),
}

#[derive(Debug, Args)]
pub struct PredictArgs {
    #[command(flatten)]
    pub model: ModelConfig,

    /// Print each product-categorized event as JSON instead of a table row.
    #[arg(long)]
    pub json: bool,

    /// Product names; none means read stdin.
    pub names: Vec<String>,
}

#[derive(Debug, Args)]
pub struct WorkerConfig {
    #[command(flatten)]
    pub kafka: KafkaConfig,

    #[command(flatten)]
    pub model: ModelConfig,

    #[command(flatten)]
    pub input: InputConfig,

    #[command(flatten)]
    pub pipeline: PipelineConfig,

    /// How often the worker checks whether the file at MODEL_PATH was replaced; 0: only on SIGHUP.
    #[arg(long, env = "MODEL_WATCH_INTERVAL_MS", default_value_t = 1000)]
    pub model_watch_interval_ms: u64,

    #[command(flatten)]
    pub shadow: ShadowConfig,

    /// Address of the HTTP server (/metrics, /healthz, /readyz).
    #[arg(long, env = "HTTP_ADDR", default_value = "0.0.0.0:8080")]
    pub http_addr: SocketAddr,

    /// Log format on stderr; RUST_LOG sets the level (default info).
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// A second model scored beside the primary one, for comparison only.
#[derive(Debug, Clone, Args)]
pub struct ShadowConfig {
    /// A second ONNX model that scores every record too, without changing what is published;
    /// /metrics compares it with MODEL_PATH (categorizer_shadow_*).
    #[arg(long, env = "SHADOW_MODEL_PATH")]
    pub shadow_model_path: Option<PathBuf>,

    /// Topic that receives the shadow model's results (product-categorized format), for offline analysis.
    #[arg(long, env = "SHADOW_TOPIC", requires = "shadow_model_path")]
    pub shadow_topic: Option<String>,
}
