//! order-server's integration tests. `rest` drives the router with `oneshot`; the others run real servers on
//! loopback with a real SQLite file in a temp dir, and real clients: rust_socketio, the official Node
//! `socket.io-client` (tests/peers/node-client, installed by `cargo xtask setup`), and the binary itself
//! (CLI, kill -9 and restart).

mod bad_input;
mod node_client;
mod process;
mod rest;
mod sessions;
mod socket;
mod support;
