//! Translations between the app service and the outside: Kafka, ONNX Runtime,
//! HTTP.

pub mod http;
pub mod kafka;
/// The in-memory broker behind the pipeline's tests: not in the release binary.
#[cfg(test)]
pub mod memory;
pub mod onnx;
