//! `cargo xtask check-platforms`: the whole app (wire types, engine and shell) type-checked and linted for the
//! phones and for the other desktops, from this Linux machine. Nothing is linked, so no SDK, NDK or Xcode is
//! needed; what it proves is that every `cfg` path of the code compiles for those targets, which is where a
//! phone build breaks first. `cargo xtask test` runs it.
//!
//! A target whose standard library rustup cannot install here (no network, a mirror without it) is skipped with
//! a note, never failed: it says nothing about the code.

use std::time::{Duration, Instant};

use anyhow::{bail, Result};

use crate::setup::{rustup_target_add, rustup_targets};
use crate::util::{self, have};

/// The phones, then the desktops other than this one.
pub const TARGETS: [&str; 4] =
    ["aarch64-linux-android", "aarch64-apple-ios", "x86_64-pc-windows-msvc", "x86_64-apple-darwin"];

/// The packages that make the app; the server and the tests are not part of a phone build.
const PACKAGES: [&str; 3] = ["order-protocol", "order-client", "live-orders"];

/// How long rustup may take to add one target's standard library.
const RUSTUP_ADD: Duration = Duration::from_secs(180);

/// Adds the targets' standard libraries that are missing (`cargo xtask setup` calls it); returns those that are
/// there afterwards.
pub fn add_targets() -> Vec<&'static str> {
    if !have("rustup") {
        eprintln!(
            "setup: no rustup here, so no phone or other desktop targets: `cargo xtask check-platforms` skips them"
        );
        return Vec::new();
    }
    let before = rustup_targets();
    for target in TARGETS.into_iter().filter(|t| !before.iter().any(|b| b == t)) {
        if !rustup_target_add(target, RUSTUP_ADD) {
            eprintln!("setup: `cargo xtask check-platforms` will skip {target}");
        }
    }
    let now = rustup_targets();
    TARGETS.into_iter().filter(|t| now.iter().any(|h| h == t)).collect()
}

/// The environment a check for `target` needs: the few C and Objective-C parts of the dependencies are
/// compiled by their build scripts even for a check, but nothing they make is linked, so they get what lets
/// the build script finish, not a real toolchain (a real phone build has the NDK or Xcode).
/// - Android: `openssl-sys` finds its headers on this machine and `gcc` stands in for the NDK's compiler.
/// - Apple: `objc2-exception-helper` compiles one Objective-C file with the SDK that `xcrun` finds; an empty
///   SDK folder and a compiler and archiver that do nothing stand in for Xcode.
fn target_env(target: &str) -> Vec<(String, String)> {
    let under = target.replace('-', "_");
    if target.contains("android") {
        let var = |name: &str| format!("{}_{name}", under.to_uppercase());
        return vec![
            (var("OPENSSL_INCLUDE_DIR"), "/usr/include".into()),
            (var("OPENSSL_LIB_DIR"), "/usr/lib/x86_64-linux-gnu".into()),
            (format!("CC_{under}"), "gcc".into()),
            ("OPENSSL_NO_VENDOR".into(), "1".into()),
        ];
    }
    if target.contains("apple") {
        let sdk = util::target_dir().join("no-apple-sdk");
        let _ = std::fs::create_dir_all(&sdk);
        return vec![
            ("SDKROOT".into(), sdk.display().to_string()),
            (format!("CC_{under}"), "true".into()),
            (format!("AR_{under}"), "true".into()),
        ];
    }
    Vec::new()
}

pub fn run() -> Result<()> {
    let targets = add_targets();
    let mut took = Vec::new();
    let mut failed = Vec::new();
    for target in TARGETS {
        if !targets.contains(&target) {
            eprintln!("check-platforms: {target} skipped: its standard library is not installed");
            continue;
        }
        let t = Instant::now();
        let mut cmd = util::cargo();
        cmd.args(["clippy", "--locked", "--target", target]);
        for p in PACKAGES {
            cmd.args(["-p", p]);
        }
        cmd.args(["--", "-D", "warnings"]).envs(target_env(target));
        if util::run(&mut cmd).is_err() {
            failed.push(target);
        }
        took.push((target, t.elapsed()));
    }
    eprintln!("check-platforms: time per target");
    for (target, t) in &took {
        eprintln!("  {target:<26} {:>6.1} s", t.as_secs_f64());
    }
    if !failed.is_empty() {
        bail!("the app does not check for {failed:?} (see the errors above)");
    }
    Ok(())
}
