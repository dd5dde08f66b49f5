//! Liveness and readiness, shared by the worker's parts and the HTTP server.

use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Debug)]
pub struct Health {
    model_loaded: AtomicBool,
    model_available: AtomicBool,
    model_stalled: AtomicBool,
    group_joined: AtomicBool,
    fatal: AtomicBool,
}

impl Default for Health {
    fn default() -> Self {
        Health {
            model_loaded: AtomicBool::new(false),
            model_available: AtomicBool::new(true),
            model_stalled: AtomicBool::new(false),
            group_joined: AtomicBool::new(false),
            fatal: AtomicBool::new(false),
        }
    }
}

impl Health {
    pub fn set_model_loaded(&self) {
        self.model_loaded.store(true, Ordering::Relaxed);
    }

    /// False while the model fails on every input.
    pub fn set_model_available(&self, available: bool) {
        self.model_available.store(available, Ordering::Relaxed);
    }

    /// True while a model call runs past its deadline.
    pub fn set_model_stalled(&self, stalled: bool) {
        self.model_stalled.store(stalled, Ordering::Relaxed);
    }

    pub fn set_group_joined(&self, joined: bool) {
        self.group_joined.store(joined, Ordering::Relaxed);
    }

    /// For good: the worker is stopping because of an error.
    pub fn set_fatal(&self) {
        self.fatal.store(true, Ordering::Relaxed);
    }

    /// Ready to take work: the model is loaded and answering, the consumer is
    /// in its group, and nothing fatal happened.
    pub fn is_ready(&self) -> bool {
        self.model_loaded.load(Ordering::Relaxed)
            && self.model_available.load(Ordering::Relaxed)
            && !self.model_stalled.load(Ordering::Relaxed)
            && self.group_joined.load(Ordering::Relaxed)
            && !self.fatal.load(Ordering::Relaxed)
    }

    /// Why not ready, for `/readyz`.
    pub fn reason(&self) -> &'static str {
        if self.fatal.load(Ordering::Relaxed) {
            "stopping after a fatal error (see the log)"
        } else if !self.model_loaded.load(Ordering::Relaxed) {
            "model not loaded yet"
        } else if !self.model_available.load(Ordering::Relaxed) {
            "the model fails on every input; retrying"
        } else if self.model_stalled.load(Ordering::Relaxed) {
            "a model call is taking longer than MODEL_CALL_TIMEOUT_MS; waiting for it"
        } else if !self.group_joined.load(Ordering::Relaxed) {
            "consumer not in its group yet"
        } else {
            "ready"
        }
    }
}
