//! How a record value becomes a product: the input format (plain
//! product-created events, Debezium change events, or either per record),
//! which fields hold what (JSON pointers), and which input fields are
//! carried into the result.
//!
//! Plain events with the default fields take the fast path of
//! [`super::decode`], so users of the plain format see no change. Any other
//! setting reads the value into a JSON tree, unwraps the change event
//! ([`debezium`]) and applies the field [`mapping`] to it.

mod debezium;
mod mapping;

use std::fmt;
use std::sync::Arc;

use serde_json::Value;

use super::decode::{decode, Limits};
use crate::domain::{InputKind, Product, Rejection, SkipReason};
use debezium::{Change, RowOp};
pub use mapping::Carried;
use mapping::Mapping;

/// Which records the worker reads, and how. Every setting is also a flag.
#[derive(Debug, Clone, clap::Args)]
pub struct InputConfig {
    /// How record values are read: `plain` (product-created events), `debezium` (change events from
    /// Kafka Connect: the envelope with JsonConverter schemas on or off, or rows flattened by
    /// ExtractNewRecordState), `auto` (a change event envelope where a record has one, else a plain
    /// event). See docs/cdc.md.
    #[arg(long, env = "INPUT_FORMAT", value_enum, default_value_t = InputFormat::Plain)]
    pub input_format: InputFormat,

    /// Change events: which updates (op u) are categorized. `changed`: those where a field the model
    /// reads differs between `before` and `after` (all of them when `before` is null, i.e. the table
    /// has no REPLICA IDENTITY FULL); `always`; `never`. Skipped updates are counted.
    #[arg(long, env = "UPDATE_POLICY", value_enum, default_value_t = UpdatePolicy::Changed)]
    pub update_policy: UpdatePolicy,

    /// Where the product id is, as a comma-separated list tried in order: a JSON pointer into the value
    /// (`/after/id`), `key` (the record key as text) or `key:<pointer>` (a field of a JSON record key,
    /// e.g. Debezium's `key:/id`). Integers become their decimal text. Default: `/product_id,key`
    /// (plain), `key:/id,/after/id` (debezium), `/after/product_id,key:/id,/after/id,key` (auto).
    #[arg(long, env = "FIELD_PRODUCT_ID")]
    pub field_product_id: Option<String>,

    /// JSON pointer to the producer's event id (copied into the result's `source.event_id`); empty:
    /// none. Default: `/event_id` (plain), none (debezium), `/after/event_id` (auto).
    #[arg(long, env = "FIELD_EVENT_ID")]
    pub field_event_id: Option<String>,

    /// JSON pointer to the product name, read by text models; empty: not mapped. Default: `/name`
    /// (plain), `/after/name` (debezium, auto).
    #[arg(long, env = "FIELD_NAME")]
    pub field_name: Option<String>,

    /// JSON pointer to the brand, read by text models; empty: not mapped. Default: `/brand` (plain),
    /// `/after/brand` (debezium, auto).
    #[arg(long, env = "FIELD_BRAND")]
    pub field_brand: Option<String>,

    /// JSON pointer to the description, read by text models; empty: not mapped. Default:
    /// `/description` (plain), `/after/description` (debezium, auto).
    #[arg(long, env = "FIELD_DESCRIPTION")]
    pub field_description: Option<String>,

    /// JSON pointer to the feature vector, read by feature models; empty: not mapped. Default:
    /// `/features` (plain), `/after/features` (debezium, auto).
    #[arg(long, env = "FIELD_FEATURES")]
    pub field_features: Option<String>,

    /// Input fields copied into each result under `carried`, comma-separated: `<pointer>` (named after
    /// its last segment, e.g. `/after/sku` -> `sku`) or `<name>=<pointer>`. A field absent from the
    /// record is left out. None: results have no `carried` object.
    #[arg(long, env = "CARRY_FIELDS", value_delimiter = ',')]
    pub carry_fields: Vec<String>,

    /// Input record headers copied onto each result record, comma-separated names (exact match).
    #[arg(long, env = "CARRY_HEADERS", value_delimiter = ',')]
    pub carry_headers: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum InputFormat {
    Plain,
    Debezium,
    Auto,
}

impl fmt::Display for InputFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            InputFormat::Plain => "plain",
            InputFormat::Debezium => "debezium",
            InputFormat::Auto => "auto",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum UpdatePolicy {
    Always,
    Changed,
    Never,
}

/// A setting the worker cannot start with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    #[error("{setting}: `{value}` is not a JSON pointer (it starts with `/`, e.g. /after/name; empty: not mapped)")]
    NotAPointer { setting: &'static str, value: String },
    #[error("FIELD_PRODUCT_ID is empty: name at least one place for the product id (a JSON pointer, `key` or `key:<pointer>`)")]
    NoProductId,
    #[error("CARRY_FIELDS: `{0}` is not `<pointer>` or `<name>=<pointer>` with a non-empty name")]
    BadCarryField(String),
    #[error("CARRY_FIELDS: two fields are carried as `{0}`; name one of them with `<name>=<pointer>`")]
    DuplicateCarryField(String),
    #[error("CARRY_HEADERS: `{0}` is written by the worker itself and cannot be carried")]
    ReservedHeader(String),
    #[error(
        "the model reads text, but INPUT_FORMAT={format} maps no text field: FIELD_NAME, FIELD_BRAND and \
         FIELD_DESCRIPTION are all empty"
    )]
    NoTextField { format: InputFormat },
    #[error(
        "the model reads {width} features, but INPUT_FORMAT={format} maps no feature field: FIELD_FEATURES is empty"
    )]
    NoFeatureField { format: InputFormat, width: usize },
}

/// Headers a result gets from the worker; copying an input's over them
/// would lie about the result.
const RESERVED_HEADERS: [&str; 5] = ["content-type", "model-name", "model-version", "traceparent", "tracestate"];

impl InputConfig {
    /// CARRY_HEADERS, checked: the worker's own headers and `dlq.*` (which
    /// only dead letters carry) are refused.
    pub fn carried_headers(&self) -> Result<Vec<String>, InputError> {
        let mut names: Vec<String> = Vec::new();
        for name in self.carry_headers.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
            if RESERVED_HEADERS.iter().any(|r| r.eq_ignore_ascii_case(name)) || name.starts_with("dlq.") {
                return Err(InputError::ReservedHeader(name.to_owned()));
            }
            if !names.iter().any(|n| n == name) {
                names.push(name.to_owned());
            }
        }
        Ok(names)
    }
}

/// What a record value is to the worker.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Read {
    Product(Product, Option<Carried>),
    Skip(SkipReason),
}

/// Reads record values as INPUT_FORMAT and the FIELD_* settings say.
#[derive(Debug, Clone, Default)]
pub enum Reader {
    /// Plain events with the default fields: the fast path.
    #[default]
    Plain,
    Mapped(Arc<Mapped>),
}

#[derive(Debug)]
pub struct Mapped {
    format: InputFormat,
    policy: UpdatePolicy,
    mapping: Mapping,
}

impl Reader {
    pub fn new(config: &InputConfig) -> Result<Self, InputError> {
        let fields = [
            &config.field_product_id,
            &config.field_event_id,
            &config.field_name,
            &config.field_brand,
            &config.field_description,
            &config.field_features,
        ];
        let custom = fields.iter().any(|f| f.is_some()) || !config.carry_fields.is_empty();
        if config.input_format == InputFormat::Plain && !custom {
            return Ok(Reader::Plain);
        }
        Ok(Reader::Mapped(Arc::new(Mapped {
            format: config.input_format,
            policy: config.update_policy,
            mapping: Mapping::new(config)?,
        })))
    }

    /// The model's contract against the mapping: a model reading a field
    /// that nothing maps could categorize nothing.
    pub fn check(&self, input: InputKind) -> Result<(), InputError> {
        match self {
            Reader::Plain => Ok(()),
            Reader::Mapped(mapped) => mapped.mapping.check(input, mapped.format),
        }
    }

    /// What one record value is: a product to categorize (with the fields
    /// it carries), a record to skip, or the reason it is neither.
    pub(crate) fn read(
        &self,
        value: Option<&[u8]>,
        key: Option<&[u8]>,
        input: InputKind,
        limits: Limits,
    ) -> Result<Read, Rejection> {
        let Some(value) = value else { return Ok(Read::Skip(SkipReason::Tombstone)) };
        match self {
            Reader::Plain => decode(value, key, input, limits).map(|product| Read::Product(product, None)),
            Reader::Mapped(mapped) => mapped.read(value, key, input, limits),
        }
    }
}

impl Mapped {
    fn read(&self, value: &[u8], key: Option<&[u8]>, input: InputKind, limits: Limits) -> Result<Read, Rejection> {
        let document = mapping::parse(value)?;
        let (op, event) = match self.format {
            InputFormat::Plain => (RowOp::Create, document),
            InputFormat::Debezium | InputFormat::Auto => match debezium::change(document)? {
                Change::Row { op, event } => (op, event),
                Change::Skip(reason) => return Ok(Read::Skip(reason)),
            },
        };
        if op == RowOp::Update && self.policy == UpdatePolicy::Never {
            return Ok(Read::Skip(SkipReason::UpdateIgnored));
        }
        // An unchanged TOASTed column of a table without REPLICA IDENTITY
        // FULL: the event does not hold the text, only a placeholder, and
        // the previous result (from when the column was written) stands.
        // Only updates carry one from a real connector; a flattened row
        // without `__op` cannot tell, so every op is checked.
        if self.format != InputFormat::Plain && self.mapping.unavailable(&event, input).is_some() {
            return Ok(Read::Skip(SkipReason::UnavailableValue));
        }
        if op == RowOp::Update {
            match self.policy {
                UpdatePolicy::Never => return Ok(Read::Skip(SkipReason::UpdateIgnored)),
                UpdatePolicy::Changed if !self.mapping.changed(&event, input) => {
                    return Ok(Read::Skip(SkipReason::UpdateUnchanged))
                }
                UpdatePolicy::Changed | UpdatePolicy::Always => {}
            }
        }
        let product = self.mapping.product(&event, key, input, limits)?;
        Ok(Read::Product(product, self.mapping.carried(&event)))
    }
}

/// For the start-up log.
impl fmt::Display for Reader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reader::Plain => f.write_str("plain"),
            Reader::Mapped(mapped) => write!(f, "{} (updates: {:?}; {})", mapped.format, mapped.policy, mapped.mapping),
        }
    }
}

/// A JSON value's type, for messages.
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

#[cfg(test)]
mod tests;
