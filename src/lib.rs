//! product-categorizer: a Kafka worker that categorizes products with an ONNX
//! model. The domain and app service know nothing of Kafka, ONNX or HTTP; the
//! adapters translate.

pub mod adapters;
pub mod app;
pub mod application;
pub mod cli;
pub mod config;
pub mod domain;
pub mod health;
pub mod panics;
pub mod ports;
pub mod reload;
pub mod telemetry;
