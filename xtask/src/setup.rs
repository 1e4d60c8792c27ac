//! `cargo xtask setup`: installs what a fresh Debian/Ubuntu machine lacks, idempotently.
//!
//! Every step first checks whether its tool is already there, so a second run takes seconds. What cannot be
//! installed is said in one clear sentence, with the command a person would run.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::util::{self, have, is_root, lock_version, output, project_root};

pub const WASM_TARGET: &str = "wasm32-unknown-unknown";
pub const TAURI_DRIVER_VERSION: &str = "2.1.0";

pub fn run() -> Result<()> {
    system_packages()?;
    node()?;
    wasm_toolchain()?;
    wasm_bindgen()?;
    tauri_driver()?;
    npm_peers()?;
    crate::platforms::add_targets();
    Ok(())
}

/// The apt packages of `xtask/apt-packages.txt` that are not installed yet.
fn missing_packages() -> Result<Vec<String>> {
    let list = std::fs::read_to_string(project_root().join("xtask/apt-packages.txt"))?;
    Ok(list
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .flat_map(str::split_whitespace)
        .filter(|p| !dpkg_installed(p))
        .map(str::to_owned)
        .collect())
}

fn dpkg_installed(package: &str) -> bool {
    output(Command::new("dpkg-query").args(["-W", "-f=${Status}", package]))
        .is_some_and(|s| s.contains("install ok installed"))
}

pub fn apt_install(packages: &[String]) -> Result<()> {
    if packages.is_empty() {
        return Ok(());
    }
    if !have("apt-get") {
        bail!("these packages are needed but this is not a Debian/Ubuntu system: {}", packages.join(" "));
    }
    if !is_root() {
        bail!(
            "some system packages are missing; install them with:\n  sudo apt-get update && sudo apt-get install -y {}\nthen run this again",
            packages.join(" ")
        );
    }
    eprintln!("setup: installing {}", packages.join(" "));
    util::run(Command::new("apt-get").args(["update", "-qq"]))?;
    util::run(
        Command::new("apt-get")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .args(["install", "-y", "-qq", "--no-install-recommends"])
            .args(packages),
    )
}

fn system_packages() -> Result<()> {
    apt_install(&missing_packages()?)
}

/// Node.js runs the test peers (the official socket.io server and client). Any recent Node will do.
fn node() -> Result<()> {
    if have("node") && have("npm") {
        return Ok(());
    }
    apt_install(&["nodejs".into(), "npm".into()])
}

/// How the UI gets built for wasm on this machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WasmRoute {
    /// rustup's std for wasm32: the normal way.
    Rustup,
    /// Debian's rustc-web building std from source (`-Z build-std`): for machines where rustup cannot
    /// download the wasm32 target.
    Debian,
}

/// The targets whose standard library rustup has installed (none without rustup).
pub fn rustup_targets() -> Vec<String> {
    output(Command::new("rustup").args(["target", "list", "--installed"]))
        .map(|s| s.lines().map(|l| l.trim().to_owned()).collect())
        .unwrap_or_default()
}

/// `rustup target add`, given at most `limit`; says so and returns false when it fails.
pub fn rustup_target_add(target: &str, limit: Duration) -> bool {
    eprintln!("setup: rustup target add {target} ({} s at most)", limit.as_secs());
    let secs = limit.as_secs().to_string();
    let ok = util::run(Command::new("timeout").args([secs.as_str(), "rustup", "target", "add", target])).is_ok();
    if !ok {
        eprintln!("setup: rustup could not add {target} (an unreachable mirror?)");
    }
    ok
}

fn rustup_has_wasm() -> bool {
    rustup_targets().iter().any(|t| t == WASM_TARGET)
}

/// The route the build will take: rustup when its wasm32 std is installed (or `XTASK_WASM_ROUTE=debian`
/// forces the fallback, to test it).
pub fn wasm_route() -> WasmRoute {
    if std::env::var("XTASK_WASM_ROUTE").as_deref() == Ok("debian") || !rustup_has_wasm() {
        WasmRoute::Debian
    } else {
        WasmRoute::Rustup
    }
}

fn wasm_toolchain() -> Result<()> {
    let want_rustup =
        std::env::var("XTASK_WASM_ROUTE").as_deref() != Ok("debian") && !rustup_has_wasm() && have("rustup");
    if want_rustup && !rustup_target_add(WASM_TARGET, Duration::from_secs(120)) {
        eprintln!("setup: using Debian's rustc-web to build std for wasm");
    }
    if wasm_route() == WasmRoute::Debian {
        apt_install(
            &["rustc-web", "cargo-web", "rust-web-src"]
                .iter()
                .filter(|p| !dpkg_installed(p))
                .map(|p| p.to_string())
                .collect::<Vec<_>>(),
        )?;
        let lld = format!("lld-{}", debian_llvm_major()?);
        if !dpkg_installed(&lld) {
            apt_install(&[lld])?;
        }
    }
    Ok(())
}

/// The LLVM major version of Debian's rustc-web (its wasm linker must match).
pub fn debian_llvm_major() -> Result<String> {
    let v = output(Command::new("/usr/bin/rustc").arg("-vV")).context("Debian's /usr/bin/rustc is not installed")?;
    v.lines()
        .find_map(|l| l.strip_prefix("LLVM version: "))
        .and_then(|s| s.split('.').next())
        .map(str::to_owned)
        .context("cannot read the LLVM version of /usr/bin/rustc")
}

fn cargo_install(krate: &str, version: &str) -> Result<()> {
    eprintln!("setup: cargo install {krate} {version} (a few minutes, once)");
    let locked = util::run(util::cargo().args(["install", krate, "--version", &format!("={version}"), "--locked"]));
    if locked.is_err() {
        // A published lockfile can pin a crate the registry no longer serves; a fresh resolve still works.
        util::run(util::cargo().args(["install", krate, "--version", &format!("={version}")]))?;
    }
    Ok(())
}

/// wasm-bindgen-cli must match the `wasm-bindgen` crate in Cargo.lock exactly.
fn wasm_bindgen() -> Result<()> {
    let want = lock_version("wasm-bindgen")?;
    let have = output(Command::new("wasm-bindgen").arg("--version")).unwrap_or_default();
    if have != format!("wasm-bindgen {want}") {
        cargo_install("wasm-bindgen-cli", &want)?;
    }
    Ok(())
}

fn tauri_driver() -> Result<()> {
    if !have("tauri-driver") {
        cargo_install("tauri-driver", TAURI_DRIVER_VERSION)?;
    }
    Ok(())
}

/// `npm ci` in every `tests/peers/<name>`, `xtask/node` and `src-ui` (the map library it bundles) whose
/// lockfile is newer than its install.
fn npm_peers() -> Result<()> {
    let root = project_root();
    let mut dirs = vec![root.join("xtask/node"), root.join("src-ui")];
    if let Ok(entries) = std::fs::read_dir(root.join("tests/peers")) {
        dirs.extend(entries.flatten().map(|e| e.path()));
    }
    for dir in dirs.into_iter().filter(|d| d.join("package-lock.json").is_file()) {
        if npm_install_is_current(&dir) {
            continue;
        }
        util::run(
            Command::new("timeout")
                .arg(Duration::from_secs(600).as_secs().to_string())
                .args(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"])
                .current_dir(&dir),
        )?;
    }
    Ok(())
}

fn npm_install_is_current(dir: &Path) -> bool {
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    match (modified(&dir.join("node_modules/.package-lock.json")), modified(&dir.join("package-lock.json"))) {
        (Some(installed), Some(lock)) => installed >= lock,
        _ => false,
    }
}
