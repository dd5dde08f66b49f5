//! The small HTTP server: `/metrics`, `/healthz`, `/readyz`.

mod server;

pub use server::serve;
