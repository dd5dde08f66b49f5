//! Record headers: the original headers carried into dead letters, and the
//! headers the worker adds.

use std::borrow::Cow;
use std::ffi::CStr;
use std::fmt::Write as _;

use rdkafka::bindings::{rd_kafka_header_get_all, rd_kafka_headers_t, rd_kafka_message_headers};
use rdkafka::message::{BorrowedMessage, Header, OwnedHeaders};
use rdkafka::types::RDKafkaRespErr;

/// Header name -> value (`None` is a header with a null value). Names stay
/// bytes: the broker accepts any, and only a dead letter needs them as text.
pub type HeaderList = Vec<(Vec<u8>, Option<Vec<u8>>)>;

/// The record's headers. Not through rdkafka's `Headers::iter`, which panics
/// on a name that is not UTF-8 (`CStr::to_str().unwrap()` in rdkafka 0.39).
pub fn copy_headers(message: &BorrowedMessage<'_>) -> HeaderList {
    let mut headers: *mut rd_kafka_headers_t = std::ptr::null_mut();
    // SAFETY: `message.ptr()` is the live rd_kafka_message_t that `message`
    // owns; librdkafka only writes the address of the headers it keeps in it.
    let err = unsafe { rd_kafka_message_headers(message.ptr(), &mut headers) };
    if err != RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR || headers.is_null() {
        return HeaderList::new();
    }
    // SAFETY: `headers` belongs to the message, which `message` keeps alive
    // (and unchanged: it is borrowed) for the whole call.
    unsafe { read_headers(headers) }
}

/// Copies every header out of librdkafka's list.
///
/// # Safety
/// `headers` must point to a live `rd_kafka_headers_t` that nothing changes
/// during the call.
unsafe fn read_headers(headers: *const rd_kafka_headers_t) -> HeaderList {
    let mut list = HeaderList::new();
    for idx in 0.. {
        let (mut name, mut value, mut size) = (std::ptr::null(), std::ptr::null(), 0);
        // SAFETY: `headers` is live (the caller's promise); librdkafka writes
        // pointers into it, or fails past the last header.
        let err = unsafe { rd_kafka_header_get_all(headers, idx, &mut name, &mut value, &mut size) };
        if err != RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR || name.is_null() {
            break;
        }
        // SAFETY: librdkafka stores each name NUL-terminated (a NUL inside a
        // name ends it there: its C API gives no length) and each non-null
        // value as `size` bytes, both inside `headers`, which outlives this
        // copy.
        let key = unsafe { CStr::from_ptr(name) }.to_bytes().to_vec();
        let value =
            (!value.is_null()).then(|| unsafe { std::slice::from_raw_parts(value.cast::<u8>(), size) }.to_vec());
        list.push((key, value));
    }
    list
}

/// A header name as text: itself when it is UTF-8, else escaped without loss:
/// its valid runs kept (each `\` doubled), each other byte as `\xNN`.
pub fn key_text(key: &[u8]) -> Cow<'_, str> {
    if let Ok(text) = std::str::from_utf8(key) {
        return Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(key.len() * 2);
    for chunk in key.utf8_chunks() {
        escaped.push_str(&chunk.valid().replace('\\', "\\\\"));
        for byte in chunk.invalid() {
            // Writing to a String cannot fail.
            let _ = write!(escaped, "\\x{byte:02x}");
        }
    }
    Cow::Owned(escaped)
}

/// `traceparent`/`tracestate` headers, as `telemetry::tracing::inject` gives them.
pub type TraceHeaders = [(String, String)];

pub(super) fn is_trace_header(key: &[u8]) -> bool {
    key.eq_ignore_ascii_case(b"traceparent") || key.eq_ignore_ascii_case(b"tracestate")
}

pub(super) fn with_trace(mut headers: OwnedHeaders, trace: &TraceHeaders) -> OwnedHeaders {
    for (key, value) in trace {
        headers = headers.insert(Header { key, value: Some(value) });
    }
    headers
}

/// Headers of a categorized result.
pub fn result_headers(model_name: &str, model_version: &str, trace: &TraceHeaders) -> OwnedHeaders {
    let headers = OwnedHeaders::new_with_capacity(5)
        .insert(Header { key: "content-type", value: Some("application/json") })
        .insert(Header { key: "model-name", value: Some(model_name) })
        .insert(Header { key: "model-version", value: Some(model_version) });
    with_trace(headers, trace)
}

/// `headers` with the input's headers named in `names` added (CARRY_HEADERS,
/// which refuses the worker's own names at start).
pub fn carry_headers(mut headers: OwnedHeaders, input: &HeaderList, names: &[String]) -> OwnedHeaders {
    if names.is_empty() {
        return headers;
    }
    for (key, value) in input {
        if let Some(name) = names.iter().find(|name| name.as_bytes() == key.as_slice()) {
            headers = headers.insert(Header { key: name.as_str(), value: value.as_deref() });
        }
    }
    headers
}

#[cfg(test)]
mod tests {
    use rdkafka::bindings::{rd_kafka_header_add, rd_kafka_headers_destroy, rd_kafka_headers_new};
    use rdkafka::message::{BorrowedHeaders, Headers};

    use super::*;

    /// librdkafka's own header list, from raw bytes as a broker may deliver them.
    struct RawHeaders(*mut rd_kafka_headers_t);

    impl RawHeaders {
        fn new(headers: &[(&[u8], Option<&[u8]>)]) -> Self {
            // SAFETY: allocates an empty list, owned by the returned value.
            let list = RawHeaders(unsafe { rd_kafka_headers_new(headers.len()) });
            for (name, value) in headers {
                let (value_ptr, value_len) =
                    value.map_or((std::ptr::null(), 0), |v| (v.as_ptr().cast(), v.len() as isize));
                // SAFETY: librdkafka copies `name` and `value`, given with their lengths.
                let err = unsafe {
                    rd_kafka_header_add(list.0, name.as_ptr().cast(), name.len() as isize, value_ptr, value_len)
                };
                assert_eq!(err, RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR);
            }
            list
        }
    }

    impl Drop for RawHeaders {
        fn drop(&mut self) {
            // SAFETY: the list was allocated by `new` and is freed once.
            unsafe { rd_kafka_headers_destroy(self.0) }
        }
    }

    const HOSTILE: [(&[u8], Option<&[u8]>); 4] =
        [(b"origin", Some(b"erp")), (b"caf\xe9", Some(b"\xff\x00")), (b"null", None), (b"", Some(b""))];

    #[test]
    fn names_that_are_not_utf8_are_read_as_bytes() {
        let raw = RawHeaders::new(&HOSTILE);
        // SAFETY: `raw` is live and unchanged for the call.
        let list = unsafe { read_headers(raw.0) };
        let expected: HeaderList = HOSTILE.iter().map(|(k, v)| (k.to_vec(), v.map(<[u8]>::to_vec))).collect();
        assert_eq!(list, expected);
    }

    /// Why `copy_headers` reads librdkafka's list itself. When rdkafka stops
    /// panicking here, its iterator can be used again.
    #[test]
    #[should_panic(expected = "Utf8Error")]
    fn rdkafkas_header_iterator_panics_on_a_name_that_is_not_utf8() {
        let raw = RawHeaders::new(&HOSTILE);
        // SAFETY: rdkafka's own view of a native list (`OwnedHeaders::as_borrowed`
        // makes the same cast); `raw` outlives it.
        let borrowed = unsafe { &*(raw.0 as *const BorrowedHeaders) };
        let _ = borrowed.iter().count();
    }

    #[test]
    fn only_the_named_input_headers_are_carried_each_occurrence_in_order() {
        use rdkafka::message::Headers;
        let input: HeaderList = vec![
            (b"tenant".to_vec(), Some(b"acme".to_vec())),
            (b"origin".to_vec(), Some(b"erp".to_vec())),
            (b"Tenant".to_vec(), Some(b"case differs".to_vec())),
            (b"tenant".to_vec(), None),
            (b"caf\xe9".to_vec(), Some(b"x".to_vec())),
        ];
        let carried = carry_headers(OwnedHeaders::new(), &input, &["tenant".to_owned()]);
        let got: Vec<(String, Option<Vec<u8>>)> =
            carried.iter().map(|h| (h.key.to_owned(), h.value.map(<[u8]>::to_vec))).collect();
        assert_eq!(got, vec![("tenant".to_owned(), Some(b"acme".to_vec())), ("tenant".to_owned(), None)]);
        assert_eq!(carry_headers(OwnedHeaders::new(), &input, &[]).count(), 0, "nothing named, nothing carried");
    }

    #[test]
    fn names_are_escaped_without_loss_only_when_not_utf8() {
        assert_eq!(key_text(b"traceparent"), "traceparent");
        assert_eq!(key_text("ação\\x".as_bytes()), "ação\\x", "UTF-8 names are kept as they are");
        assert_eq!(key_text(b"caf\xe9"), "caf\\xe9");
        assert_eq!(key_text(b"\xff\xfe"), "\\xff\\xfe");
        assert_eq!(key_text(b"a\\b\x80"), "a\\\\b\\x80", "a backslash in an escaped name is doubled");
        assert_eq!(key_text("é".as_bytes()[..1].as_ref()), "\\xc3", "a cut character is escaped byte by byte");
    }
}
