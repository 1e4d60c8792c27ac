//! `order-client`: the headless Live Orders engine. Every client-side decision lives here, in plain Rust that
//! knows nothing about Tauri, Yew or wasm, so the desktop app, the phone app and the `order-watch` CLI share it
//! and it is tested without a window.
//!
//! # Terminology
//! - **order**: one customer order as the backend keeps it ([`order_protocol::Order`]); the UI draws an
//!   [`order_protocol::OrderView`] (status, progress, timeline, delivery).
//! - **update**: one change applied to the state: an order moving to a status, a delivery change, a
//!   notification, new stats. Applied at most once, never backwards in time.
//! - **catch-up**: what runs after every (re)connect before the link is called live: a replay of the change log
//!   by `seq` on a server with the extensions, else a reload of the orders diffed against what is held, so
//!   nothing that happened while away is lost.
//! - **link**: the live Socket.IO connection and its state as the user sees it: `Connecting{attempt,
//!   next_retry_at}`, `Live{since}`, `Offline{reason}`, `LoggedOut{reason}` ([`order_protocol::LinkState`]).
//! - **inbox**: the notifications, filed under order updates, delivery and other, with an unread count; read
//!   state synced with the server where it has the extension.
//!
//! # Shape
//! - [`OrderBook`] is the pure reducer: `apply(Input) -> Vec<Effect>`. Everything goes through it.
//! - `supervisor::Supervisor` decides a session's life (connect, catch up, live, retry with a backoff,
//!   refresh, end) as a pure state machine: events in, actions out.
//! - [`Engine`] drives it: one loop that carries out its actions (the link, `LiveLink`; the catch-up; the
//!   cache, `Cache`) and reports their results back. The shell holds the cheap [`Engine`] handle and reads
//!   [`ClientEvent`]s from a channel.
//! - [`Api`] is the REST client, [`TokenStore`] where the JWT lives (keychain in the app, memory in tests).
//!
//! # Using it from a shell
//! ```no_run
//! # async fn f() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use order_client::{ClientEvent, Engine, EngineConfig, MemoryTokenStore};
//! let config = EngineConfig::new("http://127.0.0.1:5001").with_data_dir("/tmp/live-orders");
//! let (engine, mut events) = Engine::start(config, Arc::new(MemoryTokenStore::default()));
//! engine.login("alice@example.com", "alice-pass").await?;   // or a token already in the store
//! engine.watch("64b0a01")?;                                    // the order page is open
//! let state = engine.snapshot().await?;                        // draw everything once
//! while let Some(ev) = events.recv().await {
//!     match ev {
//!         ClientEvent::Update { patch, .. } => { /* forward `patch` to the UI */ }
//!         ClientEvent::Notify(n) => { /* native notification: n.title, n.body */ }
//!         ClientEvent::Warning(w) => tracing::warn!("{w}"),
//!     }
//! }
//! # let _ = state; Ok(()) }
//! ```

mod api;
pub mod attention;
mod backoff;
mod book;
mod cache;
pub mod deep_link;
mod engine;
mod link;
pub mod logging;
mod supervisor;
mod token;
pub mod updates;

#[cfg(test)]
mod fixtures;

pub use api::{is_cleartext_remote, parse_body, resolve_api_url, Api, ApiError, Changes};
pub use book::{Effect, Input, Notify, OrderBook, Persisted};
pub use cache::Cache;
pub use engine::{ClientEvent, Engine, EngineConfig, EngineError};
pub use token::{MemoryTokenStore, Token, TokenStore, TokenStoreError};
