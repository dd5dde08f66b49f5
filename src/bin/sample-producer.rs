//! Sends realistic product-created events, as an ERP would, and optionally
//! prints the categorized results as they arrive (`--watch`).

use std::collections::HashMap;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;
use rdkafka::ClientConfig;

#[derive(Debug, Parser)]
#[command(name = "sample-producer", about = "Produces sample product-created events for product-categorizer.")]
struct Args {
    /// Kafka brokers.
    #[arg(long, env = "KAFKA_BOOTSTRAP_SERVERS", default_value = "127.0.0.1:9092")]
    bootstrap_servers: String,
    /// Topic to produce product-created events to.
    #[arg(long, env = "INPUT_TOPIC", default_value = "product-created")]
    topic: String,
    /// Events per second.
    #[arg(long, default_value_t = 5.0)]
    rate: f64,
    /// Events to send; 0 sends until stopped.
    #[arg(long, default_value_t = 0)]
    count: u64,
    /// Every Nth event is malformed, to show dead letters; 0 never.
    #[arg(long, default_value_t = 25)]
    bad_every: u64,
    /// Stamp records this many seconds in the past, to simulate a backlog (latency and lag-in-seconds alerts).
    #[arg(long, default_value_t = 0)]
    age_secs: u64,
    /// Print categorized results and dead letters as they arrive.
    #[arg(long)]
    watch: bool,
    /// Topic of categorized results (with --watch).
    #[arg(long, env = "OUTPUT_TOPIC", default_value = "product-categorized")]
    output_topic: String,
    /// Dead-letter topic (with --watch).
    #[arg(long, env = "DLQ_TOPIC", default_value = "product-created.dlq")]
    dlq_topic: String,
}

/// name, brand, description: written by hand, in the style of ERP catalogs.
const PRODUCTS: &[(&str, &str, &str)] = &[
    ("Pastilha de freio dianteira Gol G5", "Cobreq", "Jogo com 4 pastilhas, sistema Teves"),
    ("AMORTECEDOR DIANT LD ONIX 2019", "Cofap", ""),
    ("Filtro de oleo motor 1.0 8V", "Tecfil", "PSL 55"),
    ("Vela de ignicao Palio Fire", "NGK", "BKR6E"),
    ("Correia dentada Corsa 1.4", "Gates", ""),
    ("Bateria 60Ah selada", "Moura", "M60GD"),
    ("Kit embreagem Uno Mille", "LUK", "disco + plato + rolamento"),
    ("Lampada farol H4 12V 60/55W", "Philips", ""),
    ("Disco de freio ventilado HB20", "Fremax", "par"),
    ("Bomba de combustivel eletrica Fiesta", "Bosch", ""),
    ("Notebook 15.6 Core i5 8GB SSD 256GB", "Dell", "Inspiron"),
    ("SSD 480GB SATA III", "Kingston", "A400"),
    ("Mouse sem fio", "Logitech", "M170 cinza"),
    ("Teclado USB ABNT2", "Multilaser", ""),
    ("Monitor LED 24 Full HD HDMI", "LG", "24MK430H"),
    ("Memoria DDR4 8GB 3200MHz", "Kingston", "Fury Beast"),
    ("Cabo HDMI 2.0 2 metros", "", ""),
    ("Nobreak 1200VA bivolt", "SMS", "Station II"),
    ("Roteador wireless dual band", "TP-Link", "Archer C6"),
    ("Impressora multifuncional tanque de tinta", "Epson", "L3250"),
    ("Cimento CP II 50kg", "Votorantim", ""),
    ("Argamassa AC-III 20kg", "Quartzolit", "cinza"),
    ("Tijolo ceramico 8 furos", "", "milheiro"),
    ("Cabo flexivel 2,5mm 100m azul", "Sil", ""),
    ("Tinta acrilica fosca branco 18L", "Suvinil", ""),
    ("Tubo PVC soldavel 25mm 6m", "Tigre", ""),
    ("Disjuntor bipolar 32A", "Steck", ""),
    ("Porcelanato 60x60 polido", "Portobello", "caixa 1,44m2"),
    ("Areia media lavada", "", "m3"),
    ("Furadeira de impacto 650W", "Bosch", "GSB 13 RE"),
];

fn event(sequence: u64) -> (String, Vec<u8>, String) {
    let product_id = format!("SKU-{sequence:06}");
    let event_id = format!("sample-{}-{sequence}", std::process::id());
    let (name, brand, description) = PRODUCTS[(sequence as usize * 7) % PRODUCTS.len()];
    let value = serde_json::json!({
        "event_id": event_id,
        "product_id": product_id,
        "name": name,
        "brand": brand,
        "description": description,
        "occurred_at": time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
    });
    (product_id, value.to_string().into_bytes(), name.to_owned())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &args.bootstrap_servers)
        .set("linger.ms", "5")
        .create()
        .context("cannot create the Kafka producer")?;
    let watcher = if args.watch { Some(watcher(&args)?) } else { None };
    let mut names: HashMap<String, String> = HashMap::new();
    let interval = Duration::from_secs_f64(1.0 / args.rate.max(0.001));
    let mut ticker = tokio::time::interval(interval);
    let mut sequence = 0u64;
    eprintln!(
        "sample-producer: sending to {} on {} at {}/s; Ctrl-C stops",
        args.topic, args.bootstrap_servers, args.rate
    );
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = ticker.tick(), if args.count == 0 || sequence < args.count => {
                sequence += 1;
                let (key, mut value, name) = event(sequence);
                if args.bad_every > 0 && sequence % args.bad_every == 0 {
                    value = br#"{"product_id": "broken", "name": "#.to_vec();
                }
                names.insert(key.clone(), name);
                let timestamp = time::OffsetDateTime::now_utc() - time::Duration::seconds(args.age_secs as i64);
                let record = FutureRecord::to(&args.topic)
                    .key(&key)
                    .payload(&value)
                    .timestamp((timestamp.unix_timestamp_nanos() / 1_000_000) as i64);
                if let Err((error, _)) = producer.send(record, Timeout::After(Duration::from_secs(10))).await {
                    eprintln!("sample-producer: send failed: {error}");
                }
            }
            Some(message) = next(&watcher) => {
                if let Ok(message) = message { print_result(&message, &names, &args.dlq_topic) }
            }
        }
        if !args.watch && args.count > 0 && sequence >= args.count {
            break;
        }
    }
    Ok(())
}

fn watcher(args: &Args) -> anyhow::Result<StreamConsumer> {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", &args.bootstrap_servers)
        .set("group.id", format!("sample-producer-watch-{}", std::process::id()))
        .set("auto.offset.reset", "latest")
        .set("enable.auto.commit", "false")
        .create()
        .context("cannot create the Kafka consumer")?;
    consumer.subscribe(&[&args.output_topic, &args.dlq_topic]).context("cannot subscribe")?;
    Ok(consumer)
}

async fn next(watcher: &Option<StreamConsumer>) -> Option<rdkafka::error::KafkaResult<rdkafka::message::OwnedMessage>> {
    match watcher {
        Some(consumer) => Some(consumer.recv().await.map(|m| m.detach())),
        None => std::future::pending().await,
    }
}

fn print_result(message: &rdkafka::message::OwnedMessage, names: &HashMap<String, String>, dlq_topic: &str) {
    let key = message.key().map(|k| String::from_utf8_lossy(k).into_owned()).unwrap_or_default();
    let name = names.get(&key).map_or("", String::as_str);
    if message.topic() == dlq_topic {
        let reason = message
            .headers()
            .and_then(|h| {
                h.iter()
                    .find(|h| h.key == "dlq.reason")
                    .and_then(|h| h.value.map(|v| String::from_utf8_lossy(v).into_owned()))
            })
            .unwrap_or_default();
        println!("{key:<11} DEAD LETTER ({reason})");
        return;
    }
    let Some(event) = message.payload().and_then(|p| serde_json::from_slice::<serde_json::Value>(p).ok()) else {
        return;
    };
    let review = if event["needs_review"].as_bool() == Some(true) { "  [needs review]" } else { "" };
    println!(
        "{key:<11} {:<22} {:>5.1}%  {name}{review}",
        event["category"]["name"].as_str().unwrap_or("?"),
        event["confidence"].as_f64().unwrap_or(0.0) * 100.0,
    );
}
