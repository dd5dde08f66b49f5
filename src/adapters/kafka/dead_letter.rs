//! Dead letters that always fit the producer's `message.max.bytes`. The
//! broker accepts records the producer would refuse as dead letters: the
//! `dlq.*` headers add bytes, and a key or headers can take the whole limit on
//! their own. A dead letter refused for its size would stop its partition for
//! good, so every byte is counted (key, original headers, `dlq.*` headers,
//! value) and whatever does not fit is cut, and said so in headers.

use std::sync::Arc;

use rdkafka::message::{Header, OwnedHeaders};

use super::headers::{is_trace_header, key_text, with_trace, HeaderList, TraceHeaders};
use crate::domain::Rejection;

/// Most bytes of `dlq.error`: a detail can quote the input (a 1 MB string
/// where a number belongs), and the dead letter carries the input anyway.
pub const MAX_ERROR_BYTES: usize = 1024;
/// Room left for the record framing beside key, value and headers
/// (librdkafka counts at most 36 bytes of it per record).
pub const FRAMING_BYTES: usize = 512;
/// What librdkafka adds to a header beside its name and value: two varint
/// lengths of at most 5 bytes each.
const HEADER_OVERHEAD: usize = 10;
/// Room kept for the headers that say what was cut (`dlq.truncated`,
/// `dlq.original.size`, `dlq.key.original.size`, `dlq.headers.dropped`).
const MARKER_BYTES: usize = 256;

/// Where a dead letter came from and why it is one.
pub struct DeadLetterInfo<'a> {
    pub rejection: &'a Rejection,
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
    pub failed_at: &'a str,
}

/// A dead letter's parts, kept whole so it can be cut again (smaller) when
/// the broker refuses it.
pub struct DeadLetter {
    key: Option<Vec<u8>>,
    value: Vec<u8>,
    /// The original headers but the trace ones, names as text.
    original: Vec<(String, Option<Vec<u8>>)>,
    /// The `dlq.*` headers: always sent whole.
    dlq: Vec<(&'static str, String)>,
    /// The trace headers, last: always sent whole.
    trace: Vec<(String, String)>,
    /// The producer's `message.max.bytes`.
    limit: usize,
}

/// A dead letter cut to fit.
pub struct Fitted {
    pub key: Option<Vec<u8>>,
    pub value: Vec<u8>,
    pub headers: OwnedHeaders,
}

impl DeadLetter {
    /// The original headers (their trace headers give way to `trace`, which
    /// continues the same trace), then `dlq.*`, then `trace`.
    pub fn new(
        key: Option<Vec<u8>>,
        value: Vec<u8>,
        original: &HeaderList,
        info: &DeadLetterInfo<'_>,
        trace: &TraceHeaders,
        limit: usize,
    ) -> Arc<Self> {
        let original = original
            .iter()
            .filter(|(key, _)| !is_trace_header(key))
            .map(|(key, value)| (key_text(key).into_owned(), value.clone()))
            .collect();
        let dlq = vec![
            ("dlq.reason", info.rejection.reason.code().to_owned()),
            ("dlq.error", bounded(&info.rejection.detail, MAX_ERROR_BYTES)),
            ("dlq.source.topic", info.topic.to_owned()),
            ("dlq.source.partition", info.partition.to_string()),
            ("dlq.source.offset", info.offset.to_string()),
            ("dlq.failed_at", info.failed_at.to_owned()),
        ];
        Arc::new(DeadLetter { key, value, original, dlq, trace: trace.to_vec(), limit })
    }

    /// The dead letter within the limit, its value at most `value_cap` bytes
    /// (smaller caps for a broker or topic that refused it).
    pub fn fit(&self, value_cap: usize) -> Fitted {
        let key_size = self.key.as_ref().map_or(0, Vec::len);
        let original_size: usize = self.original.iter().map(header_size).sum();
        let own_size: usize = self.dlq.iter().map(|(k, v)| k.len() + v.len() + HEADER_OVERHEAD).sum::<usize>()
            + self.trace.iter().map(|(k, v)| k.len() + v.len() + HEADER_OVERHEAD).sum::<usize>();
        let whole = key_size + original_size + self.value.len() + own_size + FRAMING_BYTES;
        if whole <= self.limit && self.value.len() <= value_cap {
            let headers = self.headers(self.original.iter().collect(), &[]);
            return Fitted { key: self.key.clone(), value: self.value.clone(), headers };
        }
        // The smaller parts are kept whole, the largest is cut: a huge key
        // does not cost the event, nor a huge value the key.
        let budget = self.limit.saturating_sub(own_size + FRAMING_BYTES + MARKER_BYTES);
        let value_size = self.value.len().min(value_cap);
        let [_, header_share, _] = water_fill([key_size, original_size, value_size], budget);
        let mut room = header_share;
        let kept: Vec<_> = self
            .original
            .iter()
            .filter(|header| {
                let fits = header_size(header) <= room;
                room -= if fits { header_size(header) } else { 0 };
                fits
            })
            .collect();
        let kept_size: usize = kept.iter().map(|header| header_size(header)).sum();
        let [key_keep, value_keep] = water_fill([key_size, value_size], budget - kept_size);

        let mut markers = vec![("dlq.truncated", "true".to_owned())];
        if value_keep < self.value.len() {
            markers.push(("dlq.original.size", self.value.len().to_string()));
        }
        if key_keep < key_size {
            markers.push(("dlq.key.original.size", key_size.to_string()));
        }
        if kept.len() < self.original.len() {
            markers.push(("dlq.headers.dropped", (self.original.len() - kept.len()).to_string()));
        }
        let headers = self.headers(kept, &markers);
        Fitted {
            key: self.key.as_ref().map(|key| key[..key_keep].to_vec()),
            value: self.value[..value_keep].to_vec(),
            headers,
        }
    }

    fn headers(&self, original: Vec<&(String, Option<Vec<u8>>)>, markers: &[(&'static str, String)]) -> OwnedHeaders {
        let capacity = original.len() + self.dlq.len() + markers.len() + self.trace.len();
        let mut headers = OwnedHeaders::new_with_capacity(capacity);
        for (key, value) in original {
            headers = headers.insert(Header { key, value: value.as_deref() });
        }
        for (key, value) in self.dlq.iter().chain(markers) {
            headers = headers.insert(Header { key, value: Some(value) });
        }
        with_trace(headers, &self.trace)
    }
}

fn header_size((key, value): &(String, Option<Vec<u8>>)) -> usize {
    key.len() + value.as_ref().map_or(0, Vec::len) + HEADER_OVERHEAD
}

/// Shares of `budget` for parts of these sizes: the smallest parts whole when
/// they fit an equal share, what they leave to the larger ones.
fn water_fill<const N: usize>(sizes: [usize; N], budget: usize) -> [usize; N] {
    let mut order: [usize; N] = std::array::from_fn(|i| i);
    order.sort_by_key(|&i| sizes[i]);
    let mut shares = [0; N];
    let mut left = budget;
    for (done, &i) in order.iter().enumerate() {
        shares[i] = sizes[i].min(left / (N - done));
        left -= shares[i];
    }
    shares
}

/// `text` in at most `max` bytes, cut on a character boundary and ended with
/// an ellipsis when cut.
pub fn bounded(text: &str, max: usize) -> String {
    const ELLIPSIS: &str = "…";
    if text.len() <= max {
        return text.to_owned();
    }
    let mut cut = max.saturating_sub(ELLIPSIS.len());
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{ELLIPSIS}", &text[..cut])
}

#[cfg(test)]
mod tests {
    use rdkafka::message::Headers;

    use super::*;
    use crate::domain::RejectReason;

    const LIMIT: usize = 1_048_588;

    fn pairs(headers: &OwnedHeaders) -> Vec<(String, String)> {
        headers
            .iter()
            .map(|h| (h.key.to_owned(), String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned()))
            .collect()
    }

    fn header(fitted: &Fitted, name: &str) -> Option<String> {
        pairs(&fitted.headers).into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    /// What librdkafka counts against `message.max.bytes` (rd_kafka_msg_max_wire_size).
    fn wire_size(fitted: &Fitted) -> usize {
        let headers: usize = fitted.headers.iter().map(|h| h.key.len() + h.value.map_or(0, <[u8]>::len) + 10).sum();
        36 + fitted.key.as_ref().map_or(0, Vec::len) + fitted.value.len() + headers
    }

    fn dead_letter(key: Option<Vec<u8>>, value: Vec<u8>, headers: &HeaderList, detail: &str) -> Arc<DeadLetter> {
        let rejection = Rejection::new(RejectReason::InvalidField, detail);
        let info = DeadLetterInfo { rejection: &rejection, topic: "in", partition: 2, offset: 9, failed_at: "t" };
        let trace = [("traceparent".to_owned(), "00-aa-cc-01".to_owned())];
        DeadLetter::new(key, value, headers, &info, &trace, LIMIT)
    }

    #[test]
    fn dead_letters_keep_original_headers_and_continue_the_trace() {
        let original: HeaderList = vec![
            (b"origin".to_vec(), Some(b"erp".to_vec())),
            (b"traceparent".to_vec(), Some(b"00-aa-bb-01".to_vec())),
            (b"empty".to_vec(), None),
            (b"caf\xe9".to_vec(), Some(b"\xff".to_vec())),
        ];
        let fitted = dead_letter(Some(b"k".to_vec()), b"v".to_vec(), &original, "no text").fit(usize::MAX);
        let keys: Vec<String> = pairs(&fitted.headers).into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            keys,
            [
                "origin",
                "empty",
                "caf\\xe9",
                "dlq.reason",
                "dlq.error",
                "dlq.source.topic",
                "dlq.source.partition",
                "dlq.source.offset",
                "dlq.failed_at",
                "traceparent"
            ]
        );
        assert_eq!(
            fitted.headers.iter().find(|h| h.key == "empty").map(|h| h.value),
            Some(None),
            "null values stay null"
        );
        assert_eq!(fitted.headers.iter().find(|h| h.key == "caf\\xe9").and_then(|h| h.value), Some(&b"\xff"[..]));
        assert_eq!(pairs(&fitted.headers)[9], ("traceparent".into(), "00-aa-cc-01".into()));
        assert_eq!(header(&fitted, "dlq.reason").as_deref(), Some("invalid_field"));
        assert_eq!(header(&fitted, "dlq.truncated"), None);
        assert_eq!((fitted.key, fitted.value), (Some(b"k".to_vec()), b"v".to_vec()), "sent whole");
    }

    #[test]
    fn a_huge_error_detail_is_cut_on_a_character_boundary() {
        let detail = format!("field `features` is not a number: {}", "ç".repeat(600_000));
        let fitted = dead_letter(None, b"{}".to_vec(), &Vec::new(), &detail).fit(usize::MAX);
        let error = header(&fitted, "dlq.error").unwrap_or_default();
        assert!(error.len() <= MAX_ERROR_BYTES && error.len() > MAX_ERROR_BYTES - 8, "{} bytes", error.len());
        assert!(error.starts_with("field `features` is not a number: çç") && error.ends_with("ç…"), "{error}");
        assert_eq!(bounded("short", 10), "short");
        assert_eq!(bounded("abcdefgh", 5), "ab…");
        assert!(wire_size(&fitted) <= LIMIT);
    }

    #[test]
    fn a_key_of_a_megabyte_is_cut_and_the_value_kept() {
        let key = vec![b'k'; 1_048_000];
        let value = br#"{"name":"x"}"#.to_vec();
        let fitted =
            dead_letter(Some(key.clone()), value.clone(), &Vec::new(), "the product id is too long").fit(usize::MAX);
        assert!(wire_size(&fitted) + FRAMING_BYTES <= LIMIT, "{}", wire_size(&fitted));
        assert_eq!(fitted.value, value, "the small part is kept whole");
        let kept = fitted.key.as_deref().unwrap_or_default();
        assert!(kept.len() > 1_000_000 && key.starts_with(kept), "a prefix of the key: {} bytes", kept.len());
        assert_eq!(header(&fitted, "dlq.truncated").as_deref(), Some("true"));
        assert_eq!(header(&fitted, "dlq.key.original.size"), Some(key.len().to_string()));
        assert_eq!(header(&fitted, "dlq.original.size"), None, "the value is whole");
    }

    #[test]
    fn a_megabyte_of_headers_is_cut_to_the_headers_that_fit() {
        let headers: HeaderList = (0..1_100).map(|i| (format!("h{i}").into_bytes(), Some(vec![b'v'; 1_000]))).collect();
        let key = b"SKU-1".to_vec();
        let value = vec![b'x'; 500_000];
        let fitted = dead_letter(Some(key.clone()), value.clone(), &headers, "invalid").fit(usize::MAX);
        assert!(wire_size(&fitted) + FRAMING_BYTES <= LIMIT, "{}", wire_size(&fitted));
        assert_eq!(fitted.key, Some(key), "the key is kept");
        let kept = pairs(&fitted.headers).into_iter().filter(|(k, _)| k.starts_with('h')).count();
        assert!(kept > 100 && kept < 1_100, "{kept} headers kept");
        assert_eq!(header(&fitted, "dlq.headers.dropped"), Some((1_100 - kept).to_string()));
        assert_eq!(fitted.value, value, "the headers are the largest part: they are cut, the value is not");
        assert_eq!(header(&fitted, "dlq.original.size"), None);
    }

    #[test]
    fn key_headers_value_and_detail_all_huge_still_fit() {
        let headers: HeaderList = vec![(b"big".to_vec(), Some(vec![0; 1_048_000])), (b"small".to_vec(), None)];
        let fitted =
            dead_letter(Some(vec![1; 1_048_000]), vec![2; 1_048_000], &headers, &"e".repeat(1_048_000)).fit(usize::MAX);
        assert!(wire_size(&fitted) + FRAMING_BYTES <= LIMIT, "{}", wire_size(&fitted));
        assert!(header(&fitted, "small").is_some(), "a small header survives a huge one");
        assert_eq!(header(&fitted, "dlq.headers.dropped").as_deref(), Some("1"));
        for name in ["dlq.truncated", "dlq.original.size", "dlq.key.original.size", "dlq.source.offset"] {
            assert!(header(&fitted, name).is_some(), "{name}");
        }
    }

    #[test]
    fn a_refused_dead_letter_is_cut_again_from_its_original_parts() {
        let value = vec![b'x'; 200_000];
        let letter = dead_letter(Some(b"k".to_vec()), value.clone(), &Vec::new(), "invalid");
        let whole = letter.fit(usize::MAX);
        assert_eq!(whole.value.len(), 200_000);
        assert_eq!(header(&whole, "dlq.truncated"), None);
        for cap in [65_536, 0] {
            let cut = letter.fit(cap);
            assert_eq!(cut.value.len(), cap);
            assert_eq!(header(&cut, "dlq.original.size"), Some("200000".into()), "the original size, not the cut one");
            let marks = pairs(&cut.headers).into_iter().filter(|(k, _)| k == "dlq.truncated").count();
            assert_eq!(marks, 1);
        }
    }

    #[test]
    fn water_fill_keeps_small_parts_whole() {
        assert_eq!(water_fill([10, 1_000, 20], 100), [10, 70, 20]);
        assert_eq!(water_fill([1_000, 1_000], 100), [50, 50]);
        assert_eq!(water_fill([1, 2, 3], 100), [1, 2, 3]);
        assert_eq!(water_fill([5, 5], 0), [0, 0]);
    }
}
