//! The binary's command line: `predict` through the real model, and start-up
//! errors for bad settings.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::*;

fn binary() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_product-categorizer"));
    command.current_dir(repo()).env("ORT_DYLIB_PATH", ort_dylib()).env_remove("RUST_LOG");
    command
}

#[test]
fn predict_categorizes_real_product_names_from_arguments_and_stdin() {
    let products = real_products();
    let names: Vec<String> = products
        .iter()
        .map(|(_, fields)| {
            ["name", "brand", "description"]
                .iter()
                .filter_map(|f| fields[f].as_str().filter(|s| !s.is_empty()))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();

    let output = binary().arg("predict").args(&names).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let lines: Vec<String> = String::from_utf8(output.stdout).unwrap().lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), names.len());
    for ((expected, _), line) in products.iter().zip(&lines) {
        assert!(line.starts_with(expected.as_str()), "expected {expected}: {line}");
    }

    let mut child = binary().args(["predict", "--json"]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    let stdin = child.stdin.as_mut().unwrap();
    writeln!(stdin, "{}\n\n{{\"name\": \"Cimento CP II 50kg\", \"brand\": \"Votorantim\"}}", names[0]).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    let events: Vec<serde_json::Value> =
        String::from_utf8(output.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(events.len(), 2, "blank lines are ignored");
    assert_eq!(events[0]["category"]["code"], serde_json::json!(products[0].0));
    assert_eq!(events[1]["category"]["code"], serde_json::json!("MATERIAL_CONSTRUCAO"));
    assert_eq!(events[1]["model"]["name"], serde_json::json!("product-category-text"));
}

#[test]
fn bad_settings_stop_start_up_with_a_message_naming_them() {
    for (variable, value, expected) in [
        ("BATCH_SIZE", "0", "--batch-size"),
        ("REVIEW_THRESHOLD", "1.5", "between 0 and 1"),
        ("HTTP_ADDR", "nowhere", "--http-addr"),
        ("CREATE_TOPICS", "maybe", "--create-topics"),
    ] {
        let output = binary().env(variable, value).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{variable}={value}");
        assert!(stderr.contains(expected), "{variable}={value}: {stderr}");
    }
    let output =
        binary().env("ORT_DYLIB_PATH", "/nonexistent/libonnxruntime.so").args(["predict", "x"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("ORT_DYLIB_PATH"), "{stderr}");
}

#[test]
fn predict_model_tries_another_model_file() {
    // The feature model reads `features`, not names: the same product is a
    // dead letter through it, which only happens if --model was used.
    let output =
        binary().args(["predict", "--model", FEATURES_MODEL, "--json", "Cimento CP II 50kg"]).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(stdout.starts_with("DEAD_LETTER") && stdout.contains("features"), "{stdout}");
    let events = r#"{"name": "x", "features": [3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3]}"#;
    let output = binary().args(["predict", "--model", FEATURES_MODEL, "--json", events]).output().unwrap();
    let event: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(event["model"]["name"], serde_json::json!("product-category-features"));
    let output = binary().args(["predict", "--model", "no/such.onnx", "x"]).output().unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("no/such.onnx"));
}

/// The binary's allocator gives freed pages back after 250 ms, not
/// jemalloc's 10 s, and `MALLOC_CONF` still overrides that.
#[test]
fn the_allocator_returns_freed_memory_within_a_quarter_second_unless_told_otherwise() {
    let options = |conf: &str| {
        let output = binary().arg("--version").env("MALLOC_CONF", conf).output().unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let stats = String::from_utf8_lossy(&output.stderr).into_owned();
        ["opt.dirty_decay_ms", "opt.muzzy_decay_ms"].map(|name| {
            let line = stats.lines().find(|l| l.trim_start().starts_with(name));
            line.unwrap_or_else(|| panic!("no {name} in jemalloc's statistics:\n{stats}")).trim().to_owned()
        })
    };
    let [dirty, muzzy] = options("stats_print:true");
    assert!(dirty.starts_with("opt.dirty_decay_ms: 250 "), "{dirty}");
    assert!(muzzy.starts_with("opt.muzzy_decay_ms: 0 "), "{muzzy}");
    let [dirty, _] = options("stats_print:true,dirty_decay_ms:10000");
    assert!(dirty.starts_with("opt.dirty_decay_ms: 10000 "), "{dirty}");
}
