//! `cargo xtask chaos [--cycles N] [--seed S] [--backend order-server|node]`: the seeded chaos soak of the
//! engine against a real backend through the fault proxy (`tests/src/chaos.rs` says what it does and checks).
//! Without `--backend` it runs against both, one after the other, with the same seed; without `--seed`, a
//! fresh one, printed. It ends with one `chaos: …` line per backend; a failure names its seed.

use anyhow::Result;

use crate::util;

pub fn run(args: &[&str]) -> Result<()> {
    crate::setup::run()?;
    // The soak starts the real server binary; build it (and the soak) first.
    util::run(util::cargo().args(["build", "--locked", "-p", "order-server", "--bin", "order-server"]))?;
    util::run(util::cargo().args(["build", "--locked", "-p", "live-orders-tests", "--bin", "chaos"]))?;
    let mut args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    if !args.iter().any(|a| a == "--seed") {
        args.extend(["--seed".to_owned(), rand_seed().to_string()]);
    }
    let backends: Vec<&str> = if args.iter().any(|a| a == "--backend") { vec![] } else { vec!["order-server", "node"] };
    let bin = util::target_dir().join("debug").join("chaos");
    if backends.is_empty() {
        return util::run(std::process::Command::new(&bin).args(&args));
    }
    for b in backends {
        util::run(std::process::Command::new(&bin).args(&args).args(["--backend", b]))?;
    }
    Ok(())
}

/// A seed from the clock: xtask has no random source of its own, and a soak needs no more.
fn rand_seed() -> u64 {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    t.as_nanos() as u64 % 1_000_000_007
}
