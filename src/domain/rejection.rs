use std::fmt;

/// Why a record was dead-lettered. The codes are a public, stable contract
/// (the `dlq.reason` header and the metrics label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectReason {
    InvalidJson,
    /// A change event (INPUT_FORMAT=debezium or auto) that breaks Debezium's
    /// envelope: an unknown op, a create without `after`, a wrong type.
    InvalidEnvelope,
    InvalidField,
    MissingProductId,
    MissingText,
    InvalidFeatures,
    ModelError,
    /// The result is larger than the broker accepts.
    OutputTooLarge,
}

impl RejectReason {
    pub const ALL: [RejectReason; 8] = [
        RejectReason::InvalidJson,
        RejectReason::InvalidEnvelope,
        RejectReason::InvalidField,
        RejectReason::MissingProductId,
        RejectReason::MissingText,
        RejectReason::InvalidFeatures,
        RejectReason::ModelError,
        RejectReason::OutputTooLarge,
    ];

    pub fn code(&self) -> &'static str {
        match self {
            RejectReason::InvalidJson => "invalid_json",
            RejectReason::InvalidEnvelope => "invalid_envelope",
            RejectReason::InvalidField => "invalid_field",
            RejectReason::MissingProductId => "missing_product_id",
            RejectReason::MissingText => "missing_text",
            RejectReason::InvalidFeatures => "invalid_features",
            RejectReason::ModelError => "model_error",
            RejectReason::OutputTooLarge => "output_too_large",
        }
    }
}

/// A reason plus a sentence a person can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub reason: RejectReason,
    pub detail: String,
}

impl Rejection {
    pub fn new(reason: RejectReason, detail: impl Into<String>) -> Self {
        Rejection { reason, detail: detail.into() }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.reason.code(), self.detail)
    }
}
