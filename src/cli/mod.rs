//! Commands besides the worker.

pub mod predict;
