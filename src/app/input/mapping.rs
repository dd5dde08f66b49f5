//! Which fields of a record hold the product id, the text, the features and
//! the fields carried into the result, named by JSON pointer (RFC 6901) into
//! the value as [`super::debezium`] shapes it (`/after/<column>` for change
//! events, `/<field>` for plain events).

use std::fmt;

use serde_json::{Map, Value};

use super::{json_type, InputConfig, InputError, InputFormat};
use crate::app::decode::{text_of, within_limit, Limits};
use crate::domain::{InputKind, ModelInput, Product, ProductId, RejectReason, Rejection};

/// What Debezium writes, by default (`unavailable.value.placeholder`), in
/// place of a column it could not read: an unchanged TOASTed column in an
/// update of a table without REPLICA IDENTITY FULL.
pub(super) const UNAVAILABLE_VALUE: &str = "__debezium_unavailable_value";

/// Input fields copied into a result, by the name they are carried under.
pub type Carried = Map<String, Value>;

/// One place a product id may be.
#[derive(Debug, Clone, PartialEq, Eq)]
enum IdSource {
    /// A field of the value.
    Field(String),
    /// The record key as text, unless it is a JSON object (a key struct is
    /// read with `KeyField`).
    Key,
    /// A field of a JSON record key (Debezium's `{"id": 42}`, with or
    /// without a schema envelope).
    KeyField(String),
}

impl fmt::Display for IdSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdSource::Field(pointer) => f.write_str(pointer),
            IdSource::Key => f.write_str("key"),
            IdSource::KeyField(pointer) => write!(f, "key:{pointer}"),
        }
    }
}

#[derive(Debug)]
pub(super) struct Mapping {
    product_id: Vec<IdSource>,
    event_id: Option<String>,
    /// Name, brand, description: joined in this order, as training does.
    text: [Option<String>; 3],
    features: Option<String>,
    /// (name, pointer)
    carry: Vec<(String, String)>,
}

/// The settings' values when they are not given, per format.
struct Defaults {
    product_id: &'static str,
    event_id: &'static str,
    text: [&'static str; 3],
    features: &'static str,
}

fn defaults(format: InputFormat) -> Defaults {
    let after = ["/after/name", "/after/brand", "/after/description"];
    match format {
        InputFormat::Plain => Defaults {
            product_id: "/product_id,key",
            event_id: "/event_id",
            text: ["/name", "/brand", "/description"],
            features: "/features",
        },
        // Debezium keys are the primary key's struct; a table without one
        // has no key, so the `id` column is the fallback.
        InputFormat::Debezium => {
            Defaults { product_id: "key:/id,/after/id", event_id: "", text: after, features: "/after/features" }
        }
        // A plain event is the `after` of a create here: its own fields
        // first, then a change event's key and `id` column, then the plain
        // event's key.
        InputFormat::Auto => Defaults {
            product_id: "/after/product_id,key:/id,/after/id,key",
            event_id: "/after/event_id",
            text: after,
            features: "/after/features",
        },
    }
}

/// `value` as a pointer; empty means not mapped.
fn pointer(setting: &'static str, value: &str) -> Result<Option<String>, InputError> {
    match value.trim() {
        "" => Ok(None),
        p if p.starts_with('/') => Ok(Some(p.to_owned())),
        p => Err(InputError::NotAPointer { setting, value: p.to_owned() }),
    }
}

fn id_sources(value: &str) -> Result<Vec<IdSource>, InputError> {
    let sources = value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            if s == "key" {
                return Ok(IdSource::Key);
            }
            let (raw, in_key) = s.strip_prefix("key:").map_or((s, false), |p| (p, true));
            match pointer("FIELD_PRODUCT_ID", raw)? {
                Some(p) if in_key => Ok(IdSource::KeyField(p)),
                Some(p) => Ok(IdSource::Field(p)),
                // `key:` with nothing after it.
                None => Err(InputError::NotAPointer { setting: "FIELD_PRODUCT_ID", value: s.to_owned() }),
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    if sources.is_empty() {
        return Err(InputError::NoProductId);
    }
    Ok(sources)
}

/// `<pointer>` or `<name>=<pointer>`; a bare pointer is named after its
/// last segment, unescaped (`~1` is `/`, `~0` is `~`).
fn carry_field(spec: &str) -> Result<(String, String), InputError> {
    let bad = || InputError::BadCarryField(spec.to_owned());
    let (name, raw) = match spec.split_once('=') {
        Some((name, raw)) => (name.trim().to_owned(), raw),
        None => {
            let last = spec.trim().rsplit('/').next().unwrap_or_default();
            (last.replace("~1", "/").replace("~0", "~"), spec)
        }
    };
    let pointer = pointer("CARRY_FIELDS", raw)?.ok_or_else(bad)?;
    if name.is_empty() {
        return Err(bad());
    }
    Ok((name, pointer))
}

impl Mapping {
    pub(super) fn new(config: &InputConfig) -> Result<Self, InputError> {
        let defaults = defaults(config.input_format);
        let given = |value: &Option<String>, default: &'static str| value.clone().unwrap_or_else(|| default.to_owned());
        let mut carry: Vec<(String, String)> = Vec::new();
        for spec in config.carry_fields.iter().filter(|s| !s.trim().is_empty()) {
            let (name, pointer) = carry_field(spec)?;
            if carry.iter().any(|(other, _)| *other == name) {
                return Err(InputError::DuplicateCarryField(name));
            }
            carry.push((name, pointer));
        }
        Ok(Mapping {
            product_id: id_sources(&given(&config.field_product_id, defaults.product_id))?,
            event_id: pointer("FIELD_EVENT_ID", &given(&config.field_event_id, defaults.event_id))?,
            text: [
                pointer("FIELD_NAME", &given(&config.field_name, defaults.text[0]))?,
                pointer("FIELD_BRAND", &given(&config.field_brand, defaults.text[1]))?,
                pointer("FIELD_DESCRIPTION", &given(&config.field_description, defaults.text[2]))?,
            ],
            features: pointer("FIELD_FEATURES", &given(&config.field_features, defaults.features))?,
            carry,
        })
    }

    pub(super) fn check(&self, input: InputKind, format: InputFormat) -> Result<(), InputError> {
        match input {
            InputKind::Text if self.text.iter().all(Option::is_none) => Err(InputError::NoTextField { format }),
            InputKind::Features { width } if self.features.is_none() => {
                Err(InputError::NoFeatureField { format, width })
            }
            InputKind::Text | InputKind::Features { .. } => Ok(()),
        }
    }

    /// The fields the model reads.
    fn model_fields(&self, input: InputKind) -> impl Iterator<Item = &str> {
        let fields: &[Option<String>] = match input {
            InputKind::Text => &self.text,
            InputKind::Features { .. } => std::slice::from_ref(&self.features),
        };
        fields.iter().flatten().map(String::as_str)
    }

    /// Whether an update changed a field the model reads: each one under
    /// `/after` is compared with the same path under `/before`. Without
    /// `before` (no REPLICA IDENTITY FULL), or without any such field to
    /// compare, nothing says it did not.
    pub(super) fn changed(&self, event: &Value, input: InputKind) -> bool {
        if !event.get("before").is_some_and(Value::is_object) {
            return true;
        }
        let mut compared = false;
        for after in self.model_fields(input) {
            let Some(column) = after.strip_prefix("/after").filter(|rest| rest.starts_with('/')) else { continue };
            compared = true;
            if event.pointer(after) != event.pointer(&format!("/before{column}")) {
                return true;
            }
        }
        !compared
    }

    /// The first field the model reads that holds Debezium's placeholder
    /// for a value it could not read (alone, or as an element of an array
    /// column), if any.
    pub(super) fn unavailable(&self, event: &Value, input: InputKind) -> Option<&str> {
        let placeholder = |value: &Value| match value {
            Value::String(s) => s == UNAVAILABLE_VALUE,
            Value::Array(items) => items.iter().any(|item| item.as_str() == Some(UNAVAILABLE_VALUE)),
            _ => false,
        };
        self.model_fields(input).find(|pointer| event.pointer(pointer).is_some_and(placeholder))
    }

    pub(super) fn product(
        &self,
        event: &Value,
        key: Option<&[u8]>,
        input: InputKind,
        limits: Limits,
    ) -> Result<Product, Rejection> {
        let id = self.product_id(event, key, limits.max_product_id_bytes)?;
        let event_id = match &self.event_id {
            Some(pointer) => optional_str(event, pointer)?.map(str::to_owned),
            None => None,
        };
        // Type-checked for every model, as plain events are: a wrong type
        // is a producer's bug worth reporting.
        let mut parts = [None; 3];
        for (part, pointer) in parts.iter_mut().zip(&self.text) {
            if let Some(pointer) = pointer {
                *part = optional_str(event, pointer)?;
            }
        }
        let input = match input {
            InputKind::Text => {
                let fields: Vec<&str> = self.text.iter().flatten().map(String::as_str).collect();
                let missing = format!("the text fields {} are all missing or empty", fields.join(", "));
                ModelInput::Text(text_of(parts, limits.max_text_chars, &missing)?)
            }
            InputKind::Features { width } => ModelInput::Features(self.features(event, width)?),
        };
        Ok(Product { id, event_id, input })
    }

    fn product_id(&self, event: &Value, key: Option<&[u8]>, max_bytes: usize) -> Result<ProductId, Rejection> {
        // Parsed once, and only when a source needs it.
        let mut key_document: Option<Option<Value>> = None;
        for source in &self.product_id {
            let found = match source {
                IdSource::Field(pointer) => id_of(event.pointer(pointer), || format!("field `{pointer}`"))?,
                IdSource::Key => key_text(key),
                IdSource::KeyField(pointer) => {
                    let document = key_document.get_or_insert_with(|| key_json(key));
                    match document {
                        Some(document) => {
                            id_of(document.pointer(pointer), || format!("the record key's field `{pointer}`"))?
                        }
                        None => None,
                    }
                }
            };
            if let Some(id) = found {
                let what = match source {
                    IdSource::Field(pointer) => format!("field `{pointer}`"),
                    IdSource::Key => "the record key, its product id,".to_owned(),
                    IdSource::KeyField(pointer) => format!("the record key's field `{pointer}`"),
                };
                return within_limit(id, &what, max_bytes);
            }
        }
        let tried: Vec<String> = self.product_id.iter().map(ToString::to_string).collect();
        Err(Rejection::new(
            RejectReason::MissingProductId,
            format!("no product id in any of {} (FIELD_PRODUCT_ID)", tried.join(", ")),
        ))
    }

    fn features(&self, event: &Value, width: usize) -> Result<Vec<f32>, Rejection> {
        let invalid = |detail: String| Rejection::new(RejectReason::InvalidFeatures, detail);
        let Some(pointer) = &self.features else {
            return Err(invalid("FIELD_FEATURES is empty: no feature vector is mapped".to_owned()));
        };
        let items = match event.pointer(pointer) {
            None | Some(Value::Null) => {
                return Err(invalid(format!("field `{pointer}` is missing; the model expects {width} numbers")))
            }
            Some(Value::Array(items)) => items,
            Some(other) => {
                return Err(invalid(format!(
                    "field `{pointer}` must be an array of {width} numbers, found {}",
                    json_type(other)
                )))
            }
        };
        if items.len() != width {
            return Err(invalid(format!("field `{pointer}` has {} values; the model expects {width}", items.len())));
        }
        items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                item.as_f64()
                    .map(|x| x as f32)
                    .filter(|x| x.is_finite())
                    .ok_or_else(|| invalid(format!("{pointer}[{i}] is not a finite number: {item}")))
            })
            .collect()
    }

    /// The carried fields, when CARRY_FIELDS names any; a field the record
    /// lacks is left out.
    pub(super) fn carried(&self, event: &Value) -> Option<Carried> {
        if self.carry.is_empty() {
            return None;
        }
        Some(
            self.carry
                .iter()
                .filter_map(|(name, pointer)| Some((name.clone(), event.pointer(pointer)?.clone())))
                .collect(),
        )
    }
}

impl fmt::Display for Mapping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let or_none = |p: &Option<String>| p.clone().unwrap_or_else(|| "-".to_owned());
        let ids: Vec<String> = self.product_id.iter().map(ToString::to_string).collect();
        write!(
            f,
            "product id {}; event id {}; name {}; brand {}; description {}; features {}",
            ids.join(","),
            or_none(&self.event_id),
            or_none(&self.text[0]),
            or_none(&self.text[1]),
            or_none(&self.text[2]),
            or_none(&self.features)
        )?;
        if !self.carry.is_empty() {
            let carry: Vec<String> = self.carry.iter().map(|(name, pointer)| format!("{name}={pointer}")).collect();
            write!(f, "; carried {}", carry.join(","))?;
        }
        Ok(())
    }
}

/// A record value as a JSON object, or why it is not one (the same reasons
/// and words as the plain decoder).
pub(super) fn parse(value: &[u8]) -> Result<Value, Rejection> {
    let invalid = |detail: String| Rejection::new(RejectReason::InvalidJson, detail);
    if value.iter().all(u8::is_ascii_whitespace) {
        return Err(invalid("the record value is empty".into()));
    }
    match serde_json::from_slice::<Value>(value) {
        Ok(object @ Value::Object(_)) => Ok(object),
        Ok(other) => Err(invalid(format!("the record value is a JSON {}, not an object", json_type(&other)))),
        Err(e) => Err(invalid(format!("the record value is not valid JSON: {e}"))),
    }
}

/// Absent and null both mean "not given".
fn optional_str<'a>(event: &'a Value, pointer: &str) -> Result<Option<&'a str>, Rejection> {
    match event.pointer(pointer) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(Rejection::new(
            RejectReason::InvalidField,
            format!("field `{pointer}` must be a string, found {}", json_type(other)),
        )),
    }
}

/// A product id from a string or an integer; `None` when absent, null or
/// blank, so the next source is tried.
fn id_of(value: Option<&Value>, what: impl Fn() -> String) -> Result<Option<ProductId>, Rejection> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(ProductId::parse(s)),
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => Ok(ProductId::parse(&n.to_string())),
        Some(other) => Err(Rejection::new(
            RejectReason::InvalidField,
            format!("{} must be a string or an integer, found {}", what(), json_type(other)),
        )),
    }
}

/// The key as text; `None` for no key, a key that is not UTF-8 or blank,
/// or a JSON object (a key struct has fields, not an id).
fn key_text(key: Option<&[u8]>) -> Option<ProductId> {
    let text = std::str::from_utf8(key?).ok()?;
    if text.trim_start().starts_with('{') && matches!(serde_json::from_str::<Value>(text), Ok(Value::Object(_))) {
        return None;
    }
    ProductId::parse(text)
}

/// The key as JSON, without JsonConverter's schema envelope.
fn key_json(key: Option<&[u8]>) -> Option<Value> {
    match serde_json::from_slice::<Value>(key?).ok()? {
        Value::Object(mut object) if object.len() == 2 && object.contains_key("schema") => object.remove("payload"),
        other => Some(other),
    }
}
