//! The HTTP port under clients that hold connections open: many connections
//! trickling their headers a byte at a time (slow loris), more of them than
//! the connection limit, do not keep `/healthz` from answering a normal
//! client promptly, and the server closes them all; only GET and HEAD are
//! served.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use common::*;

/// The server's connection limit.
const MAX_CONNECTIONS: usize = 128;
/// More than that.
const SLOW_CLIENTS: usize = 300;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A worker whose broker is unreachable: it waits for it, serving HTTP.
fn worker() -> Worker {
    let topics = Topics::new("httpport");
    let brokers = format!("127.0.0.1:{}", free_port());
    let (mut command, http, log) = worker_command(&topics, TEXT_MODEL, &[("KAFKA_BOOTSTRAP_SERVERS", &brokers)]);
    let file = std::fs::File::create(&log).unwrap();
    let child = command
        .stdout(std::process::Stdio::from(file.try_clone().unwrap()))
        .stderr(std::process::Stdio::from(file))
        .spawn()
        .expect("spawn worker");
    let worker = Worker { child: Some(child), http, log };
    let deadline = Instant::now() + Duration::from_secs(30);
    while http_get(worker.http, "/healthz").map(|(status, _)| status) != Some(200) {
        assert!(Instant::now() < deadline, "no /healthz:\n{}", worker.log_text());
        std::thread::sleep(Duration::from_millis(100));
    }
    worker
}

/// True once the server closed the connection (EOF or reset).
fn closed_by_server(stream: &mut TcpStream) -> bool {
    let mut buffer = [0u8; 512];
    stream.set_nonblocking(true).unwrap();
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return false,
            Err(_) => return true,
        }
    }
}

fn timed_healthz(addr: SocketAddr) -> (Option<u16>, Duration) {
    let started = Instant::now();
    let status = http_get(addr, "/healthz").map(|(status, _)| status);
    (status, started.elapsed())
}

#[test]
fn slow_loris_clients_cannot_keep_healthz_from_answering_and_are_cut_off() {
    let worker = worker();
    let (_, idle_latency) = timed_healthz(worker.http);

    // Each slow client starts a request and then sends one header byte per
    // 500 ms, never finishing its headers.
    let mut slow: Vec<TcpStream> = (0..SLOW_CLIENTS)
        .map(|_| {
            let mut stream = TcpStream::connect(worker.http).expect("connect");
            stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ").expect("write");
            stream
        })
        .collect();
    // At the limit each new connection closed the oldest, long before the
    // header timeout: only the newest are still open.
    std::thread::sleep(Duration::from_millis(500));
    let evicted = slow[..SLOW_CLIENTS - MAX_CONNECTIONS].iter_mut().map(closed_by_server).filter(|c| *c).count();
    assert_eq!(evicted, SLOW_CLIENTS - MAX_CONNECTIONS, "the oldest connections were not closed at the limit");
    let started = Instant::now();
    let mut latencies = Vec::new();
    while started.elapsed() < Duration::from_secs(8) {
        for stream in &mut slow {
            let _ = stream.write_all(b"a");
        }
        let (status, latency) = timed_healthz(worker.http);
        assert_eq!(status, Some(200), "/healthz did not answer after {:?}\n{}", started.elapsed(), worker.log_text());
        latencies.push(latency);
        std::thread::sleep(Duration::from_millis(500));
    }
    latencies.sort();
    let worst = *latencies.last().unwrap();
    eprintln!(
        "/healthz with {SLOW_CLIENTS} slow clients: {} requests, median {:?}, worst {worst:?} (idle: {idle_latency:?})",
        latencies.len(),
        latencies[latencies.len() / 2]
    );
    // A bound far above the few milliseconds it takes, far below a blocked
    // server's wait for the slow clients (the header timeout, 5 s).
    assert!(worst < Duration::from_secs(2), "worst /healthz latency {worst:?}");

    // 8 s of trickling, past the 5 s header timeout: the server closed every
    // slow connection (the oldest at the connection limit, the rest at the
    // timeout).
    let open = slow.iter_mut().map(closed_by_server).filter(|closed| !closed).count();
    assert_eq!(open, 0, "{open} of {SLOW_CLIENTS} slow connections still open after 8 s");
}

#[test]
fn only_get_and_head_are_served() {
    let worker = worker();
    let mut stream = TcpStream::connect(worker.http).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(stream, "POST /healthz HTTP/1.0\r\nContent-Length: 0\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.0 405"), "{response}");
    assert!(response.to_ascii_lowercase().contains("allow: get, head"), "{response}");

    let mut stream = TcpStream::connect(worker.http).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(stream, "HEAD /healthz HTTP/1.0\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.0 200"), "{response}");
}
