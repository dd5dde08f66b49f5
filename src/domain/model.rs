use std::fmt;
use std::sync::Arc;

/// What a model reads: one text per product, or a fixed-width feature vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    Text,
    Features { width: usize },
}

impl InputKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            InputKind::Text => "text",
            InputKind::Features { .. } => "features",
        }
    }
}

impl fmt::Display for InputKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InputKind::Text => f.write_str("text"),
            InputKind::Features { width } => write!(f, "features[{width}]"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Category {
    // Shared, not copied, by every result that names the category.
    pub code: Arc<str>,
    pub name: Arc<str>,
}

/// Everything the worker knows about the loaded model; categories are in the
/// model's output column order.
#[derive(Debug, Clone)]
pub struct ModelInfo {
    pub name: Arc<str>,
    pub version: Arc<str>,
    pub input: InputKind,
    pub categories: Vec<Category>,
    /// The needs_review threshold the model's authors chose on validation data.
    pub review_threshold: Option<f32>,
    /// The share of results the model flagged at that threshold on held-out
    /// data: the baseline against which a rising flagged rate means drift.
    pub heldout_flagged_ratio: Option<f64>,
}
