//! The log filter every binary of the engine uses (the app, `order-watch`): `RUST_LOG`, else a default, with
//! the wire crates held at `debug` whatever it says.
//!
//! Why: at `trace`, tungstenite prints every WebSocket frame's payload as a list of byte values, and the
//! Socket.IO CONNECT frame carries the session token (`40{"token":"…"}`). No log line at any level may hold
//! the token, so those crates never log below `debug`; their `debug` lines carry no payloads.

use tracing_subscriber::EnvFilter;

/// Crates that print what crosses the wire at `trace`.
const WIRE_CRATES: [&str; 2] = ["tungstenite", "tokio_tungstenite"];

/// `RUST_LOG` (else `default`), with `WIRE_CRATES` capped at `debug`.
pub fn filter(default: &str) -> EnvFilter {
    let mut filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    for krate in WIRE_CRATES {
        if let Ok(cap) = format!("{krate}=debug").parse() {
            filter = filter.add_directive(cap);
        }
    }
    filter
}
