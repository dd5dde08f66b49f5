//! From the bytes of a `product-created` record to a valid [`Product`], or the
//! reason it cannot be one.

use serde_json::{Map, Value};

use crate::domain::{InputKind, ModelInput, Product, ProductId, RejectReason, Rejection};

/// Decodes and validates one record value for a model reading `input`.
pub(crate) fn decode(
    value: &[u8],
    key: Option<&[u8]>,
    input: InputKind,
    max_text_chars: usize,
) -> Result<Product, Rejection> {
    let event = parse_object(value)?;
    let event_id = optional_str(&event, "event_id")?.map(str::to_owned);
    let id = product_id(&event, key)?;
    // The text fields are type-checked for every model: a wrong type is a
    // producer bug worth reporting even when this model does not read them.
    let text_fields = text_fields(&event)?;
    let input = match input {
        InputKind::Text => ModelInput::Text(text(text_fields, max_text_chars)?),
        InputKind::Features { width } => ModelInput::Features(features(&event, width)?),
    };
    Ok(Product { id, event_id, input })
}

fn parse_object(value: &[u8]) -> Result<Map<String, Value>, Rejection> {
    let invalid = |detail: String| Rejection::new(RejectReason::InvalidJson, detail);
    if value.iter().all(u8::is_ascii_whitespace) {
        return Err(invalid("the record value is empty".into()));
    }
    match serde_json::from_slice::<Value>(value) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(other) => Err(invalid(format!("the record value is a JSON {}, not an object", json_type(&other)))),
        Err(e) => Err(invalid(format!("the record value is not valid JSON: {e}"))),
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn wrong_type(field: &str, expected: &str, found: &Value) -> Rejection {
    Rejection::new(
        RejectReason::InvalidField,
        format!("field `{field}` must be {expected}, found {}", json_type(found)),
    )
}

/// Absent and null both mean "not given".
fn optional_str<'a>(event: &'a Map<String, Value>, field: &str) -> Result<Option<&'a str>, Rejection> {
    match event.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(wrong_type(field, "a string", other)),
    }
}

fn product_id(event: &Map<String, Value>, key: Option<&[u8]>) -> Result<ProductId, Rejection> {
    let from_event = match event.get("product_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => ProductId::parse(s),
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => ProductId::parse(&n.to_string()),
        Some(other) => return Err(wrong_type("product_id", "a string or an integer", other)),
    };
    if let Some(id) = from_event {
        return Ok(id);
    }
    let missing = |detail: &str| Rejection::new(RejectReason::MissingProductId, detail);
    let key = key.ok_or_else(|| missing("the event has no product_id and the record has no key"))?;
    let key =
        std::str::from_utf8(key).map_err(|_| missing("the event has no product_id and the record key is not UTF-8"))?;
    ProductId::parse(key).ok_or_else(|| missing("the event has no product_id and the record key is blank"))
}

fn text_fields(event: &Map<String, Value>) -> Result<[Option<&str>; 3], Rejection> {
    Ok([optional_str(event, "name")?, optional_str(event, "brand")?, optional_str(event, "description")?])
}

fn text(parts: [Option<&str>; 3], max_chars: usize) -> Result<String, Rejection> {
    let mut text = compose_text(parts);
    if text.is_empty() {
        return Err(Rejection::new(RejectReason::MissingText, "name, brand and description are all missing or empty"));
    }
    if let Some((cut, _)) = text.char_indices().nth(max_chars) {
        text.truncate(cut);
    }
    Ok(text)
}

/// The text a text model reads: the trimmed, non-empty parts joined by one
/// space. Training (ml/) composes text the same way; keep them in step.
fn compose_text(parts: [Option<&str>; 3]) -> String {
    let joined = parts.into_iter().flatten().map(str::trim).filter(|p| !p.is_empty()).collect::<Vec<_>>().join(" ");
    // ONNX Runtime string tensors are C strings: a NUL would cut the text.
    joined.replace('\0', " ")
}

fn features(event: &Map<String, Value>, width: usize) -> Result<Vec<f32>, Rejection> {
    let invalid = |detail: String| Rejection::new(RejectReason::InvalidFeatures, detail);
    let items = match event.get("features") {
        None | Some(Value::Null) => {
            return Err(invalid(format!("field `features` is missing; the model expects {width} numbers")))
        }
        Some(Value::Array(items)) => items,
        Some(other) => {
            return Err(invalid(format!(
                "field `features` must be an array of {width} numbers, found {}",
                json_type(other)
            )))
        }
    };
    if items.len() != width {
        return Err(invalid(format!("field `features` has {} values; the model expects {width}", items.len())));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            item.as_f64()
                .map(|x| x as f32)
                .filter(|x| x.is_finite())
                .ok_or_else(|| invalid(format!("features[{i}] is not a finite number: {item}")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: InputKind = InputKind::Text;

    fn reason(value: &str, key: Option<&[u8]>, input: InputKind) -> RejectReason {
        decode(value.as_bytes(), key, input, 100).expect_err(value).reason
    }

    #[test]
    fn composes_text_from_trimmed_non_empty_parts() {
        let p = decode(br#"{"product_id":"A","name":" Cabo HDMI ","brand":"","description":"2m"}"#, None, TEXT, 100)
            .unwrap();
        assert_eq!(p.input, ModelInput::Text("Cabo HDMI 2m".into()));
        assert_eq!(p.id.as_str(), "A");
    }

    #[test]
    fn truncates_long_text_on_a_char_boundary() {
        let p = decode("{\"product_id\":1,\"name\":\"ção ção\"}".as_bytes(), None, TEXT, 5).unwrap();
        assert_eq!(p.input, ModelInput::Text("ção ç".into()));
    }

    #[test]
    fn integer_product_id_and_unknown_fields_are_accepted() {
        let p = decode(br#"{"product_id":123,"name":"x","extra":{"a":[1]}}"#, None, TEXT, 100).unwrap();
        assert_eq!(p.id.as_str(), "123");
    }

    #[test]
    fn missing_product_id_falls_back_to_the_key() {
        let p = decode(br#"{"name":"x"}"#, Some(b"SKU-9"), TEXT, 100).unwrap();
        assert_eq!(p.id.as_str(), "SKU-9");
        assert_eq!(reason(r#"{"name":"x"}"#, None, TEXT), RejectReason::MissingProductId);
        assert_eq!(reason(r#"{"name":"x","product_id":" "}"#, Some(b""), TEXT), RejectReason::MissingProductId);
    }

    #[test]
    fn malformed_values_are_invalid_json() {
        for bad in ["", "  ", "[1]", "42", "\"s\"", "null", "{\"name\":", "{'a':1}"] {
            assert_eq!(reason(bad, Some(b"k"), TEXT), RejectReason::InvalidJson, "{bad:?}");
        }
        let deep = "[".repeat(200) + &"]".repeat(200);
        assert_eq!(reason(&format!("{{\"a\":{deep}}}"), Some(b"k"), TEXT), RejectReason::InvalidJson);
        let err = decode(b"{\"name\":\"\xff\"}", Some(b"k"), TEXT, 100).unwrap_err();
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
    fn blank_text_is_missing_text() {
        assert_eq!(reason(r#"{"name":" ","brand":null}"#, Some(b"k"), TEXT), RejectReason::MissingText);
    }

    #[test]
    fn features_must_match_the_model_width_and_be_finite() {
        let kind = InputKind::Features { width: 2 };
        let p = decode(br#"{"product_id":"a","features":[1,-0.5]}"#, None, kind, 100).unwrap();
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
}
