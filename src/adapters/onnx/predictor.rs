use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ort::session::{Session, SessionOutputs};
use ort::value::Tensor;

use super::contract::{read_contract, FEATURES_INPUT, OUTPUT, TEXT_INPUT};
use super::padding;
use crate::domain::{InputKind, ModelInfo, ModelInput, Prediction};
use crate::ports::{PredictError, Predictor};

#[derive(Debug, thiserror::Error)]
pub enum ModelLoadError {
    #[error("cannot load ONNX Runtime from {path}: {source}. Set ORT_DYLIB_PATH to libonnxruntime.so (the `onnxruntime` Python wheel ships it in onnxruntime/capi/)")]
    Runtime { path: PathBuf, source: Box<dyn std::error::Error + Send + Sync> },
    #[error("cannot load model {path}: {reason}")]
    Model { path: PathBuf, reason: String },
    #[error("model {path} breaks the model contract: {reason}")]
    Contract { path: PathBuf, reason: String },
}

/// One ONNX Runtime session. `Session::run` needs `&mut`, so calls are
/// serialized; the app calls it once per batch from a blocking thread.
pub struct OnnxPredictor {
    session: Mutex<Session>,
    input: InputKind,
}

/// ONNX Runtime, loaded once per process (it allows one environment): every
/// model, at start-up, on reload or as a shadow, is loaded through it.
#[derive(Clone)]
pub struct OnnxRuntime {
    environment: ort::environment::Environment,
}

impl OnnxRuntime {
    /// Loads the shared library at `path`.
    pub fn load(path: &Path) -> Result<Self, ModelLoadError> {
        let runtime_error = |source: Box<dyn std::error::Error + Send + Sync>| ModelLoadError::Runtime {
            path: path.to_owned(),
            source,
        };
        let environment = ort::init_from(path)
            .map_err(|e| runtime_error(e.into()))?
            .with_name("product-categorizer")
            .build()
            .map_err(|e| runtime_error(e.into()))?;
        Ok(OnnxRuntime { environment })
    }

    /// Loads the model at `model` and checks the model contract.
    pub fn load_model(&self, model: &Path, threads: usize) -> Result<(OnnxPredictor, ModelInfo), ModelLoadError> {
        let model_error = |reason: String| ModelLoadError::Model { path: model.to_owned(), reason };
        if !model.is_file() {
            return Err(model_error("no such file".into()));
        }
        let session = Session::builder(&self.environment)
            .map_err(|e| model_error(e.to_string()))?
            .with_intra_threads(threads)
            .map_err(|e| model_error(e.to_string()))?
            // Batches vary in size (whatever waits when the model is idle),
            // and ORT's memory pattern plans allocations per input shape:
            // without it the text model ran ~10% faster and 2 MB smaller.
            .with_memory_pattern(false)
            .map_err(|e| model_error(e.to_string()))?
            .commit_from_file(model)
            .map_err(|e| model_error(e.to_string()))?;
        let info =
            read_contract(&session).map_err(|reason| ModelLoadError::Contract { path: model.to_owned(), reason })?;
        Ok((OnnxPredictor { session: Mutex::new(session), input: info.input }, info))
    }
}

/// Loads ONNX Runtime from `runtime` and the model at `model`, and checks the
/// model contract: for a process that loads one model.
pub fn load_model(runtime: &Path, model: &Path, threads: usize) -> Result<(OnnxPredictor, ModelInfo), ModelLoadError> {
    OnnxRuntime::load(runtime)?.load_model(model, threads)
}

impl OnnxPredictor {
    fn run(&self, inputs: &[&ModelInput]) -> Result<Vec<Prediction>, String> {
        let mut session = self.session.lock().map_err(|_| "model session poisoned by an earlier panic")?;
        match self.input {
            InputKind::Text => {
                let texts = inputs
                    .iter()
                    .map(|input| match input {
                        ModelInput::Text(text) => Ok(text.as_str()),
                        ModelInput::Features(_) => Err("a feature vector was given to a text model"),
                    })
                    .collect::<Result<Vec<&str>, _>>()?;
                let lengths: Vec<usize> = texts.iter().map(|t| t.len()).collect();
                let mut predictions: Vec<Option<Prediction>> = (0..texts.len()).map(|_| None).collect();
                for call in padding::calls(&lengths) {
                    // ort wants owned strings ('static); it copies them again for ONNX Runtime.
                    let batch: Vec<String> = call.iter().map(|&i| texts[i].to_owned()).collect();
                    let tensor =
                        Tensor::from_string_array(([batch.len(), 1], batch.as_slice())).map_err(|e| e.to_string())?;
                    let outputs = session.run(ort::inputs![TEXT_INPUT => tensor]).map_err(|e| e.to_string())?;
                    for (i, prediction) in call.into_iter().zip(probabilities(&outputs, batch.len())?) {
                        predictions[i] = Some(prediction);
                    }
                }
                predictions.into_iter().collect::<Option<Vec<_>>>().ok_or_else(|| "a text was not scored".into())
            }
            InputKind::Features { width } => {
                let mut flat = Vec::with_capacity(inputs.len() * width);
                for input in inputs {
                    match input {
                        ModelInput::Features(f) if f.len() == width => flat.extend_from_slice(f),
                        _ => return Err(format!("expected {width} features per row")),
                    }
                }
                let tensor = Tensor::from_array(([inputs.len(), width], flat)).map_err(|e| e.to_string())?;
                let outputs = session.run(ort::inputs![FEATURES_INPUT => tensor]).map_err(|e| e.to_string())?;
                probabilities(&outputs, inputs.len())
            }
        }
    }
}

/// One row of probabilities per input, checked against the number of inputs.
fn probabilities(outputs: &SessionOutputs, rows: usize) -> Result<Vec<Prediction>, String> {
    let (shape, data) = outputs[OUTPUT].try_extract_tensor::<f32>().map_err(|e| e.to_string())?;
    match **shape {
        [n, c] if n as usize == rows && c > 0 => {
            Ok(data.chunks(c as usize).map(|row| Prediction { probabilities: row.to_vec() }).collect())
        }
        _ => Err(format!("output `{OUTPUT}` has shape {shape:?} for {rows} inputs")),
    }
}

impl Predictor for OnnxPredictor {
    fn predict(&self, inputs: &[&ModelInput]) -> Result<Vec<Prediction>, PredictError> {
        self.run(inputs).map_err(PredictError)
    }
}
