//! ONNX Runtime behind the [`Predictor`](crate::ports::Predictor) port.

mod config;
mod contract;
mod padding;
mod predictor;

pub use config::ModelConfig;
pub use predictor::{load_model, ModelLoadError, OnnxPredictor, OnnxRuntime};
