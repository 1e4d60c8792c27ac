//! `cargo xtask fuzz [--cases N]`: the bad-input properties of order-server (`crates/server/tests/it/bad_input.rs`:
//! generated REST requests, query strings, tokens and raw Engine.IO / Socket.IO frames against a running
//! server) with many more cases than CI runs: 5,000 per property by default. A failure prints the smallest
//! input that still fails.

use anyhow::{Context, Result};

use crate::util;

pub fn run(args: &[&str]) -> Result<()> {
    let cases = match args.iter().position(|a| *a == "--cases") {
        Some(i) => args.get(i + 1).context("--cases needs a number")?.parse::<u32>().context("--cases N")?,
        None => 5000,
    };
    crate::setup::run()?;
    util::run(
        util::cargo()
            .args(["test", "--locked", "-p", "order-server", "--test", "it", "--", "bad_input", "--test-threads", "1"])
            .env("BAD_INPUT_CASES", cases.to_string()),
    )
}
