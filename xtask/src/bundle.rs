//! `cargo xtask bundle`: an installable .deb through tauri-cli, installed on demand (kept out of CI:
//! installing tauri-cli takes about 11 minutes on two cores).

use std::process::Command;

use anyhow::Result;

use crate::util::{self, have, output};

const TAURI_CLI_VERSION: &str = "2.12.4";

pub fn run() -> Result<()> {
    crate::setup::run()?;
    let installed = output(Command::new("cargo").args(["tauri", "--version"])).unwrap_or_default();
    if !installed.starts_with("tauri-cli 2.") || !have("cargo-tauri") {
        util::run(util::cargo().args([
            "install",
            "tauri-cli",
            "--version",
            &format!("={TAURI_CLI_VERSION}"),
            "--locked",
        ]))?;
    }
    // tauri.conf.json's beforeBuildCommand builds the UI in release first.
    // tauri.conf.json's `build.runner` adds `-p live-orders`: the workspace's default members leave the app
    // out of a plain `cargo build`.
    util::run(util::cargo().args(["tauri", "build", "--bundles", "deb"]))?;
    let deb_dir = util::target_dir().join("release/bundle/deb");
    for e in std::fs::read_dir(&deb_dir)?.flatten() {
        let len = e.metadata()?.len();
        println!("{} ({:.1} MiB)", e.path().display(), len as f64 / 1048576.0);
    }
    Ok(())
}
