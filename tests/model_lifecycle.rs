//! Model lifecycle on a real broker with the real ONNX Runtime: a model
//! trained by `ml/train.py --data` on a generated CSV of eight categories of
//! its own, a model file replaced under steady traffic, and a shadow model.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::*;
use rdkafka::Message;
use serde_json::json;

const WAIT: Duration = Duration::from_secs(90);
/// The generated catalog's categories (ml/sample_data.py), none of the default three.
const OWN_CATEGORIES: [&str; 8] =
    ["BEBIDAS", "BRINQUEDOS", "ELETRODOMESTICOS", "HIGIENE", "JARDIM", "LIMPEZA", "PAPELARIA", "PET"];
const OWN_MODEL_NAME: &str = "acme-catalog";
const OWN_MODEL_VERSION: &str = "2026.11.26-test";

/// Products of each own category, written by hand (not by the generator).
const OWN_PRODUCTS: [(&str, &str, &str); 8] = [
    ("BEBIDAS", "Refrigerante Coca-Cola lata 350ml", "Coca-Cola"),
    ("BRINQUEDOS", "Quebra-cabeca 500 pecas paisagem", "Grow"),
    ("ELETRODOMESTICOS", "Liquidificador Philco 1000W 110V", "Philco"),
    ("HIGIENE", "Creme dental Colgate 90g", "Colgate"),
    ("JARDIM", "Mangueira de jardim 20m", "Tramontina"),
    ("LIMPEZA", "Desinfetante Pinho Sol 1L", ""),
    ("PAPELARIA", "Caneta esferografica azul c/ 12 un", "BIC"),
    ("PET", "Racao Pedigree caes adultos 15kg", "Pedigree"),
];

fn python() -> PathBuf {
    let python = repo().join(".venv/bin/python");
    assert!(python.exists(), "{} missing: run scripts/setup-python", python.display());
    python
}

fn run(command: &mut Command) {
    let output = command.current_dir(repo()).output().expect("run python");
    assert!(
        output.status.success(),
        "{command:?} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The model `make train DATA=...` makes from a generated 4000-row CSV,
/// trained once per test process.
fn own_model() -> &'static Path {
    static MODEL: OnceLock<PathBuf> = OnceLock::new();
    MODEL.get_or_init(|| {
        let dir = std::env::temp_dir().join(unique("own-model"));
        std::fs::create_dir_all(&dir).unwrap();
        let csv = dir.join("products.csv");
        run(Command::new(python()).arg("ml/sample_data.py").args(["--rows", "4000", "--out"]).arg(&csv));
        run(Command::new(python()).arg("ml/train.py").arg("--data").arg(&csv).arg("--out").arg(&dir).args([
            "--name",
            OWN_MODEL_NAME,
            "--version",
            OWN_MODEL_VERSION,
        ]));
        dir.join("product_category.onnx")
    })
}

fn event(i: usize, name: &str, brand: &str) -> serde_json::Value {
    json!({"product_id": format!("SKU-{i}"), "name": name, "brand": brand})
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_runs_a_model_trained_on_your_own_csv() {
    let topics = Topics::new("own-model");
    topics.create_input(2).await;
    let worker = Worker::start(&topics, own_model().to_str().unwrap(), &[]);

    let inputs: Vec<Input> = OWN_PRODUCTS
        .iter()
        .enumerate()
        .map(|(i, (_, name, brand))| Input::json(&format!("k{i}"), event(i, name, brand)))
        .collect();
    produce(&topics.input, &inputs).await;
    let outputs = consume(&topics.output, inputs.len(), WAIT);
    assert_eq!(outputs.len(), inputs.len(), "{}", worker.log_text());
    let by_product: HashMap<String, serde_json::Value> =
        outputs.iter().map(|m| (json(m)["product_id"].as_str().unwrap().to_owned(), json(m))).collect();
    for (i, (expected, name, _)) in OWN_PRODUCTS.iter().enumerate() {
        let result = &by_product[&format!("SKU-{i}")];
        assert_eq!(result["category"]["code"], json!(expected), "{name}: {result}");
        assert_eq!(result["model"], json!({"name": OWN_MODEL_NAME, "version": OWN_MODEL_VERSION}));
        let codes: Vec<&String> = result["probabilities"].as_object().unwrap().keys().collect();
        assert_eq!(codes.len(), OWN_CATEGORIES.len());
    }
    let pet = &by_product["SKU-7"];
    assert_eq!(pet["category"]["name"], json!("Pet Shop"), "display names from the category_name column");
    for message in &outputs {
        assert_eq!(header(message, "model-version"), Some(OWN_MODEL_VERSION));
    }
    let metrics = worker.metrics();
    assert_eq!(metric_value(&metrics, "categorizer_model_info", &[&format!("version=\"{OWN_MODEL_VERSION}\"")]), 1.0);
    // The drift alert's baseline comes from the model `make train DATA=` wrote.
    let series = format!("categorizer_model_heldout_flagged_ratio{{version=\"{OWN_MODEL_VERSION}\"}}");
    assert!(metrics.contains(&series), "{series} is exported");
    let baseline = metric_value(&metrics, "categorizer_model_heldout_flagged_ratio", &[]);
    assert!((0.0..=1.0).contains(&baseline), "{baseline}");
    for code in OWN_CATEGORIES {
        for flag in ["false", "true"] {
            let series =
                format!("categorizer_records_categorized_total{{category=\"{code}\",needs_review=\"{flag}\"}}");
            assert!(metrics.contains(&series), "{series}");
        }
    }
}

/// Replaces `target` by `source` the way a deployment should: copied beside
/// it, then renamed over it in one step.
fn replace_atomically(source: &Path, target: &Path) {
    let staging = target.with_extension("staging");
    std::fs::copy(source, &staging).unwrap();
    std::fs::rename(&staging, target).unwrap();
}

fn wait_for(what: &str, worker: &Worker, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}:\n{}", worker.log_text());
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replaced_model_file_switches_at_one_point_per_partition_and_a_broken_one_is_refused() {
    const PARTITIONS: i32 = 3;
    const RECORDS: usize = 1800;
    let topics = Topics::new("reload");
    topics.create_input(PARTITIONS).await;
    let dir = std::env::temp_dir().join(unique("reload"));
    std::fs::create_dir_all(&dir).unwrap();
    let current = dir.join("model.onnx");
    std::fs::copy(repo().join(TEXT_MODEL), &current).unwrap();
    let broken = dir.join("broken.onnx");
    std::fs::write(&broken, b"not an onnx model").unwrap();
    let own = own_model().to_path_buf();
    let worker = Worker::start(
        &topics,
        current.to_str().unwrap(),
        &[("MODEL_WATCH_INTERVAL_MS", "200"), ("BATCH_SIZE", "16"), ("BATCH_TIMEOUT_MS", "5")],
    );
    let default_version = {
        let metrics = worker.metrics();
        let line = metrics.lines().find(|l| l.starts_with("categorizer_model_info{")).unwrap().to_owned();
        line.split("version=\"").nth(1).unwrap().split('"').next().unwrap().to_owned()
    };
    assert_ne!(default_version, OWN_MODEL_VERSION);

    // Steady traffic: 1800 records over ~9 s, keyed over the partitions.
    let products = real_products();
    let input = topics.input.clone();
    let traffic = tokio::spawn(async move {
        for chunk in 0..(RECORDS / 20) {
            let inputs: Vec<Input> = (chunk * 20..(chunk + 1) * 20)
                .map(|i| {
                    let (_, fields) = &products[i % products.len()];
                    let mut value = fields.clone();
                    value["product_id"] = json!(format!("SKU-{i}"));
                    Input { partition: Some(i as i32 % PARTITIONS), ..Input::json(&format!("k{i}"), value) }
                })
                .collect();
            produce(&input, &inputs).await;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });

    let categorized = || worker.metric("categorizer_records_categorized_total", &[]);
    let refused = || worker.metric("categorizer_model_reloads_total", &["result=\"refused\""]);
    let loaded = || worker.metric("categorizer_model_reloads_total", &["result=\"loaded\""]);
    wait_for("traffic under way", &worker, || categorized() >= 300.0);

    replace_atomically(&broken, &current);
    wait_for("the broken file refused", &worker, || refused() == 1.0);
    replace_atomically(&repo().join(FEATURES_MODEL), &current);
    wait_for("the feature model refused (another input kind)", &worker, || refused() == 2.0);
    assert_eq!(worker.metric("categorizer_model_reload_refused", &[]), 1.0);
    let before = categorized();
    wait_for("the old model still serving", &worker, || categorized() >= before + 100.0);

    replace_atomically(&own, &current);
    wait_for("the new model loaded", &worker, || loaded() == 1.0);
    assert_eq!(worker.metric("categorizer_model_reload_refused", &[]), 0.0);
    traffic.await.unwrap();

    let outputs = consume(&topics.output, RECORDS, WAIT);
    assert_eq!(outputs.len(), RECORDS, "one result per record\n{}", worker.log_text());
    let positions: HashSet<(i64, i64)> = outputs
        .iter()
        .map(|m| {
            let source = &json(m)["source"];
            (source["partition"].as_i64().unwrap(), source["offset"].as_i64().unwrap())
        })
        .collect();
    assert_eq!(positions.len(), RECORDS, "nothing lost or processed twice");
    assert!(consume(&topics.dlq, 1, Duration::from_secs(1)).is_empty(), "no dead letters");

    // Per partition, in offset order: the old version, then the new one, switching once.
    let mut by_partition: BTreeMap<i64, Vec<(i64, String)>> = BTreeMap::new();
    for message in &outputs {
        let event = json(message);
        let version = event["model"]["version"].as_str().unwrap().to_owned();
        assert_eq!(header(message, "model-version"), Some(version.as_str()), "the header follows the result's model");
        let source = &event["source"];
        by_partition
            .entry(source["partition"].as_i64().unwrap())
            .or_default()
            .push((source["offset"].as_i64().unwrap(), version));
    }
    assert_eq!(by_partition.len(), PARTITIONS as usize);
    for (partition, mut results) in by_partition {
        results.sort();
        let versions: Vec<&str> = results.iter().map(|(_, v)| v.as_str()).collect();
        let switch = versions.iter().position(|v| *v == OWN_MODEL_VERSION).unwrap_or(versions.len());
        assert!(
            switch > 0 && switch < versions.len(),
            "partition {partition}: both models served ({switch} of {})",
            versions.len()
        );
        assert!(
            versions[..switch].iter().all(|v| *v == default_version),
            "partition {partition}: old model before the switch"
        );
        assert!(
            versions[switch..].iter().all(|v| *v == OWN_MODEL_VERSION),
            "partition {partition}: one switch, never back"
        );
    }

    let metrics = worker.metrics();
    assert_eq!(metric_value(&metrics, "categorizer_model_info", &[]), 1.0, "one model shown");
    assert_eq!(metric_value(&metrics, "categorizer_model_info", &[&format!("version=\"{OWN_MODEL_VERSION}\"")]), 1.0);
    let log = worker.log_text();
    assert!(log.contains("new model refused, the previous one keeps serving"), "{log}");
    assert!(log.contains("changing the input kind needs a restart"), "{log}");

    // SIGHUP reloads the file (the same model again) and the worker goes on.
    worker.signal("HUP");
    wait_for("a reload on SIGHUP", &worker, || loaded() == 2.0);
    assert_eq!(http_get(worker.http, "/readyz").map(|(s, _)| s), Some(200));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_shadow_model_is_compared_without_changing_what_is_published() {
    let topics = Topics::new("shadow");
    topics.create_input(2).await;
    let shadow_topic = format!("{}.shadow", topics.input);
    let own = own_model().to_str().unwrap().to_owned();
    // Disagrees on everything: the shadow knows none of the primary's categories.
    let different = Worker::start(
        &topics,
        TEXT_MODEL,
        &[("SHADOW_MODEL_PATH", own.as_str()), ("SHADOW_TOPIC", shadow_topic.as_str())],
    );
    // Agrees on everything: the same model twice.
    let same_topics =
        Topics { group: format!("{}.same", topics.group), output: format!("{}.same", topics.output), ..topics.clone() };
    let same = Worker::start(&same_topics, &own, &[("SHADOW_MODEL_PATH", own.as_str())]);

    let products = real_products();
    let mut inputs: Vec<Input> = products
        .iter()
        .enumerate()
        .map(|(i, (_, fields))| {
            Input::json(&format!("k{i}"), {
                let mut v = fields.clone();
                v["product_id"] = json!(format!("SKU-{i}"));
                v
            })
        })
        .collect();
    inputs.push(Input::json("bad", json!({"product_id": "BAD", "name": 42})));
    let valid = products.len() as f64;
    produce(&topics.input, &inputs).await;

    let primary = consume(&topics.output, products.len(), WAIT);
    assert_eq!(primary.len(), products.len(), "{}", different.log_text());
    for message in &primary {
        assert_eq!(json(message)["model"]["name"], json!("product-category-text"), "the primary model publishes");
        assert_eq!(json(message)["probabilities"].as_object().unwrap().len(), 3);
    }
    let shadowed = consume(&shadow_topic, products.len(), WAIT);
    assert_eq!(shadowed.len(), products.len(), "one shadow result per categorized record");
    for message in &shadowed {
        let event = json(message);
        assert_eq!(event["model"]["version"], json!(OWN_MODEL_VERSION));
        assert_eq!(header(message, "model-version"), Some(OWN_MODEL_VERSION));
        assert!(OWN_CATEGORIES.contains(&event["category"]["code"].as_str().unwrap()));
        assert!(message.key().is_some_and(|k| k.starts_with(b"k")), "keyed like the input");
    }

    wait_for("every record compared", &different, || {
        different.metric("categorizer_shadow_compared_total", &[]) == valid
    });
    let metrics = different.metrics();
    assert_eq!(metric_value(&metrics, "categorizer_shadow_agreed_total", &[]), 0.0);
    assert_eq!(metric_value(&metrics, "categorizer_shadow_agreement_ratio", &[]), 0.0);
    assert_eq!(metric_value(&metrics, "categorizer_shadow_disagreements_total", &[]), valid);
    for (expected, _) in &products {
        assert!(
            metrics.contains(&format!("categorizer_shadow_disagreements_total{{primary=\"{expected}\",shadow=\"")),
            "{expected}"
        );
    }
    assert_eq!(metric_value(&metrics, "categorizer_shadow_skipped_total", &[]), 0.0);
    assert_eq!(
        metric_value(&metrics, "categorizer_shadow_model_info", &[&format!("version=\"{OWN_MODEL_VERSION}\"")]),
        1.0
    );

    wait_for("every record compared", &same, || same.metric("categorizer_shadow_compared_total", &[]) == valid);
    let metrics = same.metrics();
    assert_eq!(metric_value(&metrics, "categorizer_shadow_agreed_total", &[]), valid);
    assert_eq!(metric_value(&metrics, "categorizer_shadow_agreement_ratio", &[]), 1.0);
    assert_eq!(metric_value(&metrics, "categorizer_shadow_disagreements_total", &[]), 0.0);
}

/// Texts of very different lengths are scored in separate ONNX Runtime calls
/// (src/adapters/onnx/padding.rs): each text still gets its own
/// probabilities, the same as when it is scored alone.
#[test]
fn a_batch_of_mixed_lengths_scores_each_text_as_if_alone() {
    use product_categorizer::adapters::onnx::load_model;
    use product_categorizer::domain::ModelInput;
    use product_categorizer::ports::Predictor;

    let (predictor, _) = load_model(&ort_dylib(), &repo().join(TEXT_MODEL), 1).expect("text model");
    let names = real_products();
    let long = |name: &str| format!("{name} {}", "com garantia de fabrica e nota fiscal ".repeat(25));
    let inputs: Vec<ModelInput> = names
        .iter()
        .cycle()
        .take(300)
        .enumerate()
        .map(|(i, (_, p))| {
            let name = p["name"].as_str().unwrap_or_default();
            ModelInput::Text(if i % 37 == 5 {
                long(name)
            } else if i % 11 == 0 {
                String::new()
            } else {
                name.to_owned()
            })
        })
        .collect();
    let together = predictor.predict(&inputs.iter().collect::<Vec<_>>()).expect("batch");
    assert_eq!(together.len(), inputs.len());
    for (input, prediction) in inputs.iter().zip(&together) {
        let alone = predictor.predict(&[input]).expect("one");
        let diff = alone[0].probabilities.iter().zip(&prediction.probabilities).map(|(a, b)| (a - b).abs());
        assert!(diff.fold(0.0, f32::max) < 1e-5, "{input:?}: {:?} alone, {:?} in the batch", alone[0], prediction);
    }
}
