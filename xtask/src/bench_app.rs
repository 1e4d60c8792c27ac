//! `cargo xtask bench app`: the app's memory beside a blank Tauri window, its idle CPU and its cold start, in
//! one table (targets of issue 5: PSS ratio ≤ 1.15, idle CPU ≤ 0.5 %, cold start ≤ 1 s).
//!
//! The measuring is the `app` bench of `live-orders-tests` (`tests/benches/app.rs`), because that harness
//! already starts order-server, tauri-driver and the app and cleans up after them. This module builds what
//! it measures in release, as the bundle does (the UI; the app and the blank window example
//! `examples/blank-window.rs` with tauri's `custom-protocol`; the server), and runs that bench as the
//! end-to-end tests run: in a private D-Bus session with an unlocked gnome-keyring (the app keeps its session
//! in the Secret Service), under a private Xvfb when there is no display. The bench's own driver code is
//! built in the dev profile: it only waits and reads `/proc`.
//! `BENCH_APP_IDLE_SECS` shortens the idle window (default 60 s) for a quick run; `BENCH_APP_SMAPS=DIR` keeps
//! each measured process's `/proc/PID/smaps`; `BENCH_APP_ENV="NAME=VALUE ..."` adds variables to the app's idle
//! launch only (for example a `JSC_…` option, which the web process inherits), to try a setting without a
//! rebuild.

use std::process::Command;

use anyhow::Result;

use crate::build::{self, Profile};
use crate::test::Xvfb;
use crate::util;

pub fn run() -> Result<()> {
    build::ui(Profile::Release)?;
    // As the bundle builds the app (tauri's `custom-protocol`: the UI served from the binary, not a dev
    // server), and the blank window the same way, in the same command.
    let release = ["build", "--release", "--locked"];
    let app = ["-p", "live-orders", "--features", "tauri/custom-protocol", "--bins", "--example", "blank-window"];
    util::run(util::cargo().args(release).args(app))?;
    util::run(util::cargo().args(release).args(["-p", "order-server"]))?;

    let _xvfb = if std::env::var_os("DISPLAY").is_none() { Some(Xvfb::start()?) } else { None };
    let keyring_home = util::target_dir().join("bench-app-session");
    let _ = std::fs::remove_dir_all(&keyring_home);
    std::fs::create_dir_all(&keyring_home)?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let script = format!(
        r#"set -e
eval "$(printf live-orders-bench | XDG_DATA_HOME="$KEYRING_HOME" gnome-keyring-daemon --unlock --components=secrets)"
export GNOME_KEYRING_CONTROL
"{cargo}" bench --locked --profile dev -p live-orders-tests --bench app"#
    );
    let mut cmd = Command::new("dbus-run-session");
    cmd.current_dir(util::project_root())
        .args(["--", "sh", "-c", &script])
        .env("KEYRING_HOME", &keyring_home)
        .env("LIVE_ORDERS_PROFILE", "release")
        // The app logs as a user's would by default: info lines of 500 changes are not what is measured.
        .env("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()));
    if let Some(x) = &_xvfb {
        cmd.env("DISPLAY", &x.display);
    }
    util::run(&mut cmd)?;
    print_ui_sizes()
}

/// What the UI weighs in the app, file by file (`src-ui/dist`, embedded in the binary): the wasm, its glue,
/// and the map library, which loads only with the first map.
fn print_ui_sizes() -> Result<()> {
    let dist = build::dist_dir();
    println!("UI in the app (release build)");
    let mut total = 0;
    for file in ["app_bg.wasm", "app.js", "vendor/leaflet/leaflet.js", "vendor/leaflet/leaflet.css"] {
        let bytes = std::fs::metadata(dist.join(file)).map(|m| m.len()).unwrap_or(0);
        total += bytes;
        println!("  {file:<56} {:>8.1} KiB", bytes as f64 / 1024.0);
    }
    println!("  {:<56} {:>8.1} KiB", "total", total as f64 / 1024.0);
    Ok(())
}
