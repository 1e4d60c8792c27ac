//! `cargo xtask bench [server [--abuse|--db postgres]|client|app|push]`: benchmarks that print their figures
//! side by side. `server` is the fan-out benchmark; `server --abuse` the honest clients' delivery while others
//! attack; `server --db postgres` one SQLite instance beside one and two PostgreSQL instances;
//! `push` pushes to 10,000 devices through the FCM stand-in. Performance targets live here, never in timed
//! tests. `app` is [`crate::bench_app`].

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
        if w == "server" && args.windows(2).any(|p| p == ["--db", "postgres"]) {
            // The servers as they ship (release), beside a throwaway PostgreSQL; the driver in the dev profile.
            util::run(util::cargo().args(["build", "--release", "--locked", "-p", "order-server"]))?;
            let bench = ["bench", "--locked", "--profile", "dev", "-p", "live-orders-tests", "--bench", "scaleout"];
            util::run(util::cargo().args(bench).env("LIVE_ORDERS_PROFILE", "release"))?;
            continue;
        }
        if w == "push" {
            // The server as it ships (release); the stand-in and driver in the dev profile the tests built.
            util::run(util::cargo().args(["build", "--release", "--locked", "-p", "order-server"]))?;
            let bench = ["bench", "--locked", "--profile", "dev", "-p", "live-orders-tests", "--bench", "push"];
            util::run(util::cargo().args(bench).env("LIVE_ORDERS_PROFILE", "release"))?;
            continue;
        }
        let (package, bench) = match w {
            "server" if args.contains(&"--abuse") => ("order-server", "abuse"),
            "server" => ("order-server", "fanout"),
            "client" => ("order-client", "client"),
            other => bail!("unknown benchmark `{other}` (server, client, app, push)"),
        };
        util::run(util::cargo().args(["bench", "--locked", "-p", package, "--bench", bench]))?;
    }
    Ok(())
}
