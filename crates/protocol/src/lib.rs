//! `order-protocol`: every JSON shape of the order backend contract (`docs/CONTRACT.md`) as a serde type.
//!
//! Tolerant on input: unknown fields are ignored, `_id` and `id` are both accepted, optional fields may be
//! missing, an unknown status parses as [`Status::Unknown`]. Strict on output: camelCase names exactly as the
//! contract writes them. This crate does no I/O and builds for native and wasm alike, so the server, the
//! engine and the UI share one definition of every message.

pub mod bounds;
pub mod delivery;
pub mod events;
mod ids;
pub mod model;
pub mod rest;
pub mod shell;
pub mod tiles;
pub mod view;
pub mod words;

pub use events::*;
pub use model::*;
pub use rest::*;
pub use view::*;
