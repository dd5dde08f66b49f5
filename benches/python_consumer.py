"""The benchmark's peer: what a team would write instead of the worker.

    .venv/bin/python benches/python_consumer.py --bootstrap 127.0.0.1:9092 --input in --output out \
        --group g --model model/product_category.onnx

A plain confluent-kafka consumer loop with onnxruntime: up to --batch records per consume(),
one model call per batch, one result per record in the worker's output format, then
producer.flush() and a synchronous commit of the batch's offsets (at-least-once: a crash
repeats the batch, never loses it). Undecodable records are skipped (the worker dead-letters
them; the benchmark's input has none). Runs until killed; benches/throughput.rs starts it.
"""
from __future__ import annotations

import argparse
import json
import time
import uuid

import numpy as np
import onnxruntime as ort
from confluent_kafka import Consumer, Producer

NAMESPACE = uuid.UUID(int=0x6F1C0D2E5A7B4C899E3F1D2A3B4C5D6E)


def main() -> None:
    ap = argparse.ArgumentParser()
    for flag in ("--bootstrap", "--input", "--output", "--group", "--model"):
        ap.add_argument(flag, required=True)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()

    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(args.model, options, providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    labels = json.loads(meta["labels"])
    names = json.loads(meta.get("label_names", "{}"))
    model = {"name": meta["model_name"], "version": meta["model_version"]}
    threshold = float(meta.get("review_threshold", 0.6))
    input_name = session.get_inputs()[0].name
    text_model = input_name == "text"

    consumer = Consumer({
        "bootstrap.servers": args.bootstrap,
        "group.id": args.group,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
    })
    producer = Producer({"bootstrap.servers": args.bootstrap, "linger.ms": 5, "enable.idempotence": True})
    consumer.subscribe([args.input])

    while True:
        messages = [m for m in consumer.consume(args.batch, timeout=0.1) if m.error() is None]
        if not messages:
            continue
        rows, kept = [], []
        for m in messages:
            try:
                event = json.loads(m.value())
                if text_model:
                    parts = (event.get("name"), event.get("brand"), event.get("description"))
                    rows.append(" ".join(p.strip() for p in parts if p and p.strip()))
                else:
                    rows.append(event["features"])
                kept.append((m, event))
            except (ValueError, TypeError, KeyError):
                continue
        if rows:
            x = np.array(rows, dtype=object).reshape(-1, 1) if text_model else np.array(rows, dtype=np.float32)
            probabilities = session.run(["probabilities"], {input_name: x})[0]
            now = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + ".000Z"
            for (m, event), row in zip(kept, probabilities):
                best = int(row.argmax())
                code = labels[best]
                result = {
                    "event_id": str(uuid.uuid5(NAMESPACE, f"{m.topic()}\x1f{m.partition()}\x1f{m.offset()}")),
                    "product_id": str(event.get("product_id")),
                    "category": {"code": code, "name": names.get(code, code)},
                    "confidence": round(float(row[best]), 4),
                    "probabilities": {c: round(float(p), 4) for c, p in zip(labels, row)},
                    "needs_review": bool(row[best] < threshold),
                    "model": model,
                    "source": {"topic": m.topic(), "partition": m.partition(), "offset": m.offset()},
                    "categorized_at": now,
                }
                producer.produce(args.output, json.dumps(result).encode(), key=m.key())
                producer.poll(0)
        producer.flush()
        consumer.commit(asynchronous=False)


if __name__ == "__main__":
    main()
