use std::sync::{Arc, RwLock};

use time::OffsetDateTime;
use uuid::Uuid;

use super::decode::Limits;
use super::event::{round_probability, CategorizedEvent, CategoryRef, ModelRef, Probabilities, SourceRef};
use super::input::{Carried, Read, Reader};
use super::record::SourceRecord;
use super::shadow::ShadowTap;
use crate::domain::{InputKind, ModelInfo, ModelInput, Prediction, Product, RejectReason, Rejection, SkipReason};
use crate::panics;
use crate::ports::{PredictError, Predictor};

/// What happens to one consumed record. Every record ends as exactly one.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Categorized(Box<CategorizedEvent>),
    DeadLetter(Rejection),
    /// Nothing to categorize (a tombstone, a deleted row, an unchanged
    /// update): counted by reason, never published.
    Skipped(SkipReason),
}

/// What is published for a record: a skipped record has none, so it cannot
/// reach a sink.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    Categorized(Box<CategorizedEvent>),
    DeadLetter(Rejection),
}

#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Below this confidence a result is flagged `needs_review`.
    pub review_threshold: f32,
    /// Longer product text is truncated, not rejected.
    pub max_text_chars: usize,
}

/// Longest product id accepted unless PRODUCT_ID_MAX_BYTES says otherwise.
pub const DEFAULT_PRODUCT_ID_MAX_BYTES: u32 = 256;

/// Namespace of the deterministic output `event_id` (UUIDv5).
const EVENT_ID_NAMESPACE: Uuid = Uuid::from_u128(0x6f1c_0d2e_5a7b_4c89_9e3f_1d2a_3b4c_5d6e);

/// How many times one record is tried alone after its batch failed.
const SINGLE_RECORD_ATTEMPTS: usize = 2;

/// The model failed on every record of a batch and on a known-good probe
/// input too: the model, not the records, is at fault. Nothing of the batch
/// may be dead-lettered; the caller retries it later.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the model is failing on every input, a known-good probe included: {0}")]
pub struct ModelUnavailable(pub String);

/// Decides outcomes with the model it holds now. The model can be swapped
/// while the worker runs: each batch is scored by exactly one model, the one
/// current when the batch starts, and every result names it.
pub struct Categorizer {
    current: RwLock<Arc<Scorer>>,
    shadow: Option<ShadowTap>,
    /// Not a model's setting: it outlives model swaps.
    max_product_id_bytes: usize,
    /// How record values are read (INPUT_FORMAT, FIELD_*); outlives model
    /// swaps too, which never change the kind of input (reload.rs).
    reader: Reader,
}

/// One model with the settings that go with it.
struct Scorer {
    predictor: Box<dyn Predictor>,
    model: ModelInfo,
    settings: Settings,
}

impl Categorizer {
    pub fn new(predictor: impl Predictor + 'static, model: ModelInfo, settings: Settings) -> Self {
        Categorizer {
            current: RwLock::new(Arc::new(Scorer { predictor: Box::new(predictor), model, settings })),
            shadow: None,
            max_product_id_bytes: DEFAULT_PRODUCT_ID_MAX_BYTES as usize,
            reader: Reader::default(),
        }
    }

    /// Reads records with `reader` instead of as plain events; the caller
    /// has checked it against the model ([`Reader::check`]).
    pub fn with_reader(mut self, reader: Reader) -> Self {
        self.reader = reader;
        self
    }

    /// Records whose product id (from the event or the key) is longer are
    /// dead-lettered as `invalid_field`.
    pub fn with_max_product_id_bytes(mut self, max_bytes: usize) -> Self {
        self.max_product_id_bytes = max_bytes;
        self
    }

    /// Every batch is also handed to `shadow`, which never delays or changes
    /// the outcomes.
    pub fn with_shadow(mut self, shadow: ShadowTap) -> Self {
        self.shadow = Some(shadow);
        self
    }

    /// The model in use now.
    pub fn model(&self) -> ModelInfo {
        self.scorer().model.clone()
    }

    /// Makes `predictor` the model of every batch that starts from now on; a
    /// batch under way finishes with the model it started with.
    pub fn swap(&self, predictor: impl Predictor + 'static, model: ModelInfo, settings: Settings) {
        let scorer = Arc::new(Scorer { predictor: Box::new(predictor), model, settings });
        // A panic while holding the lock cannot leave the Arc half-written.
        *self.current.write().unwrap_or_else(std::sync::PoisonError::into_inner) = scorer;
    }

    fn scorer(&self) -> Arc<Scorer> {
        self.current.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Decides the outcome of each record, in order, predicting all valid
    /// records of the batch in one model call.
    pub fn categorize<R: AsRef<SourceRecord>>(
        &self,
        records: &[R],
        now: OffsetDateTime,
    ) -> Result<Vec<Outcome>, ModelUnavailable> {
        let predicted = self.read(records).predict()?;
        Ok(self.outcomes(records, predicted, now))
    }

    /// The first step of [`Self::categorize`]: the records read and checked
    /// against the model current now, which the batch keeps to the end.
    pub fn read<R: AsRef<SourceRecord>>(&self, records: &[R]) -> Prepared {
        let scorer = self.scorer();
        let limits =
            Limits { max_text_chars: scorer.settings.max_text_chars, max_product_id_bytes: self.max_product_id_bytes };
        let decoded = records
            .iter()
            .map(|r| {
                let r = r.as_ref();
                self.reader.read(r.value.as_deref(), r.key.as_deref(), scorer.model.input, limits)
            })
            .collect();
        Prepared { scorer, decoded }
    }

    /// The last step of [`Self::categorize`]: an outcome per record of the
    /// batch, `records` being the ones it was read from.
    pub fn outcomes<R: AsRef<SourceRecord>>(
        &self,
        records: &[R],
        predicted: Predicted,
        now: OffsetDateTime,
    ) -> Vec<Outcome> {
        let outcomes = predicted.outcomes(records, now);
        if let Some(shadow) = &self.shadow {
            shadow.offer(records, &outcomes, now);
        }
        outcomes
    }
}

/// A batch read and checked, waiting for the model. Categorizing is split in
/// three ([`Categorizer::read`], [`Prepared::predict`],
/// [`Categorizer::outcomes`]) so that the pipeline runs only the model call
/// on the model's thread: with the text model that thread is the
/// bottleneck, and reading JSON and building results there took an eighth
/// of its time.
pub struct Prepared {
    scorer: Arc<Scorer>,
    decoded: Vec<Result<Read, Rejection>>,
}

/// A batch with the model's answers.
pub struct Predicted {
    scorer: Arc<Scorer>,
    decoded: Vec<Result<Read, Rejection>>,
    predictions: Vec<Result<Prediction, Rejection>>,
}

impl Prepared {
    /// The model call, for every product of the batch at once.
    pub fn predict(self) -> Result<Predicted, ModelUnavailable> {
        let products: Vec<&Product> = self
            .decoded
            .iter()
            .filter_map(|d| match d {
                Ok(Read::Product(product, _)) => Some(product),
                _ => None,
            })
            .collect();
        let predictions = self.scorer.predict(&products)?;
        Ok(Predicted { scorer: self.scorer, decoded: self.decoded, predictions })
    }
}

impl Predicted {
    fn outcomes<R: AsRef<SourceRecord>>(self, records: &[R], now: OffsetDateTime) -> Vec<Outcome> {
        let scorer = &self.scorer;
        let mut predictions = self.predictions.into_iter();
        let categorized_at = format_timestamp(now);
        records
            .iter()
            .zip(self.decoded)
            .map(|(record, decoded)| match decoded {
                Ok(Read::Skip(reason)) => Outcome::Skipped(reason),
                Err(rejection) => Outcome::DeadLetter(rejection),
                Ok(Read::Product(product, carried)) => match predictions.next() {
                    Some(Ok(prediction)) => Outcome::Categorized(Box::new(scorer.event(
                        record.as_ref(),
                        product,
                        carried,
                        &prediction,
                        &categorized_at,
                    ))),
                    Some(Err(rejection)) => Outcome::DeadLetter(rejection),
                    None => {
                        Outcome::DeadLetter(Rejection::new(RejectReason::ModelError, "no prediction for this record"))
                    }
                },
            })
            .collect()
    }
}

impl Scorer {
    /// One result per product. A failed batch is retried record by record,
    /// so one poisonous record cannot dead-letter its neighbours; when every
    /// record fails alone too, a probe tells a broken model from bad records.
    fn predict(&self, products: &[&Product]) -> Result<Vec<Result<Prediction, Rejection>>, ModelUnavailable> {
        if products.is_empty() {
            return Ok(Vec::new());
        }
        let inputs: Vec<&ModelInput> = products.iter().map(|p| &p.input).collect();
        match self.call(&inputs) {
            Ok(predictions) if predictions.len() == inputs.len() => {
                return Ok(predictions.into_iter().map(|p| self.check(p)).collect());
            }
            Ok(predictions) => tracing::warn!(
                expected = inputs.len(),
                got = predictions.len(),
                "model returned the wrong number of rows; retrying record by record"
            ),
            Err(error) => {
                tracing::warn!(%error, batch = inputs.len(), "batch inference failed; retrying record by record")
            }
        }
        let alone: Vec<Result<Prediction, Rejection>> = inputs.iter().map(|input| self.predict_one(input)).collect();
        if alone.iter().any(Result::is_ok) {
            return Ok(alone);
        }
        self.probe()?;
        Ok(alone)
    }

    fn predict_one(&self, input: &ModelInput) -> Result<Prediction, Rejection> {
        let mut last_error = String::new();
        for _ in 0..SINGLE_RECORD_ATTEMPTS {
            match self.call(&[input]) {
                Ok(mut rows) if rows.len() == 1 => return self.check(rows.remove(0)),
                Ok(rows) => last_error = format!("model returned {} rows for one input", rows.len()),
                Err(error) => last_error = error.to_string(),
            }
        }
        Err(Rejection::new(
            RejectReason::ModelError,
            format!("the model failed on this record after {SINGLE_RECORD_ATTEMPTS} attempts: {last_error}"),
        ))
    }

    /// A plain input any working model of this kind answers.
    fn probe(&self) -> Result<(), ModelUnavailable> {
        let input = match self.model.input {
            InputKind::Text => ModelInput::Text("produto".to_owned()),
            InputKind::Features { width } => ModelInput::Features(vec![0.0; width]),
        };
        match self.call(&[&input]) {
            Ok(rows) if rows.len() == 1 && self.check(rows[0].clone()).is_ok() => Ok(()),
            Ok(rows) => Err(ModelUnavailable(format!("the probe got {rows:?}"))),
            Err(error) => Err(ModelUnavailable(error.to_string())),
        }
    }

    /// A panic inside the model is an error of that call, not of the worker.
    fn call(&self, inputs: &[&ModelInput]) -> Result<Vec<Prediction>, PredictError> {
        panics::contained(std::panic::AssertUnwindSafe(|| self.predictor.predict(inputs))).unwrap_or_else(|panic| {
            Err(PredictError(format!("the model panicked: {}", panics::message(panic.as_ref()))))
        })
    }

    fn check(&self, prediction: Prediction) -> Result<Prediction, Rejection> {
        let expected = self.model.categories.len();
        let row = &prediction.probabilities;
        if row.len() != expected || row.iter().any(|p| !p.is_finite()) {
            return Err(Rejection::new(
                RejectReason::ModelError,
                format!("the model returned {row:?}, expected {expected} finite probabilities"),
            ));
        }
        Ok(prediction)
    }

    fn event(
        &self,
        record: &SourceRecord,
        product: Product,
        carried: Option<Carried>,
        prediction: &Prediction,
        categorized_at: &str,
    ) -> CategorizedEvent {
        // check() guarantees a non-empty row of finite values.
        let (best, confidence) = prediction.best().unwrap_or((0, 0.0));
        let category = &self.model.categories[best];
        CategorizedEvent {
            event_id: self.event_id(record),
            product_id: product.id.into_string(),
            category: CategoryRef { code: category.code.clone(), name: category.name.clone() },
            confidence: round_probability(confidence),
            probabilities: Probabilities(
                self.model
                    .categories
                    .iter()
                    .zip(&prediction.probabilities)
                    .map(|(c, p)| (c.code.clone(), round_probability(*p)))
                    .collect(),
            ),
            needs_review: confidence < self.settings.review_threshold,
            model: ModelRef { name: self.model.name.clone(), version: self.model.version.clone() },
            source: SourceRef {
                topic: record.topic.clone(),
                partition: record.partition,
                offset: record.offset,
                event_id: product.event_id,
            },
            categorized_at: categorized_at.to_owned(),
            carried,
        }
    }

    /// Same record and same model version give the same id, so consumers can
    /// drop the duplicates that at-least-once delivery may produce.
    /// Built without `format!`, which was a tenth of building a result.
    fn event_id(&self, record: &SourceRecord) -> String {
        let (mut partition, mut offset) = (itoa::Buffer::new(), itoa::Buffer::new());
        let name = [
            &*record.topic,
            partition.format(record.partition),
            offset.format(record.offset),
            &self.model.name,
            &self.model.version,
        ]
        .join("\u{1f}");
        let id = Uuid::new_v5(&EVENT_ID_NAMESPACE, name.as_bytes());
        id.hyphenated().encode_lower(&mut Uuid::encode_buffer()).to_owned()
    }
}

/// RFC 3339 in UTC with milliseconds, e.g. `2026-11-25T12:00:00.041Z`.
pub fn format_timestamp(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::domain::Category;

    /// Puts all probability on category 0 unless the text says "informatica";
    /// any batch containing "poison" fails, as does a lone "poison" record.
    #[derive(Default, Clone)]
    struct FakePredictor {
        calls: Arc<AtomicUsize>,
        /// Every call fails, as a model whose runtime broke would.
        broken: Arc<std::sync::atomic::AtomicBool>,
    }

    impl Predictor for FakePredictor {
        fn predict(&self, inputs: &[&ModelInput]) -> Result<Vec<Prediction>, PredictError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            if self.broken.load(Ordering::SeqCst) {
                return Err(PredictError("session is gone".into()));
            }
            inputs
                .iter()
                .map(|input| match input {
                    ModelInput::Text(t) if t.contains("poison") => Err(PredictError("poisoned".into())),
                    ModelInput::Text(t) if t.contains("panic") => panic!("bad tensor"),
                    ModelInput::Text(t) if t.contains("informatica") => Ok(vec![0.3, 0.7]),
                    ModelInput::Text(t) if t.contains("nan") => Ok(vec![f32::NAN, 0.5]),
                    _ => Ok(vec![0.95, 0.05]),
                })
                .map(|row| row.map(|probabilities| Prediction { probabilities }))
                .collect()
        }
    }

    fn categorizer() -> Categorizer {
        categorizer_with(FakePredictor::default())
    }

    fn categorizer_with(fake: FakePredictor) -> Categorizer {
        let model = ModelInfo {
            name: "m".into(),
            version: "1".into(),
            input: InputKind::Text,
            categories: vec![
                Category { code: "AUTOPECAS".into(), name: "Autopeças".into() },
                Category { code: "INFORMATICA".into(), name: "Informática".into() },
            ],
            review_threshold: None,
            heldout_flagged_ratio: None,
        };
        Categorizer::new(fake, model, settings())
    }

    fn settings() -> Settings {
        Settings { review_threshold: 0.8, max_text_chars: 100 }
    }

    fn record(offset: i64, value: Option<&str>) -> SourceRecord {
        SourceRecord {
            topic: "in".into(),
            partition: 2,
            offset,
            key: Some(b"KEY".to_vec()),
            value: value.map(|v| v.as_bytes().to_vec()),
        }
    }

    fn now() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp_nanos(1_764_072_000_041_000_000).unwrap()
    }

    #[test]
    fn every_record_gets_exactly_one_outcome_in_order() {
        let fake = FakePredictor::default();
        let c = categorizer_with(fake.clone());
        let records = [
            record(0, Some(r#"{"product_id":"P1","event_id":"e1","name":"pastilha"}"#)),
            record(1, None),
            record(2, Some("not json")),
            record(3, Some(r#"{"name":"mouse informatica"}"#)),
        ];
        let outcomes = c.categorize(&records, now()).unwrap();
        assert_eq!(outcomes.len(), 4);
        let Outcome::Categorized(first) = &outcomes[0] else { panic!("{:?}", outcomes[0]) };
        assert_eq!(first.product_id, "P1");
        assert_eq!(&*first.category.code, "AUTOPECAS");
        assert_eq!(&*first.category.name, "Autopeças");
        assert_eq!(first.confidence, 0.95);
        assert!(!first.needs_review);
        assert_eq!(first.source.event_id.as_deref(), Some("e1"));
        assert_eq!(first.categorized_at, "2025-11-25T12:00:00.041Z");
        assert_eq!(outcomes[1], Outcome::Skipped(SkipReason::Tombstone));
        assert!(matches!(&outcomes[2], Outcome::DeadLetter(r) if r.reason == RejectReason::InvalidJson));
        let Outcome::Categorized(fourth) = &outcomes[3] else { panic!("{:?}", outcomes[3]) };
        assert_eq!(fourth.product_id, "KEY");
        assert_eq!(&*fourth.category.code, "INFORMATICA");
        assert!(fourth.needs_review, "0.7 is below the 0.8 threshold");
        assert_eq!(fake.calls.load(Ordering::SeqCst), 1, "one model call for the batch");
    }

    #[test]
    fn a_failing_record_is_isolated_from_its_batch() {
        let fake = FakePredictor::default();
        let c = categorizer_with(fake.clone());
        let records = [
            record(0, Some(r#"{"name":"pastilha"}"#)),
            record(1, Some(r#"{"name":"poison"}"#)),
            record(2, Some(r#"{"name":"nan"}"#)),
        ];
        let outcomes = c.categorize(&records, now()).unwrap();
        assert!(matches!(outcomes[0], Outcome::Categorized(_)));
        assert!(
            matches!(&outcomes[1], Outcome::DeadLetter(r) if r.reason == RejectReason::ModelError && r.detail.contains("poisoned"))
        );
        assert!(matches!(&outcomes[2], Outcome::DeadLetter(r) if r.reason == RejectReason::ModelError));
        // 1 batch call + 1 for each of 3 records, + 1 retry of the poison one
        assert_eq!(fake.calls.load(Ordering::SeqCst), 5);
    }

    #[test]
    fn a_batch_of_only_bad_records_is_dead_lettered_when_the_probe_succeeds() {
        let c = categorizer();
        let records = [record(0, Some(r#"{"name":"poison"}"#)), record(1, Some(r#"{"name":"panic"}"#))];
        let outcomes = c.categorize(&records, now()).expect("the model works: the records are bad");
        assert!(matches!(&outcomes[0], Outcome::DeadLetter(r) if r.reason == RejectReason::ModelError));
        assert!(
            matches!(&outcomes[1], Outcome::DeadLetter(r) if r.reason == RejectReason::ModelError && r.detail.contains("panicked: bad tensor"))
        );
    }

    #[test]
    fn a_model_failing_on_everything_is_unavailable_not_a_dead_letter() {
        let fake = FakePredictor::default();
        let c = categorizer_with(fake.clone());
        fake.broken.store(true, Ordering::SeqCst);
        let records = [record(0, Some(r#"{"name":"pastilha"}"#)), record(1, None), record(2, Some("not json"))];
        let error = c.categorize(&records, now()).expect_err("no outcome may be decided");
        assert!(error.to_string().contains("session is gone"), "{error}");
        fake.broken.store(false, Ordering::SeqCst);
        assert!(c.categorize(&records, now()).is_ok(), "recovers when the model does");
    }

    #[test]
    fn event_id_is_deterministic_per_record_and_model_version() {
        let c = categorizer();
        let r = [record(7, Some(r#"{"name":"x"}"#))];
        let id = |outcomes: Result<Vec<Outcome>, ModelUnavailable>| match &outcomes.unwrap()[0] {
            Outcome::Categorized(e) => e.event_id.clone(),
            other => panic!("{other:?}"),
        };
        let first = id(c.categorize(&r, now()));
        // uuid5(namespace, "in\x1f2\x1f7\x1fm\x1f1") by Python's uuid: ids
        // must not change across releases, or duplicates across an upgrade
        // would not be recognized.
        assert_eq!(first, "73d6a0a9-ba22-5bd5-84e9-3d7b1cb7c8c8");
        assert_eq!(first, id(c.categorize(&r, now() + time::Duration::hours(1))));
        assert_ne!(first, id(c.categorize(&[record(8, Some(r#"{"name":"x"}"#))], now())));
        let other_version = categorizer();
        let mut model = other_version.model();
        model.version = "2".into();
        other_version.swap(FakePredictor::default(), model, settings());
        assert_ne!(first, id(other_version.categorize(&r, now())));
    }

    #[test]
    fn output_json_has_every_field_of_the_contract() {
        let outcomes = categorizer().categorize(&[record(0, Some(r#"{"product_id":"P","name":"x"}"#))], now()).unwrap();
        let Outcome::Categorized(event) = &outcomes[0] else { panic!() };
        let json = serde_json::to_value(event).unwrap();
        assert_eq!(json["probabilities"], serde_json::json!({"AUTOPECAS": 0.95, "INFORMATICA": 0.05}));
        assert_eq!(json["model"], serde_json::json!({"name": "m", "version": "1"}));
        assert_eq!(json["source"], serde_json::json!({"topic": "in", "partition": 2, "offset": 0}));
        for field in ["event_id", "product_id", "category", "confidence", "needs_review", "categorized_at"] {
            assert!(json.get(field).is_some(), "{field}");
        }
        assert!(json.get("carried").is_none(), "no CARRY_FIELDS, no `carried`: the output DESIGN.md shows");
    }

    #[test]
    fn a_change_event_reader_skips_by_reason_and_carries_fields_into_the_result() {
        let config = crate::app::InputConfig {
            input_format: crate::app::InputFormat::Debezium,
            update_policy: crate::app::UpdatePolicy::Changed,
            field_product_id: None,
            field_event_id: None,
            field_name: None,
            field_brand: None,
            field_description: None,
            field_features: None,
            carry_fields: vec!["/after/sku".into()],
            carry_headers: Vec::new(),
        };
        let c = categorizer().with_reader(Reader::new(&config).unwrap());
        let records = [
            record(0, Some(r#"{"before":null,"after":{"id":1,"name":"mouse informatica","sku":"S1"},"op":"c"}"#)),
            record(1, Some(r#"{"before":{"id":1},"after":null,"op":"d"}"#)),
            record(2, None),
            record(3, Some(r#"{"after":{"id":1,"name":"x"},"op":"?"}"#)),
        ];
        let outcomes = c.categorize(&records, now()).unwrap();
        let Outcome::Categorized(event) = &outcomes[0] else { panic!("{:?}", outcomes[0]) };
        assert_eq!((event.product_id.as_str(), &*event.category.code), ("1", "INFORMATICA"));
        let json = serde_json::to_value(event).unwrap();
        assert_eq!(json["carried"], serde_json::json!({"sku": "S1"}));
        assert_eq!(outcomes[1], Outcome::Skipped(SkipReason::Delete));
        assert_eq!(outcomes[2], Outcome::Skipped(SkipReason::Tombstone));
        assert!(matches!(&outcomes[3], Outcome::DeadLetter(r) if r.reason == RejectReason::InvalidEnvelope));
    }

    fn model_named(version: &str, codes: &[&str]) -> ModelInfo {
        ModelInfo {
            name: "m".into(),
            version: version.into(),
            input: InputKind::Text,
            categories: codes.iter().map(|c| Category { code: (*c).into(), name: (*c).into() }).collect(),
            review_threshold: None,
            heldout_flagged_ratio: None,
        }
    }

    /// Waits inside `predict` until told to go on, so a swap can happen
    /// while a batch is being scored.
    struct GatedPredictor {
        entered: std::sync::mpsc::SyncSender<()>,
        go: std::sync::Mutex<std::sync::mpsc::Receiver<()>>,
    }

    impl Predictor for GatedPredictor {
        fn predict(&self, inputs: &[&ModelInput]) -> Result<Vec<Prediction>, PredictError> {
            let _ = self.entered.send(());
            let _ = self.go.lock().unwrap().recv();
            Ok(inputs.iter().map(|_| Prediction { probabilities: vec![0.9, 0.1] }).collect())
        }
    }

    #[test]
    fn a_swap_applies_from_the_next_batch_and_never_splits_one() {
        let (entered_tx, entered) = std::sync::mpsc::sync_channel(8);
        let (go, go_rx) = std::sync::mpsc::sync_channel(8);
        let first = GatedPredictor { entered: entered_tx.clone(), go: std::sync::Mutex::new(go_rx) };
        let c = Arc::new(Categorizer::new(first, model_named("1", &["A", "B"]), settings()));
        let records: Vec<SourceRecord> = (0..3).map(|i| record(i, Some(r#"{"name":"x"}"#))).collect();

        let worker = {
            let c = c.clone();
            let records = records.clone();
            std::thread::spawn(move || c.categorize(&records, now()).unwrap())
        };
        entered.recv().unwrap();
        // The new model's gate is already open: its sender is gone.
        let second = GatedPredictor { entered: entered_tx, go: std::sync::Mutex::new(std::sync::mpsc::channel().1) };
        c.swap(second, model_named("2", &["C", "D"]), settings());
        go.send(()).unwrap();
        let during = worker.join().unwrap();
        let after = c.categorize(&records, now()).unwrap();

        let versions = |outcomes: &[Outcome]| -> Vec<(String, String)> {
            outcomes
                .iter()
                .map(|o| match o {
                    Outcome::Categorized(e) => (e.model.version.to_string(), e.category.code.to_string()),
                    other => panic!("{other:?}"),
                })
                .collect()
        };
        assert_eq!(versions(&during), vec![("1".into(), "A".into()); 3], "the batch under way keeps its model");
        assert_eq!(versions(&after), vec![("2".into(), "C".into()); 3], "the next batch uses the new one");
        assert_eq!(&*c.model().version, "2");
    }
}
