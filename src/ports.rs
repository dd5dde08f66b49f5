//! What the app service needs from the outside world.

use crate::domain::{ModelInput, Prediction};

/// Categorizes a batch of products in one call: batching is what makes model
/// inference fast.
pub trait Predictor: Send + Sync {
    /// One prediction per input, in input order.
    fn predict(&self, inputs: &[&ModelInput]) -> Result<Vec<Prediction>, PredictError>;
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct PredictError(pub String);
