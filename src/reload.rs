//! Rolling a model out without a restart. The file at MODEL_PATH is watched
//! (replaced by an atomic rename) and SIGHUP asks for a reload; the new model
//! is loaded and its contract checked beside the old one, on a blocking
//! thread, then swapped in between batches. A model that fails to load, breaks
//! the contract or reads another kind of input is refused: the old one keeps
//! serving, and the log and `categorizer_model_reload_refused` say so.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::signal::unix::Signal;
use tokio_util::sync::CancellationToken;

use crate::adapters::onnx::{ModelConfig, OnnxRuntime};
use crate::app::Categorizer;
use crate::application::load_scorer;
use crate::panics;
use crate::telemetry::Metrics;

pub struct ModelReloader {
    pub runtime: OnnxRuntime,
    pub config: ModelConfig,
    /// Zero: only SIGHUP reloads.
    pub watch_interval: Duration,
    pub categorizer: Arc<Categorizer>,
    pub metrics: Arc<Metrics>,
}

/// What tells a replaced file from the one loaded: a rename gives a new
/// inode; a copy over it changes the size or the modification time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileIdentity {
    device: u64,
    inode: u64,
    size: u64,
    modified: Option<SystemTime>,
}

/// Follows symlinks, so a Kubernetes ConfigMap's `..data` swap counts too.
fn identity(path: &Path) -> Option<FileIdentity> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).ok()?;
    Some(FileIdentity { device: meta.dev(), inode: meta.ino(), size: meta.len(), modified: meta.modified().ok() })
}

impl ModelReloader {
    /// Reloads on SIGHUP and whenever the file changes, until `shutdown`.
    pub async fn run(self, mut hangup: Signal, shutdown: CancellationToken) {
        let path = self.config.model_path.clone();
        let mut seen = identity(&path);
        let watching = !self.watch_interval.is_zero();
        let mut tick = tokio::time::interval(self.watch_interval.max(Duration::from_millis(1)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                signal = hangup.recv() => {
                    if signal.is_none() {
                        return;
                    }
                    tracing::info!(path = %path.display(), "SIGHUP: reloading the model");
                    seen = identity(&path);
                    self.reload().await;
                }
                _ = tick.tick(), if watching => {
                    let now = identity(&path);
                    // A missing file is a replacement under way, not a model.
                    if now.is_some() && now != seen {
                        tracing::info!(path = %path.display(), "the model file changed: reloading");
                        seen = now;
                        self.reload().await;
                    }
                }
            }
        }
    }

    async fn reload(&self) {
        let (runtime, config) = (self.runtime.clone(), self.config.clone());
        let current = self.categorizer.model();
        // A panic in ONNX Runtime while loading is a refused model, like a
        // load that fails: the running model goes on.
        let loaded = tokio::task::spawn_blocking(move || {
            let load = || {
                let (predictor, model, settings) = load_scorer(&runtime, &config, &config.model_path)?;
                if model.input != current.input {
                    anyhow::bail!(
                        "it reads {} input and the running model reads {}: changing the input kind needs a restart",
                        model.input,
                        current.input
                    );
                }
                Ok((predictor, model, settings))
            };
            panics::contained(std::panic::AssertUnwindSafe(load))
                .unwrap_or_else(|panic| Err(anyhow::anyhow!("loading panicked: {}", panics::message(panic.as_ref()))))
        })
        .await
        .unwrap_or_else(|join| Err(anyhow::anyhow!("loading panicked: {join}")));
        match loaded {
            Ok((predictor, model, settings)) => {
                let previous = self.categorizer.model();
                self.categorizer.swap(predictor, model.clone(), settings);
                self.metrics.set_model(&model);
                self.metrics.model_reloads.with_label_values(&["loaded"]).inc();
                self.metrics.model_reload_refused.set(0);
                tracing::info!(
                    from = format!("{} {}", previous.name, previous.version),
                    to = format!("{} {}", model.name, model.version),
                    "new model in service from the next batch"
                );
            }
            Err(error) => {
                self.metrics.model_reloads.with_label_values(&["refused"]).inc();
                self.metrics.model_reload_refused.set(1);
                let serving = self.categorizer.model();
                tracing::error!(
                    serving = format!("{} {}", serving.name, serving.version),
                    "new model refused, the previous one keeps serving: {error:#}"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_renamed_or_rewritten_file_has_another_identity_and_an_untouched_one_the_same() {
        let dir = std::env::temp_dir().join(format!("reload-identity-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("model.onnx");
        std::fs::write(&path, b"first").unwrap();
        let first = identity(&path);
        assert!(first.is_some());
        assert_eq!(identity(&path), first, "nothing changed");

        let staging = dir.join("model.onnx.staging");
        std::fs::write(&staging, b"first").unwrap();
        std::fs::rename(&staging, &path).unwrap();
        let renamed = identity(&path);
        assert_ne!(renamed, first, "same bytes, new inode: a replacement");

        std::fs::write(&path, b"second, longer").unwrap();
        assert_ne!(identity(&path), renamed, "rewritten in place: another size");

        std::fs::remove_file(&path).unwrap();
        assert_eq!(identity(&path), None, "a missing file is no model");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
