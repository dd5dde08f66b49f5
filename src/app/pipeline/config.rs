/// How the pipeline batches, bounds and ends its work.
#[derive(Debug, Clone, clap::Args)]
pub struct PipelineConfig {
    /// Most records categorized in one model call.
    #[arg(long, env = "BATCH_SIZE", default_value_t = 512, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub batch_size: u32,

    /// How long (ms) a batch that is not full waits for more records once
    /// the model is idle. 0: the model takes whatever is there at once; while
    /// it works, the next batch fills anyway.
    #[arg(long, env = "BATCH_TIMEOUT_MS", default_value_t = 0)]
    pub batch_timeout_ms: u64,

    /// Longest time (ms) one model call may take before the worker reports
    /// itself not ready and pauses its partitions (it keeps polling, so it
    /// stays in its group); it recovers when the call returns.
    #[arg(long, env = "MODEL_CALL_TIMEOUT_MS", default_value_t = 5000, value_parser = clap::value_parser!(u64).range(1..))]
    pub model_call_timeout_ms: u64,

    /// Most records taken but not yet done; at this bound the worker stops
    /// taking records and, after a second there, pauses its partitions (it
    /// keeps polling, so it stays in its group). Exactly-once
    /// keeps a transaction's records in flight until it commits: at twice
    /// TXN_MAX_RECORDS the next transaction fills while one commits.
    #[arg(long, env = "MAX_IN_FLIGHT", default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_in_flight: u32,

    /// Most bytes (keys and values) of records taken but not yet done, and
    /// of fetched records waiting: past it the worker stops taking records,
    /// then pauses its partitions. Bounds memory when records are large.
    #[arg(long, env = "MAX_IN_FLIGHT_BYTES", default_value_t = 64 * 1024 * 1024, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_in_flight_bytes: u64,

    /// On a rebalance, how long (s) to wait for the revoked partitions'
    /// outputs before handing them over; what is left is read again by the
    /// next owner.
    #[arg(long, env = "REVOKE_TIMEOUT_SECS", default_value_t = 10)]
    pub revoke_timeout_secs: u64,

    /// Longest time (s) from SIGTERM (or a fatal error) to exit, whatever the
    /// broker does; outputs not acknowledged by then are read again after the
    /// restart.
    #[arg(long, env = "SHUTDOWN_TIMEOUT_SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    pub shutdown_timeout_secs: u64,

    /// Exactly-once: most records in one transaction.
    #[arg(long, env = "TXN_MAX_RECORDS", default_value_t = 5000, value_parser = clap::value_parser!(u32).range(1..))]
    pub txn_max_records: u32,

    /// Exactly-once: longest time (ms) a transaction stays open from its first
    /// record; results become visible to read_committed consumers only at its
    /// commit, so this bounds the added latency.
    #[arg(long, env = "TXN_MAX_MS", default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..))]
    pub txn_max_ms: u64,
}

impl PipelineConfig {
    /// Exactly-once: whether the next transaction can fill while one
    /// commits. At a bound of one window the loop stops at every commit (the
    /// 16-feature drain ran at 0.45x of at-least-once; at two, 1.0x).
    pub fn overlaps_transactions(&self) -> bool {
        self.max_in_flight >= self.txn_max_records.saturating_mul(2)
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::PipelineConfig;

    #[derive(Parser)]
    struct Settings {
        #[command(flatten)]
        pipeline: PipelineConfig,
    }

    /// A user who sets nothing gets exactly-once without a stop at each commit.
    #[test]
    fn by_default_the_next_transaction_fills_while_one_commits() {
        let defaults = Settings::parse_from(["worker"]).pipeline;
        assert!(defaults.overlaps_transactions());
        let narrow = Settings::parse_from(["worker", "--max-in-flight", "5000"]).pipeline;
        assert!(!narrow.overlaps_transactions(), "5000 in flight holds one 5000-record transaction");
    }
}
