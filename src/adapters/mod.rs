//! Translations between the app service and the outside: Kafka, ONNX Runtime,
//! HTTP.

pub mod http;
pub mod kafka;
pub mod memory;
pub mod onnx;
