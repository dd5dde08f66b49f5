use std::path::PathBuf;

/// Where the model and ONNX Runtime come from, and how results are flagged.
#[derive(Debug, Clone, clap::Args)]
pub struct ModelConfig {
    /// ONNX model file (see the model contract in docs/models.md). The worker reloads it when the file is
    /// replaced (atomic rename) or on SIGHUP.
    #[arg(long, visible_alias = "model", env = "MODEL_PATH", default_value = "model/product_category.onnx")]
    pub model_path: PathBuf,

    /// ONNX Runtime shared library (libonnxruntime.so, from the `onnxruntime` wheel).
    #[arg(long, env = "ORT_DYLIB_PATH", default_value = "libonnxruntime.so")]
    pub ort_dylib_path: PathBuf,

    /// Threads ONNX Runtime uses for one batch.
    #[arg(long, env = "INFERENCE_THREADS", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub inference_threads: u16,

    /// Results below this confidence get `needs_review: true` [default: the model's `review_threshold`, else 0.6].
    #[arg(long, env = "REVIEW_THRESHOLD", value_parser = parse_probability)]
    pub review_threshold: Option<f32>,

    /// Product text longer than this many characters is truncated.
    #[arg(long, env = "MAX_TEXT_CHARS", default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_text_chars: u32,

    /// A longer product_id (from the event, or the record key in its place) is dead-lettered as
    /// invalid_field: it is copied into the result and its key, and must fit the output topic.
    #[arg(long, env = "PRODUCT_ID_MAX_BYTES", default_value_t = crate::app::DEFAULT_PRODUCT_ID_MAX_BYTES, value_parser = clap::value_parser!(u32).range(1..))]
    pub product_id_max_bytes: u32,
}

fn parse_probability(raw: &str) -> Result<f32, String> {
    match raw.trim().parse::<f32>() {
        Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
        _ => Err(format!("expected a number between 0 and 1, got {raw:?}")),
    }
}
