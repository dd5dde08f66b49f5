//! Debezium change events, as Kafka Connect's JsonConverter writes them:
//! the envelope (`before`, `after`, `source`, `op`, `ts_ms`), with schemas
//! on (`{"schema": ..., "payload": <envelope>}`) or off, and the row alone
//! as the ExtractNewRecordState transform flattens it (with `__op` and
//! `__deleted` when it is told to add them).
//!
//! Every form is brought to the envelope's shape, so a field mapping names
//! a column the same way (`/after/name`) whatever the connector's settings.
//! A value with no envelope (a flattened row without markers, or a plain
//! event under INPUT_FORMAT=auto) is the `after` of a create: the two cannot
//! be told apart, and both mean "this product exists".

use serde_json::{Map, Value};

use super::json_type;
use crate::domain::{RejectReason, Rejection, SkipReason};

/// The kinds of change that carry a row to categorize.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RowOp {
    /// op `c`: an insert.
    Create,
    /// op `r`: a row read by the connector's snapshot.
    Snapshot,
    /// op `u`.
    Update,
}

#[derive(Debug, PartialEq)]
pub(super) enum Change {
    /// `event` is an envelope whose `after` is an object.
    Row {
        op: RowOp,
        event: Value,
    },
    Skip(SkipReason),
}

fn invalid(detail: String) -> Rejection {
    Rejection::new(RejectReason::InvalidEnvelope, detail)
}

/// The change `value` (a JSON object) describes.
pub(super) fn change(value: Value) -> Result<Change, Rejection> {
    match without_schema(value) {
        Value::Object(object) if is_envelope(&object) => envelope(object),
        Value::Object(row) => flattened(row),
        // JsonConverter with schemas on writes a missing value this way.
        Value::Null => Ok(Change::Skip(SkipReason::Tombstone)),
        other => Err(invalid(format!("field `payload` must be an object, found {}", json_type(&other)))),
    }
}

/// The payload of JsonConverter's schema envelope; any other value as it
/// is. Only an object of exactly `schema` and `payload` is one: a table may
/// have a column named `payload`.
fn without_schema(value: Value) -> Value {
    match value {
        Value::Object(mut object) if object.len() == 2 && object.contains_key("schema") => {
            match object.remove("payload") {
                Some(payload) => payload,
                None => Value::Object(object),
            }
        }
        other => other,
    }
}

/// An `op` beside the envelope's `before` or `after`, or its `source` block
/// (a truncate has only that). A table with a column named `op`, or a plain
/// event with `op` and a `source` string, is still a row.
fn is_envelope(object: &Map<String, Value>) -> bool {
    object.contains_key("op")
        && (object.contains_key("before")
            || object.contains_key("after")
            || object.get("source").is_some_and(Value::is_object))
}

fn envelope(object: Map<String, Value>) -> Result<Change, Rejection> {
    let op = match object.get("op") {
        Some(Value::String(op)) => op.as_str(),
        other => {
            return Err(invalid(format!("field `op` must be a string, found {}", other.map_or("nothing", json_type))))
        }
    };
    let row_op = match op {
        "c" => RowOp::Create,
        "r" => RowOp::Snapshot,
        "u" => RowOp::Update,
        "d" => return Ok(Change::Skip(SkipReason::Delete)),
        "t" => return Ok(Change::Skip(SkipReason::Truncate)),
        other => {
            return Err(invalid(format!("unknown op {other:?}: a change event has op c, r, u, d or t")));
        }
    };
    match object.get("after") {
        Some(Value::Object(_)) => {}
        None | Some(Value::Null) => {
            return Err(invalid(format!("a change event with op {op:?} has no `after`: no row to categorize")))
        }
        Some(other) => return Err(invalid(format!("field `after` must be an object, found {}", json_type(other)))),
    }
    match object.get("before") {
        None | Some(Value::Null | Value::Object(_)) => {}
        Some(other) => {
            return Err(invalid(format!("field `before` must be an object or null, found {}", json_type(other))))
        }
    }
    Ok(Change::Row { op: row_op, event: Value::Object(object) })
}

/// A row from ExtractNewRecordState, or a value with no envelope at all.
fn flattened(row: Map<String, Value>) -> Result<Change, Rejection> {
    // `delete.handling.mode=rewrite` keeps deletes as the row before, marked
    // with `__deleted`: a string "true"/"false" (a boolean is accepted too).
    let deleted = match row.get("__deleted") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(deleted)) => *deleted,
        Some(Value::String(s)) if s == "true" => true,
        Some(Value::String(s)) if s == "false" => false,
        Some(other) => {
            return Err(invalid(format!("field `__deleted` must be \"true\" or \"false\", found {other}")));
        }
    };
    if deleted {
        return Ok(Change::Skip(SkipReason::Delete));
    }
    let op = match row.get("__op") {
        None | Some(Value::Null) => "c".to_owned(),
        Some(Value::String(op)) => op.clone(),
        Some(other) => return Err(invalid(format!("field `__op` must be a string, found {}", json_type(other)))),
    };
    let row_op = match op.as_str() {
        "c" => RowOp::Create,
        "r" => RowOp::Snapshot,
        "u" => RowOp::Update,
        "d" => return Ok(Change::Skip(SkipReason::Delete)),
        "t" => return Ok(Change::Skip(SkipReason::Truncate)),
        other => return Err(invalid(format!("unknown __op {other:?}: a change event has op c, r, u, d or t"))),
    };
    // The transform keeps no `before`: an update is compared with nothing.
    let mut event = Map::with_capacity(3);
    event.insert("op".to_owned(), Value::String(op));
    event.insert("before".to_owned(), Value::Null);
    event.insert("after".to_owned(), Value::Object(row));
    Ok(Change::Row { op: row_op, event: Value::Object(event) })
}
