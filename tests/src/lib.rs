//! The harness of the cross-crate tests: real processes on loopback, ended when their guard drops.
//!
//! - [`procs`]: starting binaries, waiting for their "listening" line, free ports, paths to built binaries.
//! - [`e2e`]: the real app under tauri-driver + WebKitWebDriver, driven over WebDriver.

pub mod e2e;
pub mod procs;
pub mod client_log;
pub mod cut_proxy;
pub mod node_peer;
