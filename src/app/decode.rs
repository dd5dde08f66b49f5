//! From the bytes of a `product-created` record to a valid [`Product`], or the
//! reason it cannot be one.
//!
//! The event is parsed in one pass into the few fields the worker reads,
//! borrowing their strings from the record when the JSON has no escapes;
//! other fields are checked for well-formed JSON and skipped without being
//! built. Of duplicate keys, the last wins.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::domain::{InputKind, ModelInput, Product, ProductId, RejectReason, Rejection};

/// How much of a record the worker takes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Longer product text is truncated, not rejected.
    pub max_text_chars: usize,
    /// A longer product id is rejected: it is copied into the result and its
    /// key, and an id of a megabyte would make a result no broker accepts.
    pub max_product_id_bytes: usize,
}

/// Decodes and validates one record value for a model reading `input`.
pub(crate) fn decode(value: &[u8], key: Option<&[u8]>, input: InputKind, limits: Limits) -> Result<Product, Rejection> {
    let event = parse_object(value)?;
    let event_id = optional_str(&event.event_id, "event_id")?.map(str::to_owned);
    let id = product_id(&event.product_id, key, limits.max_product_id_bytes)?;
    // The text fields are type-checked for every model: a wrong type is a
    // producer bug worth reporting even when this model does not read them.
    let text_fields = [
        optional_str(&event.name, "name")?,
        optional_str(&event.brand, "brand")?,
        optional_str(&event.description, "description")?,
    ];
    let input = match input {
        InputKind::Text => ModelInput::Text(text(text_fields, limits.max_text_chars)?),
        InputKind::Features { width } => ModelInput::Features(features(event.features, width)?),
    };
    Ok(Product { id, event_id, input })
}

/// The fields of a product event the worker reads; `None` when absent.
#[derive(Default)]
struct Event<'a> {
    event_id: Option<Field<'a>>,
    product_id: Option<Field<'a>>,
    name: Option<Field<'a>>,
    brand: Option<Field<'a>>,
    description: Option<Field<'a>>,
    features: Option<Features<'a>>,
}

/// The `features` value, its numbers read straight into what the model
/// takes: a [`Field`] per number, converted after, was two fifths of the
/// decoding of a feature event.
enum Features<'a> {
    Null,
    Array {
        numbers: Vec<f32>,
        len: usize,
        /// The first element that is not a number finite as `f32`.
        invalid: Option<(usize, Field<'a>)>,
    },
    /// Anything else, by its JSON type.
    Other(&'static str),
}

/// A JSON value as far as decoding needs it: strings borrowed when they can
/// be, arrays and objects only noted.
#[derive(Debug)]
enum Field<'a> {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    Str(Cow<'a, str>),
    Array,
    Object,
}

impl Field<'_> {
    fn json_type(&self) -> &'static str {
        match self {
            Field::Null => "null",
            Field::Bool(_) => "boolean",
            Field::Number(_) => "number",
            Field::Str(_) => "string",
            Field::Array => "array",
            Field::Object => "object",
        }
    }
}

/// The value as JSON, containers abbreviated.
impl fmt::Display for Field<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Field::Null => f.write_str("null"),
            Field::Bool(b) => write!(f, "{b}"),
            Field::Number(n) => write!(f, "{n}"),
            Field::Str(s) => write!(f, "{}", serde_json::Value::from(s.as_ref())),
            Field::Array => f.write_str("[...]"),
            Field::Object => f.write_str("{...}"),
        }
    }
}

fn parse_object(value: &[u8]) -> Result<Event<'_>, Rejection> {
    let invalid = |detail: String| Rejection::new(RejectReason::InvalidJson, detail);
    if value.iter().all(u8::is_ascii_whitespace) {
        return Err(invalid("the record value is empty".into()));
    }
    let mut parser = serde_json::Deserializer::from_slice(value);
    let parsed = Document::deserialize(&mut parser).and_then(|document| parser.end().map(|()| document));
    match parsed {
        Ok(Document::Object(event)) => Ok(event),
        Ok(Document::Other(found)) => Err(invalid(format!("the record value is a JSON {found}, not an object"))),
        Err(e) => Err(invalid(format!("the record value is not valid JSON: {e}"))),
    }
}

fn wrong_type(field: &str, expected: &str, found: &Field<'_>) -> Rejection {
    Rejection::new(
        RejectReason::InvalidField,
        format!("field `{field}` must be {expected}, found {}", found.json_type()),
    )
}

/// Absent and null both mean "not given".
fn optional_str<'a>(value: &'a Option<Field<'_>>, field: &str) -> Result<Option<&'a str>, Rejection> {
    match value {
        None | Some(Field::Null) => Ok(None),
        Some(Field::Str(s)) => Ok(Some(s)),
        Some(other) => Err(wrong_type(field, "a string", other)),
    }
}

fn product_id(value: &Option<Field<'_>>, key: Option<&[u8]>, max_bytes: usize) -> Result<ProductId, Rejection> {
    let too_long = |id: ProductId, what: &str| within_limit(id, what, max_bytes);
    let from_event = match value {
        None | Some(Field::Null) => None,
        Some(Field::Str(s)) => ProductId::parse(s),
        Some(Field::Number(n)) if n.is_i64() || n.is_u64() => ProductId::parse(&n.to_string()),
        Some(other) => return Err(wrong_type("product_id", "a string or an integer", other)),
    };
    if let Some(id) = from_event {
        return too_long(id, "field `product_id`");
    }
    let missing = |detail: &str| Rejection::new(RejectReason::MissingProductId, detail);
    let key = key.ok_or_else(|| missing("the event has no product_id and the record has no key"))?;
    let key =
        std::str::from_utf8(key).map_err(|_| missing("the event has no product_id and the record key is not UTF-8"))?;
    let id = ProductId::parse(key).ok_or_else(|| missing("the event has no product_id and the record key is blank"))?;
    too_long(id, "the event has no product_id and the record key, its product id,")
}

/// The product id, unless it is longer than `max_bytes`; `what` names where
/// it came from.
pub(super) fn within_limit(id: ProductId, what: &str, max_bytes: usize) -> Result<ProductId, Rejection> {
    match id.as_str().len() {
        len if len > max_bytes => Err(Rejection::new(
            RejectReason::InvalidField,
            format!("{what} is {len} bytes long; at most {max_bytes} are accepted (PRODUCT_ID_MAX_BYTES)"),
        )),
        _ => Ok(id),
    }
}

fn text(parts: [Option<&str>; 3], max_chars: usize) -> Result<String, Rejection> {
    text_of(parts, max_chars, "name, brand and description are all missing or empty")
}

/// The text a text model reads, truncated to `max_chars`; `missing` is the
/// detail of the rejection when every part is empty.
pub(super) fn text_of(parts: [Option<&str>; 3], max_chars: usize, missing: &str) -> Result<String, Rejection> {
    let mut text = compose_text(parts);
    if text.is_empty() {
        return Err(Rejection::new(RejectReason::MissingText, missing));
    }
    if let Some((cut, _)) = text.char_indices().nth(max_chars) {
        text.truncate(cut);
    }
    Ok(text)
}

/// The text a text model reads: the trimmed, non-empty parts joined by one
/// space. Training (ml/) composes text the same way; keep them in step.
fn compose_text(parts: [Option<&str>; 3]) -> String {
    let parts = parts.map(|p| p.map_or("", str::trim));
    let mut joined = String::with_capacity(parts.iter().map(|p| p.len() + 1).sum());
    for part in parts.into_iter().filter(|p| !p.is_empty()) {
        if !joined.is_empty() {
            joined.push(' ');
        }
        joined.push_str(part);
    }
    // ONNX Runtime string tensors are C strings: a NUL would cut the text.
    match joined.contains('\0') {
        true => joined.replace('\0', " "),
        false => joined,
    }
}

fn features(value: Option<Features<'_>>, width: usize) -> Result<Vec<f32>, Rejection> {
    let invalid = |detail: String| Rejection::new(RejectReason::InvalidFeatures, detail);
    match value {
        None | Some(Features::Null) => {
            Err(invalid(format!("field `features` is missing; the model expects {width} numbers")))
        }
        Some(Features::Other(found)) => {
            Err(invalid(format!("field `features` must be an array of {width} numbers, found {found}")))
        }
        Some(Features::Array { len, .. }) if len != width => {
            Err(invalid(format!("field `features` has {len} values; the model expects {width}")))
        }
        Some(Features::Array { invalid: Some((i, item)), .. }) => {
            Err(invalid(format!("features[{i}] is not a finite number: {item}")))
        }
        Some(Features::Array { numbers, .. }) => Ok(numbers),
    }
}

/// A whole record value: the event, or the JSON type it has instead.
enum Document<'a> {
    Object(Event<'a>),
    Other(&'static str),
}

impl<'de> Deserialize<'de> for Document<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(DocumentVisitor)
    }
}

struct DocumentVisitor;

impl<'de> Visitor<'de> for DocumentVisitor {
    type Value = Document<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut event = Event::default();
        while let Some(key) = map.next_key::<Key>()? {
            let slot = match key {
                Key::Features => {
                    event.features = Some(map.next_value()?);
                    continue;
                }
                Key::EventId => &mut event.event_id,
                Key::ProductId => &mut event.product_id,
                Key::Name => &mut event.name,
                Key::Brand => &mut event.brand,
                Key::Description => &mut event.description,
                Key::Other => {
                    map.next_value::<Skip>()?;
                    continue;
                }
            };
            *slot = Some(map.next_value()?);
        }
        Ok(Document::Object(event))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<Skip>()?.is_some() {}
        Ok(Document::Other("array"))
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Document::Other("null"))
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Document::Other("boolean"))
    }

    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Document::Other("number"))
    }

    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Document::Other("number"))
    }

    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Document::Other("number"))
    }

    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Document::Other("string"))
    }
}

impl<'de> Deserialize<'de> for Features<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(FeaturesVisitor)
    }
}

struct FeaturesVisitor;

impl<'de> Visitor<'de> for FeaturesVisitor {
    type Value = Features<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Features::Null)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Features::Other("boolean"))
    }

    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Features::Other("number"))
    }

    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Features::Other("number"))
    }

    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Features::Other("number"))
    }

    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Features::Other("string"))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut numbers = Vec::with_capacity(seq.size_hint().unwrap_or(16).min(1024));
        let (mut len, mut invalid) = (0, None);
        while let Some(element) = seq.next_element::<Element>()? {
            match element {
                Element::Number(x) if (x as f32).is_finite() && invalid.is_none() => numbers.push(x as f32),
                Element::Number(_) | Element::Other(_) if invalid.is_some() => {}
                Element::Number(x) => {
                    let number = serde_json::Number::from_f64(x).map_or(Field::Null, Field::Number);
                    invalid = Some((len, number));
                }
                Element::Other(item) => invalid = Some((len, item)),
            }
            len += 1;
        }
        Ok(Features::Array { numbers, len, invalid })
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<Skip, Skip>()?.is_some() {}
        Ok(Features::Other("object"))
    }
}

/// An element of `features`: a number, or the value in its place.
enum Element<'a> {
    Number(f64),
    Other(Field<'a>),
}

impl<'de> Deserialize<'de> for Element<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ElementVisitor)
    }
}

struct ElementVisitor;

impl<'de> Visitor<'de> for ElementVisitor {
    type Value = Element<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_i64<E>(self, n: i64) -> Result<Self::Value, E> {
        Ok(Element::Number(n as f64))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Self::Value, E> {
        Ok(Element::Number(n as f64))
    }

    fn visit_f64<E>(self, x: f64) -> Result<Self::Value, E> {
        Ok(Element::Number(x))
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        FieldVisitor.visit_unit().map(Element::Other)
    }

    fn visit_bool<E: serde::de::Error>(self, b: bool) -> Result<Self::Value, E> {
        FieldVisitor.visit_bool(b).map(Element::Other)
    }

    fn visit_borrowed_str<E: serde::de::Error>(self, s: &'de str) -> Result<Self::Value, E> {
        FieldVisitor.visit_borrowed_str(s).map(Element::Other)
    }

    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Self::Value, E> {
        FieldVisitor.visit_str(s).map(Element::Other)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        FieldVisitor.visit_seq(seq).map(Element::Other)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        FieldVisitor.visit_map(map).map(Element::Other)
    }
}

/// The keys the worker reads; every other key is skipped.
enum Key {
    EventId,
    ProductId,
    Name,
    Brand,
    Description,
    Features,
    Other,
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_identifier(KeyVisitor)
    }
}

struct KeyVisitor;

impl Visitor<'_> for KeyVisitor {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E>(self, key: &str) -> Result<Key, E> {
        Ok(match key {
            "event_id" => Key::EventId,
            "product_id" => Key::ProductId,
            "name" => Key::Name,
            "brand" => Key::Brand,
            "description" => Key::Description,
            "features" => Key::Features,
            _ => Key::Other,
        })
    }
}

impl<'de> Deserialize<'de> for Field<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(FieldVisitor)
    }
}

struct FieldVisitor;

impl<'de> Visitor<'de> for FieldVisitor {
    type Value = Field<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Field::Null)
    }

    fn visit_bool<E>(self, b: bool) -> Result<Self::Value, E> {
        Ok(Field::Bool(b))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Self::Value, E> {
        Ok(Field::Number(n.into()))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Self::Value, E> {
        Ok(Field::Number(n.into()))
    }

    fn visit_f64<E: serde::de::Error>(self, x: f64) -> Result<Self::Value, E> {
        serde_json::Number::from_f64(x).map(Field::Number).ok_or_else(|| E::custom("number out of range"))
    }

    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Self::Value, E> {
        Ok(Field::Str(Cow::Borrowed(s)))
    }

    fn visit_str<E>(self, s: &str) -> Result<Self::Value, E> {
        Ok(Field::Str(Cow::Owned(s.to_owned())))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<Skip>()?.is_some() {}
        Ok(Field::Array)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<Skip, Skip>()?.is_some() {}
        Ok(Field::Object)
    }
}

/// Any JSON value, read and dropped. Unlike `IgnoredAny` it goes through the
/// parser's nesting limit, so a value nested too deep stays invalid JSON.
struct Skip;

impl<'de> Deserialize<'de> for Skip {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(SkipVisitor)
    }
}

struct SkipVisitor;

impl<'de> Visitor<'de> for SkipVisitor {
    type Value = Skip;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E>(self) -> Result<Skip, E> {
        Ok(Skip)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Skip, E> {
        Ok(Skip)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Skip, E> {
        Ok(Skip)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Skip, E> {
        Ok(Skip)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Skip, E> {
        Ok(Skip)
    }

    fn visit_str<E>(self, _: &str) -> Result<Skip, E> {
        Ok(Skip)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Skip, A::Error> {
        while seq.next_element::<Skip>()?.is_some() {}
        Ok(Skip)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Skip, A::Error> {
        while map.next_entry::<Skip, Skip>()?.is_some() {}
        Ok(Skip)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: InputKind = InputKind::Text;
    const LIMITS: Limits = Limits { max_text_chars: 100, max_product_id_bytes: 256 };

    fn reason(value: &str, key: Option<&[u8]>, input: InputKind) -> RejectReason {
        decode(value.as_bytes(), key, input, LIMITS).expect_err(value).reason
    }

    #[test]
    fn composes_text_from_trimmed_non_empty_parts() {
        let p = decode(br#"{"product_id":"A","name":" Cabo HDMI ","brand":"","description":"2m"}"#, None, TEXT, LIMITS)
            .unwrap();
        assert_eq!(p.input, ModelInput::Text("Cabo HDMI 2m".into()));
        assert_eq!(p.id.as_str(), "A");
    }

    #[test]
    fn truncates_long_text_on_a_char_boundary() {
        let p = decode(
            "{\"product_id\":1,\"name\":\"ção ção\"}".as_bytes(),
            None,
            TEXT,
            Limits { max_text_chars: 5, ..LIMITS },
        )
        .unwrap();
        assert_eq!(p.input, ModelInput::Text("ção ç".into()));
    }

    #[test]
    fn integer_product_id_and_unknown_fields_are_accepted() {
        let p = decode(br#"{"product_id":123,"name":"x","extra":{"a":[1]}}"#, None, TEXT, LIMITS).unwrap();
        assert_eq!(p.id.as_str(), "123");
    }

    #[test]
    fn missing_product_id_falls_back_to_the_key() {
        let p = decode(br#"{"name":"x"}"#, Some(b"SKU-9"), TEXT, LIMITS).unwrap();
        assert_eq!(p.id.as_str(), "SKU-9");
        assert_eq!(reason(r#"{"name":"x"}"#, None, TEXT), RejectReason::MissingProductId);
        assert_eq!(reason(r#"{"name":"x","product_id":" "}"#, Some(b""), TEXT), RejectReason::MissingProductId);
    }

    #[test]
    fn a_product_id_longer_than_the_limit_is_invalid_field() {
        let id = "P".repeat(256);
        let p = decode(format!(r#"{{"product_id":"{id}","name":"x"}}"#).as_bytes(), None, TEXT, LIMITS).unwrap();
        assert_eq!(p.id.as_str(), id, "the limit itself is accepted");
        let long = "P".repeat(1_048_576);
        let err = decode(format!(r#"{{"product_id":"{long}","name":"x"}}"#).as_bytes(), None, TEXT, LIMITS)
            .expect_err("a 1 MB id");
        assert_eq!(err.reason, RejectReason::InvalidField);
        assert_eq!(
            err.detail,
            "field `product_id` is 1048576 bytes long; at most 256 are accepted (PRODUCT_ID_MAX_BYTES)"
        );
        let err = decode(br#"{"name":"x"}"#, Some(long.as_bytes()), TEXT, LIMITS).expect_err("a 1 MB key");
        assert_eq!(err.reason, RejectReason::InvalidField);
        assert!(err.detail.contains("record key") && err.detail.contains("1048576 bytes"), "{}", err.detail);
        let padded = format!("  {id}  ");
        assert!(decode(br#"{"name":"x"}"#, Some(padded.as_bytes()), TEXT, LIMITS).is_ok(), "counted after trimming");
        let short = Limits { max_product_id_bytes: 5, ..LIMITS };
        let err = decode(r#"{"product_id":"ação","name":"x"}"#.as_bytes(), None, TEXT, short).expect_err("6 bytes");
        assert!(err.detail.contains("6 bytes"), "bytes, not characters: {}", err.detail);
        assert_eq!(err.reason, RejectReason::InvalidField);
    }

    #[test]
    fn malformed_values_are_invalid_json() {
        for bad in ["", "  ", "[1]", "42", "\"s\"", "null", "{\"name\":", "{'a':1}"] {
            assert_eq!(reason(bad, Some(b"k"), TEXT), RejectReason::InvalidJson, "{bad:?}");
        }
        let deep = "[".repeat(200) + &"]".repeat(200);
        assert_eq!(reason(&format!("{{\"a\":{deep}}}"), Some(b"k"), TEXT), RejectReason::InvalidJson);
        let err = decode(b"{\"name\":\"\xff\"}", Some(b"k"), TEXT, LIMITS).unwrap_err();
        assert_eq!(err.reason, RejectReason::InvalidJson);
    }

    #[test]
    fn known_fields_with_the_wrong_type_are_invalid_field() {
        for bad in [
            r#"{"name":42}"#,
            r#"{"name":"x","product_id":{}}"#,
            r#"{"name":"x","product_id":1.5}"#,
            r#"{"name":"x","event_id":[]}"#,
        ] {
            assert_eq!(reason(bad, Some(b"k"), TEXT), RejectReason::InvalidField, "{bad}");
        }
    }

    #[test]
    fn escaped_strings_and_duplicate_keys_decode_like_any_json_parser() {
        let p =
            decode(br#"{"product_id":"A\u0031","name":"x","name":"Cabo \"HDMI\"\t2m"}"#, None, TEXT, LIMITS).unwrap();
        assert_eq!(p.id.as_str(), "A1");
        assert_eq!(p.input, ModelInput::Text("Cabo \"HDMI\"\t2m".into()), "the last of duplicate keys wins");
        let p = decode(br#"{"product_id":"A","name":"a\u0000b"}"#, None, TEXT, LIMITS).unwrap();
        assert_eq!(p.input, ModelInput::Text("a b".into()), "NUL cannot reach ONNX Runtime");
    }

    #[test]
    fn skipped_fields_must_still_be_valid_json() {
        for bad in [r#"{"name":"x","extra":[1,}"#, r#"{"name":"x","extra":tru}"#, r#"{"name":"x"} trailing"#] {
            assert_eq!(reason(bad, Some(b"k"), TEXT), RejectReason::InvalidJson, "{bad}");
        }
        let deep = "[".repeat(200) + &"]".repeat(200);
        assert_eq!(reason(&format!("{{\"name\":{deep}}}"), Some(b"k"), TEXT), RejectReason::InvalidJson);
    }

    #[test]
    fn blank_text_is_missing_text() {
        assert_eq!(reason(r#"{"name":" ","brand":null}"#, Some(b"k"), TEXT), RejectReason::MissingText);
    }

    #[test]
    fn features_must_match_the_model_width_and_be_finite() {
        let kind = InputKind::Features { width: 2 };
        let p = decode(br#"{"product_id":"a","features":[1,-0.5]}"#, None, kind, LIMITS).unwrap();
        assert_eq!(p.input, ModelInput::Features(vec![1.0, -0.5]));
        for bad in [
            r#"{"product_id":"a"}"#,
            r#"{"product_id":"a","features":[1]}"#,
            r#"{"product_id":"a","features":[1,"2"]}"#,
            r#"{"product_id":"a","features":[1,1e300]}"#,
            r#"{"product_id":"a","features":"1,2"}"#,
        ] {
            assert_eq!(reason(bad, None, kind), RejectReason::InvalidFeatures, "{bad}");
        }
    }

    /// The messages a producer reads in the dead letter, pinned.
    #[test]
    fn feature_errors_name_the_value_and_its_place() {
        let kind = InputKind::Features { width: 3 };
        let detail = |features: &str| {
            let value = format!(r#"{{"product_id":"a","features":{features}}}"#);
            decode(value.as_bytes(), None, kind, LIMITS).expect_err(features).detail
        };
        let cases = [
            ("null", "field `features` is missing; the model expects 3 numbers"),
            (r#""1,2,3""#, "field `features` must be an array of 3 numbers, found string"),
            ("{}", "field `features` must be an array of 3 numbers, found object"),
            ("[]", "field `features` has 0 values; the model expects 3"),
            ("[1,2]", "field `features` has 2 values; the model expects 3"),
            ("[1,2,3,4]", "field `features` has 4 values; the model expects 3"),
            (r#"[1,"2",3]"#, r#"features[1] is not a finite number: "2""#),
            ("[1,2,null]", "features[2] is not a finite number: null"),
            ("[[1],2,3]", "features[0] is not a finite number: [...]"),
            ("[1,2,{}]", "features[2] is not a finite number: {...}"),
            ("[1,true,3]", "features[1] is not a finite number: true"),
            ("[1,1e300,3]", "features[1] is not a finite number: 1e+300"),
            ("[1,2,-3.5e39]", "features[2] is not a finite number: -3.5e+39"),
            ("[1,2,\"x\",1e300]", "field `features` has 4 values; the model expects 3"),
        ];
        for (features, expected) in cases {
            assert_eq!(detail(features), expected, "{features}");
        }
        let p = decode(
            br#"{"product_id":"a","features":[18446744073709551615,-9223372036854775808,0.1]}"#,
            None,
            kind,
            LIMITS,
        )
        .expect("integers at the ends of u64 and i64 are finite f32");
        assert_eq!(p.input, ModelInput::Features(vec![1.8446744e19, -9.223372e18, 0.1]));
    }
}
