use std::fmt;

/// A non-empty product identifier, from the event or from the record key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductId(String);

impl ProductId {
    /// `None` for an empty or blank id: the caller decides what missing means.
    pub fn parse(raw: &str) -> Option<Self> {
        let trimmed = raw.trim();
        (!trimmed.is_empty()).then(|| ProductId(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for ProductId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What the model reads for one product, already valid for the model's input kind.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelInput {
    Text(String),
    Features(Vec<f32>),
}

/// A product event that passed validation and is ready to be categorized.
#[derive(Debug, Clone, PartialEq)]
pub struct Product {
    pub id: ProductId,
    pub event_id: Option<String>,
    pub input: ModelInput,
}
