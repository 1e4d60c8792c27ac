//! `cargo xtask bench [server [--abuse]|client|app]`: benchmarks that print their figures side by side.
//! `server` is the fan-out benchmark; `server --abuse` the honest clients' delivery while others attack.
//! Performance targets live here, never in timed tests. `app` is [`crate::bench_app`].

use anyhow::{bail, Result};

use crate::util;

pub fn run(args: &[&str]) -> Result<()> {
    let which: Vec<&str> = match args.iter().find(|a| !a.starts_with('-')) {
        Some(w) => vec![*w],
        None => vec!["server", "client"],
    };
    crate::setup::run()?;
    for w in which {
        if w == "app" {
            crate::bench_app::run()?;
            continue;
        }
        let (package, bench) = match w {
            "server" if args.contains(&"--abuse") => ("order-server", "abuse"),
            "server" => ("order-server", "fanout"),
            "client" => ("order-client", "client"),
            other => bail!("unknown benchmark `{other}` (server, client, app)"),
        };
        util::run(util::cargo().args(["bench", "--locked", "-p", package, "--bench", bench]))?;
    }
    Ok(())
}
