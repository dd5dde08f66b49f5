//! The `product-categorized` event, as DESIGN.md fixes it.

use std::sync::Arc;

use serde::ser::{Serialize, SerializeMap, Serializer};

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CategorizedEvent {
    pub event_id: String,
    pub product_id: String,
    pub category: CategoryRef,
    pub confidence: f64,
    pub probabilities: Probabilities,
    pub needs_review: bool,
    pub model: ModelRef,
    pub source: SourceRef,
    pub categorized_at: String,
    /// The input fields CARRY_FIELDS names, for consumers that join without
    /// a lookup; absent when it names none, so the default output is as
    /// DESIGN.md shows it (additive only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub carried: Option<super::input::Carried>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CategoryRef {
    pub code: Arc<str>,
    pub name: Arc<str>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ModelRef {
    pub name: Arc<str>,
    pub version: Arc<str>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SourceRef {
    pub topic: Arc<str>,
    pub partition: i32,
    pub offset: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
}

/// Category code -> probability, serialized as a JSON object in model column
/// order.
#[derive(Debug, Clone, PartialEq)]
pub struct Probabilities(pub Vec<(Arc<str>, f64)>);

impl Serialize for Probabilities {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (code, p) in &self.0 {
            map.serialize_entry(code, p)?;
        }
        map.end()
    }
}

/// Four decimals are plenty for a probability, and `0.973` reads better than
/// the f32 artefact `0.9729999899864197`.
pub(crate) fn round_probability(p: f32) -> f64 {
    (f64::from(p) * 10_000.0).round() / 10_000.0
}
