//! Reads and checks the model contract (DESIGN.md, "Model contract"): a model
//! that breaks it is refused at start-up with a message naming the problem.

use std::collections::HashMap;

use ort::session::Session;
use ort::value::{TensorElementType, ValueType};

use crate::domain::{Category, InputKind, ModelInfo};

pub(super) const TEXT_INPUT: &str = "text";
pub(super) const FEATURES_INPUT: &str = "features";
pub(super) const OUTPUT: &str = "probabilities";

pub(super) fn read_contract(session: &Session) -> Result<ModelInfo, String> {
    let input = input_kind(session)?;
    let classes = output_width(session)?;
    let metadata = session.metadata().map_err(|e| format!("cannot read metadata: {e}"))?;
    let custom = |key: &str| metadata.custom(key).filter(|v| !v.trim().is_empty());

    let labels_json = custom("labels").ok_or("metadata_props has no `labels` (JSON array of category codes)")?;
    let codes: Vec<String> = serde_json::from_str(&labels_json)
        .map_err(|e| format!("metadata `labels` is not a JSON array of strings ({e}): {labels_json}"))?;
    if codes.is_empty() || codes.iter().any(|c| c.trim().is_empty()) {
        return Err(format!("metadata `labels` must hold non-empty codes: {labels_json}"));
    }
    if let Some(width) = classes {
        if width != codes.len() {
            return Err(format!("output `{OUTPUT}` has {width} columns but `labels` names {}", codes.len()));
        }
    }
    let names: HashMap<String, String> = match custom("label_names") {
        None => HashMap::new(),
        Some(json) => serde_json::from_str(&json)
            .map_err(|e| format!("metadata `label_names` is not a JSON object of strings ({e}): {json}"))?,
    };
    let review_threshold = custom("review_threshold")
        .map(|raw| match raw.trim().parse::<f32>() {
            Ok(t) if (0.0..=1.0).contains(&t) => Ok(t),
            _ => Err(format!("metadata `review_threshold` must be a number in [0, 1], found {raw:?}")),
        })
        .transpose()?;
    let heldout_flagged_ratio = custom("heldout_flagged_ratio")
        .map(|raw| match raw.trim().parse::<f64>() {
            Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
            _ => Err(format!("metadata `heldout_flagged_ratio` must be a number in [0, 1], found {raw:?}")),
        })
        .transpose()?;

    Ok(ModelInfo {
        name: custom("model_name").ok_or("metadata_props has no `model_name`")?.into(),
        version: custom("model_version").ok_or("metadata_props has no `model_version`")?.into(),
        input,
        categories: codes
            .into_iter()
            .map(|code| Category { name: names.get(&code).unwrap_or(&code).as_str().into(), code: code.into() })
            .collect(),
        review_threshold,
        heldout_flagged_ratio,
    })
}

fn input_kind(session: &Session) -> Result<InputKind, String> {
    let [input] = session.inputs() else {
        return Err(format!("the model must have exactly one input, it has {}", session.inputs().len()));
    };
    let (ty, shape) = match input.dtype() {
        ValueType::Tensor { ty, shape, .. } => (*ty, shape),
        other => return Err(format!("input `{}` must be a tensor, found {other:?}", input.name())),
    };
    match (input.name(), ty) {
        (TEXT_INPUT, TensorElementType::String) => Ok(InputKind::Text),
        (FEATURES_INPUT, TensorElementType::Float32) => match shape.get(1) {
            Some(&width) if shape.len() == 2 && width > 0 => Ok(InputKind::Features { width: width as usize }),
            _ => Err(format!("input `features` must have shape [N, F] with a fixed F, found {shape:?}")),
        },
        (name, ty) => Err(format!(
            "the input must be `text` (tensor(string)) or `features` (tensor(float)), found `{name}` ({ty:?})"
        )),
    }
}

/// The number of categories when the graph declares it.
fn output_width(session: &Session) -> Result<Option<usize>, String> {
    let output = session
        .outputs()
        .iter()
        .find(|o| o.name() == OUTPUT)
        .ok_or_else(|| format!("the model has no output named `{OUTPUT}`"))?;
    match output.dtype() {
        ValueType::Tensor { ty: TensorElementType::Float32, shape, .. } if shape.len() == 2 => {
            Ok((shape[1] > 0).then_some(shape[1] as usize))
        }
        other => Err(format!("output `{OUTPUT}` must be tensor(float) [N, C], found {other:?}")),
    }
}
