//! The HTTP port: `/metrics`, `/healthz`, `/readyz`, GET and HEAD only,
//! hardened against clients that hold connections open.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::health::Health;
use crate::telemetry::Metrics;

/// Longest a client may take to send a request's headers, or to start the
/// next request on a kept-alive connection: a client trickling its headers
/// byte by byte (slow loris) is cut off.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Most connections open at once. One more closes the oldest, rather than
/// waiting for a free slot: connections held open by slow or idle clients
/// can never lock out a probe or a scrape, whose requests are answered within
/// milliseconds of connecting.
const MAX_CONNECTIONS: usize = 128;
/// A connection's read buffer (hyper's least): the requests served are tiny.
const MAX_BUFFER_BYTES: usize = 8192;

struct State {
    health: Arc<Health>,
    metrics: Arc<Metrics>,
}

/// The open connections, oldest first, each with the token that closes it.
#[derive(Default)]
struct Connections {
    next_id: u64,
    open: VecDeque<(u64, CancellationToken)>,
}

impl Connections {
    /// Registers a new connection, closing the oldest when at the limit.
    fn open(connections: &Mutex<Connections>) -> (u64, CancellationToken) {
        let mut this = connections.lock().unwrap_or_else(PoisonError::into_inner);
        if this.open.len() >= MAX_CONNECTIONS {
            if let Some((_, oldest)) = this.open.pop_front() {
                tracing::debug!(limit = MAX_CONNECTIONS, "HTTP connection limit reached: closing the oldest");
                oldest.cancel();
            }
        }
        let id = this.next_id;
        this.next_id += 1;
        let token = CancellationToken::new();
        this.open.push_back((id, token.clone()));
        (id, token)
    }

    fn close(connections: &Mutex<Connections>, id: u64) {
        connections.lock().unwrap_or_else(PoisonError::into_inner).open.retain(|(open, _)| *open != id);
    }
}

/// Binds `addr` (so a taken port fails start-up) and serves until `shutdown`.
pub async fn serve(
    addr: SocketAddr,
    health: Arc<Health>,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) -> anyhow::Result<impl std::future::Future<Output = ()>> {
    let listener =
        TcpListener::bind(addr).await.map_err(|e| anyhow::anyhow!("cannot listen on HTTP_ADDR {addr}: {e}"))?;
    tracing::info!(%addr, "HTTP server listening: /metrics /healthz /readyz");
    let state = Arc::new(State { health, metrics });
    let connections = Arc::new(Mutex::new(Connections::default()));
    let mut builder = http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(HEADER_READ_TIMEOUT).max_buf_size(MAX_BUFFER_BYTES);
    Ok(async move {
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                () = shutdown.cancelled() => return,
            };
            let stream = match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "HTTP accept failed");
                    continue;
                }
            };
            let state = state.clone();
            let connections = connections.clone();
            let (id, closed) = Connections::open(&connections);
            let connection = builder.serve_connection(
                TokioIo::new(stream),
                service_fn(move |request| {
                    let state = state.clone();
                    async move { Ok::<_, Infallible>(route(&state, &request)) }
                }),
            );
            tokio::spawn(async move {
                tokio::select! {
                    result = connection => {
                        if let Err(e) = result {
                            tracing::debug!(error = %e, "HTTP connection ended with an error");
                        }
                    }
                    () = closed.cancelled() => {}
                }
                Connections::close(&connections, id);
            });
        }
    })
}

fn route(state: &State, request: &Request<Incoming>) -> Response<Full<Bytes>> {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let mut response = respond(StatusCode::METHOD_NOT_ALLOWED, "text/plain", "only GET and HEAD\n");
        response.headers_mut().insert(hyper::header::ALLOW, hyper::header::HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    match request.uri().path() {
        "/metrics" => {
            let ready = state.health.is_ready();
            state.metrics.ready.set(i64::from(ready));
            respond(StatusCode::OK, "text/plain; version=0.0.4", state.metrics.render())
        }
        "/healthz" => respond(StatusCode::OK, "text/plain", "ok\n"),
        "/readyz" if state.health.is_ready() => respond(StatusCode::OK, "text/plain", "ready\n"),
        "/readyz" => {
            respond(StatusCode::SERVICE_UNAVAILABLE, "text/plain", format!("not ready: {}\n", state.health.reason()))
        }
        _ => respond(StatusCode::NOT_FOUND, "text/plain", "not found: try /metrics, /healthz or /readyz\n"),
    }
}

fn respond(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    if let Ok(value) = content_type.parse() {
        response.headers_mut().insert(hyper::header::CONTENT_TYPE, value);
    }
    response
}
