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

impl CategorizedEvent {
    /// The event as JSON, byte for byte what `serde_json::to_vec` gives for
    /// its `Serialize` (a test holds them equal), written directly: the
    /// field names need no escaping and the strings seldom do. Through serde
    /// it was a tenth of the feature model's time per record.
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256 + 24 * self.probabilities.0.len());
        out.extend_from_slice(b"{\"event_id\":");
        string(&mut out, &self.event_id);
        out.extend_from_slice(b",\"product_id\":");
        string(&mut out, &self.product_id);
        out.extend_from_slice(b",\"category\":{\"code\":");
        string(&mut out, &self.category.code);
        out.extend_from_slice(b",\"name\":");
        string(&mut out, &self.category.name);
        out.extend_from_slice(b"},\"confidence\":");
        number(&mut out, self.confidence);
        out.extend_from_slice(b",\"probabilities\":{");
        for (i, (code, p)) in self.probabilities.0.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            string(&mut out, code);
            out.push(b':');
            number(&mut out, *p);
        }
        out.extend_from_slice(if self.needs_review { b"},\"needs_review\":true" } else { b"},\"needs_review\":false" });
        out.extend_from_slice(b",\"model\":{\"name\":");
        string(&mut out, &self.model.name);
        out.extend_from_slice(b",\"version\":");
        string(&mut out, &self.model.version);
        out.extend_from_slice(b"},\"source\":{\"topic\":");
        string(&mut out, &self.source.topic);
        out.extend_from_slice(b",\"partition\":");
        out.extend_from_slice(itoa::Buffer::new().format(self.source.partition).as_bytes());
        out.extend_from_slice(b",\"offset\":");
        out.extend_from_slice(itoa::Buffer::new().format(self.source.offset).as_bytes());
        if let Some(event_id) = &self.source.event_id {
            out.extend_from_slice(b",\"event_id\":");
            string(&mut out, event_id);
        }
        out.extend_from_slice(b"},\"categorized_at\":");
        string(&mut out, &self.categorized_at);
        if let Some(carried) = &self.carried {
            out.extend_from_slice(b",\"carried\":");
            json(&mut out, carried);
        }
        out.push(b'}');
        out
    }
}

/// A JSON string: copied when nothing in it needs escaping (no early exit,
/// so the check vectorizes), else escaped by serde_json.
fn string(out: &mut Vec<u8>, text: &str) {
    let escapes = text.bytes().fold(false, |any, b| any | (b < 0x20) | (b == b'"') | (b == b'\\'));
    if escapes {
        return json(out, text);
    }
    out.push(b'"');
    out.extend_from_slice(text.as_bytes());
    out.push(b'"');
}

/// serde_json's own formatting (shortest round-trip for floats).
fn number(out: &mut Vec<u8>, value: f64) {
    json(out, &value);
}

fn json<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    // Writing to a Vec cannot fail, and neither can these values' Serialize
    // (strings, finite numbers, JSON values; a non-finite f64 becomes null).
    let _ = serde_json::to_writer(&mut *out, value);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(product_id: &str, event_id: Option<&str>, carried: Option<serde_json::Value>) -> CategorizedEvent {
        CategorizedEvent {
            event_id: "73d6a0a9-ba22-5bd5-84e9-3d7b1cb7c8c8".into(),
            product_id: product_id.into(),
            category: CategoryRef { code: "AUTOPECAS".into(), name: "Autopeças \"novas\"".into() },
            confidence: 0.9731,
            probabilities: Probabilities(vec![
                ("AUTOPECAS".into(), 0.9731),
                ("INFORMATICA".into(), 0.0001),
                ("MATERIAL\\CONSTRUCAO".into(), 0.0),
                ("X".into(), 1.0),
                ("Y".into(), 1e-20),
                ("Z".into(), f64::NAN),
            ]),
            needs_review: event_id.is_none(),
            model: ModelRef { name: "product-category".into(), version: "2026.12.03\u{7f}".into() },
            source: SourceRef {
                topic: "product-created".into(),
                partition: -1,
                offset: i64::MAX,
                event_id: event_id.map(str::to_owned),
            },
            categorized_at: "2026-12-03T18:00:00.041Z".into(),
            carried: carried.map(|value| match value {
                serde_json::Value::Object(map) => map,
                other => panic!("not an object: {other}"),
            }),
        }
    }

    /// The fast encoding is the contract's encoding: the same bytes as
    /// serde_json over the derived `Serialize`, whatever the strings hold.
    #[test]
    fn the_direct_encoding_is_byte_for_byte_serde_json() {
        let ids = ["SKU-1", "", "aspas \" e \\ barra", "controle \u{1}\n\t\u{1f}", "ç ã 💡 \u{2028}", "</script>"];
        let carried = serde_json::json!({"sku": "a\"b", "price": 12.5, "tags": [1, null, {"x": "\u{0}"}]});
        for id in ids {
            for (event_id, carried) in [(None, None), (Some(id), Some(carried.clone()))] {
                let event = event(id, event_id, carried);
                let direct = event.to_json();
                let serde = serde_json::to_vec(&event).expect("serializes");
                assert_eq!(String::from_utf8_lossy(&direct), String::from_utf8_lossy(&serde), "product id {id:?}");
            }
        }
    }
}
