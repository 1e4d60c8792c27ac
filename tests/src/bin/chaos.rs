//! `chaos [--cycles N] [--seed S] [--backend order-server|node]`: the seeded chaos soak (see
//! `live_orders_tests::chaos`). Run it through `cargo xtask chaos`, which builds what it needs first.

use anyhow::{bail, Context, Result};
use live_orders_tests::chaos::{soak, Backend, Opts};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let mut opts = Opts { cycles: 200, seed: rand::random(), backend: Backend::OrderServer };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--cycles" => opts.cycles = value()?.parse().context("--cycles")?,
            "--seed" => opts.seed = value()?.parse().context("--seed")?,
            "--backend" => opts.backend = value()?.parse()?,
            other => {
                bail!("unknown argument `{other}`; usage: chaos [--cycles N] [--seed S] [--backend order-server|node]")
            }
        }
    }
    eprintln!("chaos: {} cycles against {}, seed {}", opts.cycles, opts.backend, opts.seed);
    let report = soak(&opts).await?;
    let per_cycle = report.elapsed / report.cycles.max(1);
    eprintln!("chaos: faults {:?}", report.faults);
    eprintln!("chaos: {:.0?} in all, {per_cycle:.1?} per cycle", report.elapsed);
    println!("{}", report.line());
    if !report.clean() {
        bail!("the oracle found trouble");
    }
    Ok(())
}
