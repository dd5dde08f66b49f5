//! The vocabulary of the product: products, categories, predictions and the
//! reasons a record cannot be categorized. No I/O and no framework types.

pub mod model;
pub mod prediction;
pub mod product;
pub mod rejection;
pub mod skip;

pub use model::{Category, InputKind, ModelInfo};
pub use prediction::Prediction;
pub use product::{ModelInput, Product, ProductId};
pub use rejection::{RejectReason, Rejection};
pub use skip::SkipReason;
