//! Liveness and readiness, shared by the worker's parts and the HTTP server.

use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Debug, Default)]
pub struct Health {
    model_loaded: AtomicBool,
    group_joined: AtomicBool,
}

impl Health {
    pub fn set_model_loaded(&self) {
        self.model_loaded.store(true, Ordering::Relaxed);
    }

    pub fn set_group_joined(&self) {
        self.group_joined.store(true, Ordering::Relaxed);
    }

    /// Ready to take work: the model is loaded and the consumer is in its group.
    pub fn is_ready(&self) -> bool {
        self.model_loaded.load(Ordering::Relaxed) && self.group_joined.load(Ordering::Relaxed)
    }
}
