//! The application service: from a batch of consumed records to a batch of
//! outcomes. Knows the event formats, not the transports.

mod decode;
mod event;
mod input;
mod pipeline;
mod record;
pub mod redrive;
mod service;
mod shadow;

pub use event::CategorizedEvent;
pub use input::{Carried, InputConfig, InputError, InputFormat, Reader, UpdatePolicy};
pub use pipeline::{AtLeastOnce, ExactlyOnce, Pipeline, PipelineConfig, PipelineError};
pub use record::SourceRecord;
pub use service::{
    format_timestamp, Categorizer, ModelUnavailable, Outcome, Output, Predicted, Prepared, Settings,
    DEFAULT_PRODUCT_ID_MAX_BYTES,
};
pub use shadow::{spawn_shadow, ShadowTap};
