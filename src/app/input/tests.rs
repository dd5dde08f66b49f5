//! The input formats and the field mapping against Debezium-shaped events
//! (tests/fixtures/debezium, written after Debezium's documented format).

use serde_json::{json, Value};

use super::*;
use crate::domain::{ModelInput, RejectReason};

const CREATE: &str = include_str!("../../../tests/fixtures/debezium/create.json");
const SNAPSHOT_WITH_SCHEMA: &str = include_str!("../../../tests/fixtures/debezium/create_schema.json");
const KEY_WITH_SCHEMA: &str = include_str!("../../../tests/fixtures/debezium/key_schema.json");
const UPDATE_FULL: &str = include_str!("../../../tests/fixtures/debezium/update_full.json");
const DELETE: &str = include_str!("../../../tests/fixtures/debezium/delete.json");
const FLATTENED: &str = include_str!("../../../tests/fixtures/debezium/flattened.json");
const FLATTENED_DELETED: &str = include_str!("../../../tests/fixtures/debezium/flattened_deleted.json");

const TEXT: InputKind = InputKind::Text;
const LIMITS: Limits = Limits { max_text_chars: 200, max_product_id_bytes: 256 };

fn settings(format: InputFormat) -> InputConfig {
    InputConfig {
        input_format: format,
        update_policy: UpdatePolicy::Changed,
        field_product_id: None,
        field_event_id: None,
        field_name: None,
        field_brand: None,
        field_description: None,
        field_features: None,
        carry_fields: Vec::new(),
        carry_headers: Vec::new(),
    }
}

fn reader(config: &InputConfig) -> Reader {
    let reader = Reader::new(config).expect("valid settings");
    reader.check(TEXT).expect("a text model fits the mapping");
    reader
}

fn debezium() -> Reader {
    reader(&settings(InputFormat::Debezium))
}

fn read(reader: &Reader, value: &str, key: Option<&str>) -> Result<Read, Rejection> {
    reader.read(Some(value.as_bytes()), key.map(str::as_bytes), TEXT, LIMITS)
}

/// The product of a record that must be one.
fn product_of(reader: &Reader, value: &str, key: Option<&str>) -> (Product, Option<Carried>) {
    match read(reader, value, key) {
        Ok(Read::Product(product, carried)) => (product, carried),
        other => panic!("expected a product from {value}, got {other:?}"),
    }
}

fn skipped(reader: &Reader, value: Option<&str>, key: Option<&str>) -> SkipReason {
    match reader.read(value.map(str::as_bytes), key.map(str::as_bytes), TEXT, LIMITS) {
        Ok(Read::Skip(reason)) => reason,
        other => panic!("expected a skip for {value:?}, got {other:?}"),
    }
}

fn rejected(reader: &Reader, value: &str, key: Option<&str>) -> Rejection {
    match read(reader, value, key) {
        Err(rejection) => rejection,
        other => panic!("expected a rejection of {value}, got {other:?}"),
    }
}

/// The create fixture changed by `edit`.
fn create_with(edit: impl FnOnce(&mut Value)) -> String {
    let mut event: Value = serde_json::from_str(CREATE).unwrap();
    edit(&mut event);
    event.to_string()
}

fn text(product: &Product) -> &str {
    match &product.input {
        ModelInput::Text(text) => text,
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_default_plain_settings_keep_the_fast_path() {
    assert!(matches!(Reader::new(&settings(InputFormat::Plain)).unwrap(), Reader::Plain));
    let custom = InputConfig { field_name: Some("/nome".into()), ..settings(InputFormat::Plain) };
    assert!(matches!(Reader::new(&custom).unwrap(), Reader::Mapped(_)));
}

#[test]
fn a_create_is_categorized_from_after_with_the_id_from_the_key_struct() {
    let (product, carried) = product_of(&debezium(), CREATE, Some(r#"{"id":42}"#));
    assert_eq!(product.id.as_str(), "42");
    assert_eq!(text(&product), "SSD Kingston A400 480GB Kingston SATA III 2.5 polegadas");
    assert_eq!(product.event_id, None, "Debezium events have no event id by default");
    assert_eq!(carried, None, "nothing carried unless CARRY_FIELDS says so");
}

#[test]
fn without_a_key_the_id_column_is_the_product_id() {
    let (product, _) = product_of(&debezium(), CREATE, None);
    assert_eq!(product.id.as_str(), "42");
}

#[test]
fn a_snapshot_read_with_schemas_on_is_categorized_and_its_schema_key_read() {
    let (product, _) = product_of(&debezium(), SNAPSHOT_WITH_SCHEMA, Some(KEY_WITH_SCHEMA));
    assert_eq!(product.id.as_str(), "7");
    assert_eq!(text(&product), "Cimento CP II 50kg Votorantim Saco de cimento Portland composto");
}

#[test]
fn an_update_is_categorized_only_when_a_field_the_model_reads_changed() {
    let reader = debezium();
    // The fixture changes only the price.
    assert_eq!(skipped(&reader, Some(UPDATE_FULL), Some(r#"{"id":42}"#)), SkipReason::UpdateUnchanged);
    let mut renamed: Value = serde_json::from_str(UPDATE_FULL).unwrap();
    renamed["after"]["name"] = json!("SSD Kingston A400 960GB");
    let (product, _) = product_of(&reader, &renamed.to_string(), Some(r#"{"id":42}"#));
    assert!(text(&product).contains("960GB"));
    // A column the model does not read, added or removed, is not a change.
    let mut sku: Value = serde_json::from_str(UPDATE_FULL).unwrap();
    sku["after"]["sku"] = json!("OTHER");
    assert_eq!(skipped(&reader, Some(&sku.to_string()), None), SkipReason::UpdateUnchanged);
}

#[test]
fn an_update_without_before_is_categorized_as_nothing_says_it_did_not_change() {
    let mut update: Value = serde_json::from_str(UPDATE_FULL).unwrap();
    update["before"] = Value::Null;
    let (product, _) = product_of(&debezium(), &update.to_string(), Some(r#"{"id":42}"#));
    assert_eq!(product.id.as_str(), "42");
}

#[test]
fn the_update_policy_decides_for_every_update() {
    let always = reader(&InputConfig { update_policy: UpdatePolicy::Always, ..settings(InputFormat::Debezium) });
    assert!(matches!(read(&always, UPDATE_FULL, None), Ok(Read::Product(..))), "always: even unchanged");
    let never = reader(&InputConfig { update_policy: UpdatePolicy::Never, ..settings(InputFormat::Debezium) });
    let mut renamed: Value = serde_json::from_str(UPDATE_FULL).unwrap();
    renamed["after"]["name"] = json!("changed");
    assert_eq!(skipped(&never, Some(&renamed.to_string()), None), SkipReason::UpdateIgnored);
    assert!(matches!(read(&never, CREATE, None), Ok(Read::Product(..))), "never applies to updates only");
}

#[test]
fn deletes_tombstones_and_truncates_are_skipped_not_dead_lettered() {
    let reader = debezium();
    assert_eq!(skipped(&reader, Some(DELETE), Some(r#"{"id":42}"#)), SkipReason::Delete);
    assert_eq!(skipped(&reader, None, Some(r#"{"id":42}"#)), SkipReason::Tombstone);
    assert_eq!(skipped(&reader, Some(r#"{"schema":null,"payload":null}"#), None), SkipReason::Tombstone);
    let truncate =
        r#"{"source":{"connector":"postgresql","table":"products"},"op":"t","ts_ms":1764072200000,"transaction":null}"#;
    assert_eq!(skipped(&reader, Some(truncate), None), SkipReason::Truncate);
    assert_eq!(skipped(&Reader::Plain, None, None), SkipReason::Tombstone, "plain tombstones as before");
}

#[test]
fn flattened_rows_are_categorized_and_their_deleted_rows_skipped() {
    let reader = debezium();
    let (product, _) = product_of(&reader, FLATTENED, Some(r#"{"id":43}"#));
    assert_eq!(product.id.as_str(), "43");
    assert_eq!(text(&product), "Mouse sem fio Logitech M170 Logitech Receptor USB nano");
    assert_eq!(skipped(&reader, Some(FLATTENED_DELETED), None), SkipReason::Delete);
    let boolean = r#"{"id":1,"name":"x","__deleted":true}"#;
    assert_eq!(skipped(&reader, Some(boolean), None), SkipReason::Delete);
    let rewritten_delete = r#"{"id":1,"name":"x","__op":"d"}"#;
    assert_eq!(skipped(&reader, Some(rewritten_delete), None), SkipReason::Delete);
    // Without `__op` the row is the `after` of a create.
    let (product, _) = product_of(&reader, r#"{"id":5,"name":"Cabo HDMI 2m"}"#, None);
    assert_eq!(product.id.as_str(), "5");
    // With schemas on as well.
    let wrapped = format!(r#"{{"schema":{{"type":"struct","fields":[]}},"payload":{FLATTENED}}}"#);
    assert_eq!(product_id(&reader, &wrapped, None), "43");
    // A flattened update has no `before`: always categorized under `changed`.
    let update = r#"{"id":5,"name":"Cabo HDMI 3m","__op":"u"}"#;
    assert!(matches!(read(&reader, update, None), Ok(Read::Product(..))));
}

fn product_id(reader: &Reader, value: &str, key: Option<&str>) -> String {
    product_of(reader, value, key).0.id.into_string()
}

#[test]
fn bad_envelopes_are_dead_lettered_with_a_reason_that_says_what_is_wrong() {
    let reader = debezium();
    let cases: Vec<(String, &str)> = vec![
        (create_with(|e| e["after"] = Value::Null), "no `after`"),
        (create_with(|e| drop(e.as_object_mut().unwrap().remove("after"))), "no `after`"),
        (create_with(|e| e["op"] = json!("x")), "unknown op \"x\""),
        (create_with(|e| e["op"] = json!(1)), "`op` must be a string, found number"),
        (create_with(|e| e["after"] = json!([1, 2])), "`after` must be an object, found array"),
        (create_with(|e| e["before"] = json!("old")), "`before` must be an object or null"),
        (r#"{"id":1,"name":"x","__deleted":"maybe"}"#.to_owned(), "`__deleted` must be"),
        (r#"{"id":1,"name":"x","__op":"z"}"#.to_owned(), "unknown __op \"z\""),
        (r#"{"schema":{},"payload":[1]}"#.to_owned(), "`payload` must be an object, found array"),
    ];
    for (value, expected) in cases {
        let rejection = rejected(&reader, &value, Some(r#"{"id":42}"#));
        assert_eq!(rejection.reason, RejectReason::InvalidEnvelope, "{value}");
        assert!(rejection.detail.contains(expected), "{value}: {}", rejection.detail);
    }
    for value in ["", "[1]", "42", "null", "{\"op\":", "\"c\""] {
        assert_eq!(rejected(&reader, value, None).reason, RejectReason::InvalidJson, "{value:?}");
    }
}

#[test]
fn mapped_fields_with_the_wrong_type_or_missing_are_named_in_the_rejection() {
    let reader = debezium();
    let rejection = rejected(&reader, &create_with(|e| e["after"]["name"] = json!(42)), None);
    assert_eq!(rejection.reason, RejectReason::InvalidField);
    assert_eq!(rejection.detail, "field `/after/name` must be a string, found number");
    let blank = create_with(|e| {
        for field in ["name", "brand", "description"] {
            e["after"][field] = json!(" ");
        }
    });
    let rejection = rejected(&reader, &blank, Some(r#"{"id":42}"#));
    assert_eq!(rejection.reason, RejectReason::MissingText);
    assert!(rejection.detail.contains("/after/name, /after/brand, /after/description"), "{}", rejection.detail);
    let no_id = create_with(|e| drop(e["after"].as_object_mut().unwrap().remove("id")));
    let rejection = rejected(&reader, &no_id, Some(r#"{"sku":"x"}"#));
    assert_eq!(rejection.reason, RejectReason::MissingProductId);
    assert!(rejection.detail.contains("key:/id, /after/id"), "{}", rejection.detail);
    let rejection = rejected(&reader, CREATE, Some(r#"{"id":{"a":1}}"#));
    assert_eq!(rejection.reason, RejectReason::InvalidField);
    assert!(rejection.detail.contains("the record key's field `/id`"), "{}", rejection.detail);
    let long = format!(r#"{{"id":"{}"}}"#, "9".repeat(300));
    assert_eq!(rejected(&reader, CREATE, Some(&long)).reason, RejectReason::InvalidField, "PRODUCT_ID_MAX_BYTES");
}

#[test]
fn fields_are_mapped_by_json_pointer_in_the_order_configured() {
    let config = InputConfig {
        field_product_id: Some("/after/sku, key:/id".into()),
        field_name: Some("/after/nome".into()),
        field_brand: Some("/after/marca".into()),
        field_description: Some(String::new()),
        ..settings(InputFormat::Debezium)
    };
    let reader = reader(&config);
    let erp = r#"{"before":null,"after":{"codigo":9,"nome":"Disjuntor 20A","marca":"Steck","descricao":"ignored","sku":null},"source":{},"op":"c"}"#;
    let (product, _) = product_of(&reader, erp, Some(r#"{"codigo":9,"id":"K9"}"#));
    assert_eq!(product.id.as_str(), "K9", "sku is null: the next source");
    assert_eq!(text(&product), "Disjuntor 20A Steck", "an empty setting maps nothing");
    let with_sku = erp.replace(r#""sku":null"#, r#""sku":"STK-20A""#);
    assert_eq!(product_id(&reader, &with_sku, None), "STK-20A");
}

#[test]
fn auto_detects_the_envelope_per_record_and_reads_plain_events_as_before() {
    let reader = reader(&settings(InputFormat::Auto));
    assert_eq!(product_id(&reader, CREATE, Some(r#"{"id":42}"#)), "42");
    assert_eq!(product_id(&reader, SNAPSHOT_WITH_SCHEMA, Some(KEY_WITH_SCHEMA)), "7");
    assert_eq!(skipped(&reader, Some(DELETE), None), SkipReason::Delete);
    assert_eq!(skipped(&reader, Some(FLATTENED_DELETED), None), SkipReason::Delete);
    let plain = r#"{"event_id":"e1","product_id":"SKU-1","name":"Pastilha de freio","brand":"Cobreq"}"#;
    let (product, _) = product_of(&reader, plain, Some("ignored"));
    assert_eq!((product.id.as_str(), product.event_id.as_deref()), ("SKU-1", Some("e1")));
    assert_eq!(text(&product), "Pastilha de freio Cobreq");
    assert_eq!(product_id(&reader, r#"{"name":"x"}"#, Some("SKU-KEY")), "SKU-KEY", "the key stands in, as before");
    let rejection = rejected(&reader, r#"{"name":"x"}"#, Some(r#"{"sku":"x"}"#));
    assert_eq!(rejection.reason, RejectReason::MissingProductId, "a key struct is not an id");
}

#[test]
fn plain_with_a_mapping_reads_the_event_itself() {
    let config = InputConfig {
        field_product_id: Some("/codigo".into()),
        field_name: Some("/nome".into()),
        field_brand: Some("/marca".into()),
        field_description: Some("/descricao".into()),
        ..settings(InputFormat::Plain)
    };
    let reader = reader(&config);
    let (product, _) = product_of(&reader, r#"{"codigo":123,"nome":"Furadeira","marca":"Bosch"}"#, None);
    assert_eq!((product.id.as_str(), text(&product)), ("123", "Furadeira Bosch"));
    // An update is a plain event's field, not an op: nothing is skipped.
    let (product, _) = product_of(&reader, r#"{"codigo":1,"nome":"x","op":"u","before":{}}"#, None);
    assert_eq!(product.id.as_str(), "1");
}

#[test]
fn feature_models_read_the_mapped_vector_and_updates_compare_it() {
    let kind = InputKind::Features { width: 2 };
    let reader = Reader::new(&settings(InputFormat::Debezium)).unwrap();
    reader.check(kind).unwrap();
    let create = r#"{"before":null,"after":{"id":1,"features":[0.5,-1]},"op":"c"}"#;
    let Ok(Read::Product(product, _)) = reader.read(Some(create.as_bytes()), None, kind, LIMITS) else { panic!() };
    assert_eq!(product.input, ModelInput::Features(vec![0.5, -1.0]));
    let same = r#"{"before":{"id":1,"name":"a","features":[0.5,-1]},"after":{"id":1,"name":"b","features":[0.5,-1]},"op":"u"}"#;
    let read = reader.read(Some(same.as_bytes()), None, kind, LIMITS);
    assert_eq!(read, Ok(Read::Skip(SkipReason::UpdateUnchanged)), "a feature model does not read the name");
    let short = r#"{"after":{"id":1,"features":[1]},"op":"c"}"#;
    let rejection = reader.read(Some(short.as_bytes()), None, kind, LIMITS).unwrap_err();
    assert_eq!(rejection.reason, RejectReason::InvalidFeatures);
    assert!(rejection.detail.contains("`/after/features` has 1 values"), "{}", rejection.detail);
}

#[test]
fn the_model_contract_is_checked_against_the_mapping_at_start() {
    let no_text = InputConfig {
        field_name: Some(String::new()),
        field_brand: Some(" ".into()),
        field_description: Some(String::new()),
        ..settings(InputFormat::Debezium)
    };
    let error = Reader::new(&no_text).unwrap().check(TEXT).unwrap_err();
    assert_eq!(error, InputError::NoTextField { format: InputFormat::Debezium });
    assert!(error.to_string().contains("FIELD_NAME, FIELD_BRAND and FIELD_DESCRIPTION are all empty"), "{error}");
    let no_features = InputConfig { field_features: Some(String::new()), ..settings(InputFormat::Auto) };
    let error = Reader::new(&no_features).unwrap().check(InputKind::Features { width: 16 }).unwrap_err();
    assert!(error.to_string().contains("reads 16 features") && error.to_string().contains("FIELD_FEATURES"), "{error}");
    assert!(Reader::new(&no_features).unwrap().check(TEXT).is_ok(), "a text model needs no features");
}

#[test]
fn bad_settings_are_refused_with_the_setting_named() {
    let bad = |config: InputConfig| Reader::new(&config).unwrap_err().to_string();
    let error = bad(InputConfig { field_name: Some("after.name".into()), ..settings(InputFormat::Debezium) });
    assert!(error.starts_with("FIELD_NAME: `after.name` is not a JSON pointer"), "{error}");
    let error = bad(InputConfig { field_product_id: Some(" , ".into()), ..settings(InputFormat::Debezium) });
    assert!(error.starts_with("FIELD_PRODUCT_ID is empty"), "{error}");
    let error = bad(InputConfig { field_product_id: Some("key:id".into()), ..settings(InputFormat::Debezium) });
    assert!(error.starts_with("FIELD_PRODUCT_ID: `id` is not a JSON pointer"), "{error}");
    let error = bad(InputConfig { field_product_id: Some("key:".into()), ..settings(InputFormat::Debezium) });
    assert!(error.starts_with("FIELD_PRODUCT_ID: `key:` is not a JSON pointer"), "{error}");
    let error = bad(InputConfig {
        carry_fields: vec!["/after/sku".into(), "/before/sku".into()],
        ..settings(InputFormat::Debezium)
    });
    assert!(error.contains("two fields are carried as `sku`"), "{error}");
    let error = bad(InputConfig { carry_fields: vec!["=/after/sku".into()], ..settings(InputFormat::Debezium) });
    assert!(error.starts_with("CARRY_FIELDS: `=/after/sku`"), "{error}");
    for reserved in ["traceparent", "Model-Version", "dlq.reason"] {
        let config = InputConfig { carry_headers: vec![reserved.into()], ..settings(InputFormat::Plain) };
        assert_eq!(config.carried_headers(), Err(InputError::ReservedHeader(reserved.into())));
    }
    let config = InputConfig {
        carry_headers: vec!["tenant".into(), " ".into(), "tenant".into()],
        ..settings(InputFormat::Plain)
    };
    assert_eq!(config.carried_headers(), Ok(vec!["tenant".to_owned()]));
}

#[test]
fn carried_fields_are_copied_under_their_names_and_absent_ones_left_out() {
    let config = InputConfig {
        carry_fields: vec![
            "/after/sku".into(),
            "table=/source/table".into(),
            "/after/price".into(),
            "/after/tenant_id".into(),
        ],
        ..settings(InputFormat::Debezium)
    };
    let (_, carried) = product_of(&reader(&config), CREATE, Some(r#"{"id":42}"#));
    let carried = Value::Object(carried.expect("CARRY_FIELDS is set"));
    assert_eq!(carried, json!({"sku": "KIN-A400-480", "table": "products", "price": "219.90"}));
    // Escaped segments name the field unescaped.
    let config = InputConfig { carry_fields: vec!["/after/a~1b".into()], ..settings(InputFormat::Debezium) };
    let (_, carried) = product_of(&reader(&config), r#"{"after":{"id":1,"name":"x","a/b":true},"op":"c"}"#, None);
    assert_eq!(Value::Object(carried.unwrap()), json!({"a/b": true}));
    // The plain format carries too (and leaves the fast path for it).
    let config = InputConfig { carry_fields: vec!["/tenant_id".into()], ..settings(InputFormat::Plain) };
    let (_, carried) = product_of(&reader(&config), r#"{"product_id":"P","name":"x","tenant_id":7}"#, None);
    assert_eq!(Value::Object(carried.unwrap()), json!({"tenant_id": 7}));
}

#[test]
fn a_table_with_an_op_column_is_still_a_row() {
    let (product, _) = product_of(&debezium(), r#"{"id":3,"name":"Serra","op":"manual"}"#, None);
    assert_eq!(product.id.as_str(), "3");
    let plain = r#"{"product_id":"P","name":"Serra","op":"create","source":"erp-7"}"#;
    assert_eq!(product_id(&reader(&settings(InputFormat::Auto)), plain, None), "P");
}

#[test]
fn hostile_values_are_rejected_never_a_panic() {
    let reader = reader(&settings(InputFormat::Auto));
    let deep = "[".repeat(300) + &"]".repeat(300);
    for value in [
        format!(r#"{{"op":"c","after":{{"name":{deep}}}}}"#),
        "{\"op\":\"c\",\"after\":{\"name\":\"\u{0}\"}}".to_owned(),
        r#"{"op":"c","after":{"id":1e400}}"#.to_owned(),
        r#"{"schema":1,"payload":{"op":"u","before":[],"after":{}}}"#.to_owned(),
    ] {
        let _ = reader.read(Some(value.as_bytes()), Some(b"\xff\xfe"), TEXT, LIMITS);
    }
    assert_eq!(rejected(&reader, "{\"name\":\"\u{ff}\"", None).reason, RejectReason::InvalidJson);
}

/// A record captured from a real Debezium 3.6.1 connector
/// (tests/fixtures/debezium/real): its key and value as bytes.
fn real(text: &str) -> (Option<String>, Option<String>) {
    let record: Value = serde_json::from_str(text).expect("fixture is JSON");
    let bytes = |v: &Value| (!v.is_null()).then(|| v.to_string());
    (bytes(&record["key"]), bytes(&record["value"]))
}

macro_rules! real_fixture {
    ($name:literal) => {
        ($name, include_str!(concat!("../../../tests/fixtures/debezium/real/", $name, ".json")))
    };
}

/// What the worker makes of each real change event: the ids come from the
/// key struct (with or without its schema), the update of the price only is
/// skipped where `before` says so (REPLICA IDENTITY FULL), deletes are
/// skipped, and the TOAST placeholder is never read as text.
#[test]
fn real_debezium_records_are_read_as_their_change_says() {
    // (fixture, product id or skip code)
    let cases = [
        (real_fixture!("envelope-schema-snapshot"), "1"),
        (real_fixture!("envelope-schema-create"), "2"),
        (real_fixture!("envelope-schema-update-price-only"), "update_unchanged"),
        (real_fixture!("envelope-schema-update-name"), "1"),
        (real_fixture!("envelope-schema-delete"), "delete"),
        (real_fixture!("envelope-snapshot"), "1"),
        (real_fixture!("envelope-create"), "3"),
        (real_fixture!("envelope-update-price-only"), "update_unchanged"),
        (real_fixture!("envelope-update-name"), "3"),
        (real_fixture!("envelope-delete"), "delete"),
        (real_fixture!("flattened-schema-update-unavailable"), "unavailable_value"),
        (real_fixture!("flattened-schema-deleted"), "delete"),
        (real_fixture!("flattened-update-unavailable"), "unavailable_value"),
        (real_fixture!("flattened-create"), "3"),
        (real_fixture!("flattened-update-name"), "3"),
        (real_fixture!("flattened-deleted"), "delete"),
    ];
    for format in [InputFormat::Debezium, InputFormat::Auto] {
        let reader = reader(&settings(format));
        for ((name, text), expected) in cases {
            let (key, value) = real(text);
            let outcome =
                reader.read(value.as_deref().map(str::as_bytes), key.as_deref().map(str::as_bytes), TEXT, LIMITS);
            let got = match &outcome {
                Ok(Read::Product(product, _)) => {
                    assert!(!text_of_product(product).contains("__debezium"), "{name}: {product:?}");
                    product.id.as_str().to_owned()
                }
                Ok(Read::Skip(reason)) => reason.code().to_owned(),
                Err(rejection) => panic!("{name} ({format}): rejected: {rejection:?}"),
            };
            assert_eq!(got, expected, "{name} ({format})");
        }
    }
}

fn text_of_product(product: &Product) -> String {
    match &product.input {
        ModelInput::Text(text) => text.clone(),
        ModelInput::Features(_) => String::new(),
    }
}

/// An unchanged TOASTed column of a table without REPLICA IDENTITY FULL
/// arrives as Debezium's placeholder: the event does not hold the text, so
/// it is not categorized (the placeholder is no product text, and the
/// column did not change: the previous result stands). Skipped and counted
/// as `unavailable_value`, whatever UPDATE_POLICY says but `never`.
#[test]
fn the_toast_placeholder_in_a_field_the_model_reads_is_skipped_not_categorized() {
    let mut update: Value = serde_json::from_str(UPDATE_FULL).unwrap();
    update["before"] = Value::Null;
    update["after"]["description"] = json!(mapping::UNAVAILABLE_VALUE);
    let update = update.to_string();
    let key = Some(r#"{"id":42}"#);
    assert_eq!(skipped(&debezium(), Some(&update), key), SkipReason::UnavailableValue);
    assert_eq!(SkipReason::UnavailableValue.code(), "unavailable_value");
    let always = reader(&InputConfig { update_policy: UpdatePolicy::Always, ..settings(InputFormat::Debezium) });
    assert_eq!(skipped(&always, Some(&update), key), SkipReason::UnavailableValue);
    let never = reader(&InputConfig { update_policy: UpdatePolicy::Never, ..settings(InputFormat::Debezium) });
    assert_eq!(skipped(&never, Some(&update), key), SkipReason::UpdateIgnored, "never: every update ignored");
    // Flattened, with and without `__op` (a row without it is a create to
    // the reader, but the placeholder still is no text).
    for row in [
        r#"{"id":5,"name":"Cabo HDMI","description":"__debezium_unavailable_value","__op":"u"}"#,
        r#"{"id":5,"name":"Cabo HDMI","description":"__debezium_unavailable_value"}"#,
    ] {
        assert_eq!(skipped(&debezium(), Some(row), None), SkipReason::UnavailableValue, "{row}");
    }
    // Only the fields the model reads matter: a placeholder elsewhere is
    // carried as it is.
    let config = InputConfig { carry_fields: vec!["/after/sku".into()], ..settings(InputFormat::Debezium) };
    let row = r#"{"id":5,"name":"Cabo HDMI","sku":"__debezium_unavailable_value","__op":"u"}"#;
    let (product, carried) = product_of(&reader(&config), row, None);
    assert_eq!(text(&product), "Cabo HDMI");
    assert_eq!(Value::Object(carried.unwrap()), json!({"sku": "__debezium_unavailable_value"}));
    let no_description = InputConfig { field_description: Some(String::new()), ..settings(InputFormat::Debezium) };
    let row = r#"{"id":5,"name":"Cabo HDMI","description":"__debezium_unavailable_value","__op":"u"}"#;
    assert!(matches!(read(&reader(&no_description), row, None), Ok(Read::Product(..))));
    // A feature model: an array column's placeholder element.
    let features = InputKind::Features { width: 2 };
    let row = r#"{"id":5,"features":["__debezium_unavailable_value"],"__op":"u"}"#;
    assert_eq!(
        debezium().read(Some(row.as_bytes()), None, features, LIMITS).unwrap(),
        Read::Skip(SkipReason::UnavailableValue)
    );
    // Plain events are not change events: the text is the producer's.
    let plain = reader(&InputConfig { field_name: Some("/title".into()), ..settings(InputFormat::Plain) });
    let (product, _) = product_of(&plain, r#"{"product_id":"P","title":"__debezium_unavailable_value"}"#, None);
    assert_eq!(text(&product), "__debezium_unavailable_value");
}

/// The field mappings docs/integrations.md shows, as written there, on a
/// change event of each table shape.
#[test]
fn field_mappings_of_docs_integrations_read_their_tables() {
    let mapped = |env: &[(&str, &str)]| {
        let mut config = settings(InputFormat::Debezium);
        for (name, value) in env {
            let given = Some(value.to_string());
            match *name {
                "FIELD_PRODUCT_ID" => config.field_product_id = given,
                "FIELD_NAME" => config.field_name = given,
                "FIELD_BRAND" => config.field_brand = given,
                "FIELD_DESCRIPTION" => config.field_description = given,
                "CARRY_FIELDS" => config.carry_fields = value.split(',').map(str::to_owned).collect(),
                other => panic!("{other}"),
            }
        }
        reader(&config)
    };
    let event = |after: Value| json!({"before": null, "after": after, "source": {"table": "t"}, "op": "c"}).to_string();

    let produtos = mapped(&[
        ("FIELD_PRODUCT_ID", "key:/codigo,/after/codigo"),
        ("FIELD_NAME", "/after/nome"),
        ("FIELD_BRAND", "/after/marca"),
        ("FIELD_DESCRIPTION", "/after/descricao"),
        ("CARRY_FIELDS", "/after/sku"),
    ]);
    let row = json!({"codigo": 981, "nome": "Pastilha de freio", "marca": "Cobreq", "descricao": "Jogo", "sku": "C-1"});
    let (product, carried) = product_of(&produtos, &event(row), Some(r#"{"codigo":981}"#));
    assert_eq!((product.id.as_str(), text(&product)), ("981", "Pastilha de freio Cobreq Jogo"));
    assert_eq!(Value::Object(carried.unwrap()), json!({"sku": "C-1"}));

    let items = mapped(&[
        ("FIELD_PRODUCT_ID", "key:/sku,/after/sku"),
        ("FIELD_NAME", "/after/title"),
        ("FIELD_BRAND", "/after/brand"),
        ("FIELD_DESCRIPTION", "/after/long_description"),
        ("CARRY_FIELDS", "price=/after/list_price"),
    ]);
    let row = json!({"sku": "DEL-I15", "title": "Notebook", "brand": "Dell", "long_description": "i5", "list_price": "3999.00"});
    let key = r#"{"schema":{"type":"struct"},"payload":{"sku":"DEL-I15"}}"#;
    let (product, carried) = product_of(&items, &event(row), Some(key));
    assert_eq!((product.id.as_str(), text(&product)), ("DEL-I15", "Notebook Dell i5"));
    assert_eq!(Value::Object(carried.unwrap()), json!({"price": "3999.00"}));

    let composite = mapped(&[
        ("FIELD_PRODUCT_ID", "key:/codigo,/after/codigo"),
        ("FIELD_NAME", "/after/descricao_curta"),
        ("FIELD_BRAND", "/after/fabricante"),
        ("FIELD_DESCRIPTION", ""),
        ("CARRY_FIELDS", "empresa=/after/empresa_id"),
    ]);
    let row =
        json!({"empresa_id": 3, "codigo": "A-100", "descricao_curta": "Cimento CP II", "fabricante": "Votorantim"});
    let (product, carried) = product_of(&composite, &event(row), Some(r#"{"empresa_id":3,"codigo":"A-100"}"#));
    assert_eq!((product.id.as_str(), text(&product)), ("A-100", "Cimento CP II Votorantim"));
    assert_eq!(Value::Object(carried.unwrap()), json!({"empresa": 3}));
}
