"""Scale-out under load (run it as scripts/scale-out).

Workers named like the Helm chart's StatefulSet pods (product-categorizer-0
... N-1, INSTANCE_ID from the name, so static group membership as in the
chart) consume one group on the 3-node local cluster while a producer writes
keyed events at a steady rate. The group goes through a sequence of replica
counts (default 1 3 6 2 4) the way KEDA and a StatefulSet with
podManagementPolicy Parallel do it: a scale-up starts the new ordinals
together; a scale-down SIGTERMs the highest ordinals together and starts
nothing until they have exited. A worker that exits on its own is started
again at once, as the StatefulSet would. At the end it reads the output and
dead-letter topics back and reports, per step, the events produced in it
that were lost, duplicated or reordered, and the longest pause in results on
any input partition. Exit status: 0 when nothing was lost or reordered (nor
duplicated, exactly-once), 1 otherwise, 2 when the run itself failed.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import random
import signal
import sys
import time
import uuid
from bisect import bisect_left
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import chaos
import verify
from chaos import ROOT, say
from verify import DLQ

log = logging.getLogger("scale")

PRESETS = {
    "default": dict(step_secs=45.0, rate=2000.0, keys=500),
    # For `make test`: every step, shorter.
    "short": dict(step_secs=15.0, rate=1000.0, keys=300),
}


def pod_name(ordinal: int) -> str:
    return f"product-categorizer-{ordinal}"


@dataclass
class Step:
    replicas: int
    started_ms: int  # when the scaling to `replicas` began
    seqs_before: list[int]  # per key, the events produced before it began


class Scaler:
    """Keeps `replicas` workers running, as a StatefulSet does. Worker i of
    chaos.Workers is the pod with ordinal i-1."""

    def __init__(self, workers: chaos.Workers, clock: chaos.Clock, term_timeout: float):
        self.workers, self.clock, self.term_timeout = workers, clock, term_timeout
        self.replicas = 0
        self.terminating: dict[int, float] = {}  # worker -> when it was sent SIGTERM
        self.unexpected: list[chaos.Exit] = []

    def scale_to(self, replicas: int) -> None:
        say(f"{self.clock.stamp()} scale {self.replicas} -> {replicas}")
        for i in self.workers.running():
            if i > replicas and i not in self.terminating:
                self.workers.signal(i, signal.SIGTERM)
                self.terminating[i] = self.clock.now()
        self.replicas = replicas
        self.tend()

    def tend(self) -> None:
        """Reaps exits, starts the ordinals that should run and do not, and
        SIGKILLs a SIGTERM'd worker past its grace period, as the kubelet would."""
        for e in self.workers.reap():
            self.terminating.pop(e.worker, None)
            if e.unexpected:
                self.unexpected.append(e)
                say(f"{self.clock.stamp()} {pod_name(e.worker - 1)} exited with status {e.status} "
                    f"({'on its own' if e.cause == 'own' else 'after ' + e.cause}): {e.last_log}")
        for i, sent in list(self.terminating.items()):
            if self.clock.now() - sent > self.term_timeout and self.workers.workers[i - 1].sent == "SIGTERM":
                say(f"{self.clock.stamp()} {pod_name(i - 1)} still running {self.term_timeout:.0f}s after "
                    f"SIGTERM: SIGKILL")
                self.workers.signal(i, signal.SIGKILL)
                self.workers.workers[i - 1].sent = "SIGTERM, then SIGKILL"
        running = set(self.workers.running())
        for i in range(1, self.replicas + 1):
            if i not in running and i not in self.terminating:
                self.workers.start(i)

    def hold(self, until: float, producer: chaos.EventProducer) -> None:
        while self.clock.now() < until:
            self.tend()
            if not producer.is_alive():
                raise RuntimeError(f"the producer stopped: {producer.error!r}")
            time.sleep(0.1)


def step_of(steps: list[Step]):
    """(key, seq) -> the index of the step the event was produced in."""
    def find(key: int, seq: int) -> int:
        # The last step that began with fewer of this key's events than seq.
        return max(i for i, s in enumerate(steps) if s.seqs_before[key] < seq)
    return find


def pauses(records: list[verify.Seen], windows: list[tuple[int, int]]) -> list[tuple[float, int | None]]:
    """Per window, the longest time an input partition had no result."""
    times: dict[int, list[int]] = defaultdict(list)
    for r in records:
        if r.source_partition is not None:
            times[r.source_partition].append(r.timestamp_ms)
    for partition_times in times.values():
        partition_times.sort()
    out = []
    for start, end in windows:
        clipped = {p: t[bisect_left(t, start):bisect_left(t, end + 1)] for p, t in times.items()}
        out.append(verify.longest_idle(clipped, (start, end)))
    return out


def run(args, run_dir: Path, clock: chaos.Clock, cleanups: list) -> int:
    kafka_logger = logging.getLogger("librdkafka")
    brokers = chaos.Brokers(True, dict(os.environ))
    cleanups.append(brokers.close)
    say(f"scale-out {args.run}: starting the 3-node cluster if needed")
    brokers.ensure_started()
    bootstrap = brokers.bootstrap()
    topics = chaos.Topics(f"scale-{args.run}-in", f"scale-{args.run}-out", f"scale-{args.run}-dlq")
    group = f"scale-{args.run}"
    chaos.create_topics(bootstrap, [topics.input, topics.output, topics.dlq], 3, 2, kafka_logger)
    say(f"{clock.stamp()} topics {topics.input} / {topics.output} / {topics.dlq} ({chaos.PARTITIONS} partitions, "
        f"replication 3, min.insync.replicas 2); group {group}")

    env = dict(chaos.worker_env(args, bootstrap, topics, group), **dict(args.set))
    workers = chaos.Workers(max(args.steps), args.binary, env, run_dir, clock, instance_id=lambda i: pod_name(i - 1))
    cleanups.append(workers.kill_all)
    scaler = Scaler(workers, clock, args.term_timeout)
    steps = [Step(args.steps[0], chaos.epoch_ms(), [0] * args.keys)]
    scaler.scale_to(args.steps[0])
    workers.wait_ready(60, list(range(1, args.steps[0] + 1)))

    producer = chaos.EventProducer(bootstrap, topics.input, args.run, args.keys, args.rate, args.bad_fraction,
                                   args.seed, chaos.model_features_width(args.model), kafka_logger)
    cleanups.append(producer.stopping.set)
    producer.start()
    say(f"{clock.stamp()} producing {args.rate:.0f}/s over {args.keys} keys; replicas "
        f"{' -> '.join(map(str, args.steps))}, {args.step_secs:.0f}s each")
    steps[0].started_ms = chaos.epoch_ms()
    end = clock.now() + args.step_secs
    scaler.hold(end, producer)
    for replicas in args.steps[1:]:
        steps.append(Step(replicas, chaos.epoch_ms(), [len(s) for s in producer.status]))
        scaler.scale_to(replicas)
        end += args.step_secs
        scaler.hold(end, producer)

    say(f"{clock.stamp()} stopping the producer")
    producer.stop(180)
    say(f"{clock.stamp()} produced {producer.count(chaos.ACKED)} acknowledged; waiting for the workers to catch up")
    caught_up, waited, lag = chaos.wait_caught_up(bootstrap, topics.input, [topics.output, topics.dlq], group,
                                                  args.catchup_timeout, args.quiet, kafka_logger)
    say(f"{clock.stamp()} {caught_up} (after {waited:.0f}s, lag {lag}); SIGTERM to the workers")
    scaler.tend()
    workers.stop(args.term_timeout)

    say(f"{clock.stamp()} reading {topics.output} and {topics.dlq} back (read_committed)")
    records, unrecognized = chaos.read_results(bootstrap, topics, args.run, kafka_logger)
    result = verify.verify(producer.acked(), records, producer.window_ms, step_of=step_of(steps))
    inputs, _ = verify.read_topic(bootstrap, topics.input, DLQ, args.run, 180, kafka_logger)
    # The input read the same way: what the outputs lack or reorder is the workers' doing.
    source = verify.verify(producer.acked(), inputs)

    windows = [(s.started_ms, nxt.started_ms) for s, nxt in zip(steps, steps[1:])]
    windows.append((steps[-1].started_ms, producer.window_ms[1]))
    step_pauses = pauses(records, windows)
    produced_per_step = per_step_counts(producer.acked(), step_of(steps), len(steps))

    passed = result.passed and source.passed and not (args.exactly_once and result.duplicated)
    guarantee = "exactly-once" if args.exactly_once else "at-least-once"
    say("")
    say(f"  scale-out {args.run} on the {brokers.describe()}, {guarantee}, {args.rate:.0f}/s, "
        f"{args.step_secs:.0f}s a step, seed {args.seed}" + "".join(f", {n}={v}" for n, v in args.set))
    header = ("step", "replicas", "produced", "lost", "duplicated", "reordered", "longest pause (partition)")
    rows = []
    previous = 0
    for i, s in enumerate(steps):
        counts = result.steps.get(i, verify.StepCounts())
        pause, partition = step_pauses[i]
        rows.append((str(i + 1), f"{previous} -> {s.replicas}", str(produced_per_step[i]), str(counts.lost),
                     str(counts.duplicated), str(counts.order_violations),
                     f"{pause:.1f}s ({partition if partition is not None else '-'})"))
        previous = s.replicas
    rows.append(("all", "", str(result.produced), str(result.lost), str(result.duplicated),
                 str(result.order_violations), f"{max(p for p, _ in step_pauses):.1f}s"))
    say(grid(header, rows))
    summary = [
        ("outputs / dead letters", f"{result.outputs} / {result.dead_letters} (unrecognized {unrecognized})"),
        ("input topic", f"{len(inputs)} records; acknowledged but missing {source.lost}, "
                        f"order violations {source.order_violations}"),
        ("never produced", producer.count_never_produced()),
        ("unexpected worker exits", f"{len(scaler.unexpected)}" + "".join(
            f"\n      {pod_name(e.worker - 1)} at t+{e.at:.0f}s status {e.status} after {e.cause}: {e.last_log}"
            for e in scaler.unexpected)),
        ("keys split across partitions", result.split_keys),
        ("catch-up", f"{caught_up} after {waited:.0f}s, lag left {lag}"),
        ("result", "PASS" if passed else "FAIL (lost, reordered, misplaced"
                   + (" or duplicated" if args.exactly_once else "") + " events)"),
    ]
    say(chaos.table(summary) + "\n")
    report = {
        "run": args.run, "guarantee": guarantee, "command": " ".join(sys.argv), "passed": passed,
        "steps": [dict(zip(header, row)) for row in rows],
        "summary": {name: str(value) for name, value in summary},
        "unexpected_exits": len(scaler.unexpected),
    }
    (run_dir / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    if passed:
        chaos.drop_topics(bootstrap, [topics.input, topics.output, topics.dlq], kafka_logger)
    return 0 if passed else 1


def per_step_counts(acked: dict[int, list[int]], find, count: int) -> list[int]:
    out = [0] * count
    for key, seqs in acked.items():
        for seq in seqs:
            out[find(key, seq)] += 1
    return out


def grid(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(r[c]) for r in [header, *rows]) for c in range(len(header))]
    line = lambda r: "  " + "  ".join(cell.rjust(w) if c else cell.ljust(w) for c, (cell, w) in enumerate(zip(r, widths)))
    return "\n".join([line(header), *map(line, rows)])


def setting(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"NAME=VALUE expected, got {text!r}")
    return name, value


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="scripts/scale-out", description=__doc__.split("\n\n")[0])
    p.add_argument("--short", action="store_true", help="the quick run of `make test`: "
                   + ", ".join(f"{k}={v}" for k, v in PRESETS["short"].items()))
    p.add_argument("--exactly-once", action="store_true", help="DELIVERY_GUARANTEE=exactly-once; a duplicate fails")
    p.add_argument("--steps", default="1,3,6,2,4",
                   help="replica counts, in order, each at most the input's partitions [%(default)s]")
    p.add_argument("--step-secs", type=float, help=f"seconds at each count [{PRESETS['default']['step_secs']}]")
    p.add_argument("--rate", type=float, help=f"events per second [{PRESETS['default']['rate']}]")
    p.add_argument("--keys", type=int, help=f"distinct keys [{PRESETS['default']['keys']}]")
    p.add_argument("--bad-fraction", type=float, default=0.02, help="share of invalid events [%(default)s]")
    p.add_argument("--model", type=Path, default=ROOT / "model" / "product_category.onnx", help="[%(default)s]")
    p.add_argument("--seed", type=int, help="random seed of the events [random]")
    p.add_argument("--term-timeout", type=float, default=45.0,
                   help="seconds a SIGTERM'd worker may take before SIGKILL [%(default)s]")
    p.add_argument("--catchup-timeout", type=float, default=120.0, help="[%(default)s]")
    p.add_argument("--quiet", type=float, default=60.0,
                   help="stop waiting for catch-up once no output came for this long [%(default)s]")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", type=setting,
                   help="a setting of every worker, e.g. KAFKA_HEARTBEAT_INTERVAL_MS=1000 (repeatable)")
    p.add_argument("--binary", type=Path, default=ROOT / "target" / "release" / "product-categorizer",
                   help="[%(default)s]")
    args = p.parse_args(argv)
    for name, value in PRESETS["short" if args.short else "default"].items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    try:
        args.steps = [int(n) for n in args.steps.split(",")]
    except ValueError:
        p.error(f"--steps: comma-separated replica counts, got {args.steps!r}")
    if not args.steps or min(args.steps) < 1 or max(args.steps) > chaos.PARTITIONS:
        p.error(f"--steps: each count from 1 to {chaos.PARTITIONS} (the input's partitions; more would idle)")
    if args.step_secs <= 0 or args.rate <= 0 or args.keys < 1:
        p.error("--step-secs, --rate and --keys must be positive")
    if not args.binary.exists():
        p.error(f"{args.binary} not found: cargo build --release --bins")
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(1_000_000)
    args.model = args.model.resolve()
    args.ort_dylib_path = chaos.ort_dylib_path()
    args.run = time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:4]
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    return chaos.harness(args, ROOT / ".run" / "scale" / args.run, run)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
