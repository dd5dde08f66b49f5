//! Commands besides the worker.

pub mod predict;
pub mod redrive;
