//! The shadow model's results to SHADOW_TOPIC, for offline comparison. Best
//! effort on its own producer: a failure is logged, never retried by us, and
//! never touches the primary outputs or their positions.

use rdkafka::producer::{FutureProducer, FutureRecord};
use tokio::runtime::Handle;

use super::context::WorkerContext;
use super::headers::result_headers;
use crate::app::{CategorizedEvent, SourceRecord};
use crate::ports::ShadowPublisher;

pub struct KafkaShadowPublisher {
    producer: FutureProducer<WorkerContext>,
    topic: String,
    /// Where delivery reports are awaited: the shadow runs on a plain thread.
    runtime: Handle,
}

impl KafkaShadowPublisher {
    /// Must be called inside the async runtime.
    pub fn new(producer: FutureProducer<WorkerContext>, topic: String) -> Self {
        KafkaShadowPublisher { producer, topic, runtime: Handle::current() }
    }
}

impl ShadowPublisher for KafkaShadowPublisher {
    fn publish(&self, record: &SourceRecord, event: &CategorizedEvent) {
        let payload = match serde_json::to_vec(event) {
            Ok(payload) => payload,
            Err(error) => return tracing::warn!(%error, "cannot serialize a shadow result"),
        };
        let key = record.key.clone().unwrap_or_else(|| event.product_id.clone().into_bytes());
        let headers = result_headers(&event.model.name, &event.model.version, &[]);
        let message = FutureRecord::to(&self.topic).key(&key).payload(&payload).headers(headers);
        match self.producer.send_result(message) {
            Ok(delivery) => {
                let topic = self.topic.clone();
                self.runtime.spawn(async move {
                    if let Ok(Err((error, _))) = delivery.await {
                        tracing::warn!(%topic, %error, "a shadow result was not written");
                    }
                });
            }
            Err((error, _)) => tracing::warn!(topic = %self.topic, %error, "a shadow result was not written"),
        }
    }
}
