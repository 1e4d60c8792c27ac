//! `cargo xtask build`: the Yew UI to wasm (cargo + wasm-bindgen, optionally wasm-opt), then the app.
//!
//! The UI lands in `src-ui/dist`, which `tauri.conf.json` names as `frontendDist`; the shell embeds it at
//! compile time, so the UI is always built first.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result};

use crate::setup::{self, WasmRoute, WASM_TARGET};
use crate::util::{self, project_root, target_dir};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    Debug,
    Release,
}

impl Profile {
    pub fn from_flag(release: bool) -> Self {
        if release {
            Profile::Release
        } else {
            Profile::Debug
        }
    }
    fn dir(self) -> &'static str {
        match self {
            Profile::Debug => "debug",
            Profile::Release => "release",
        }
    }
}

pub fn dist_dir() -> PathBuf {
    project_root().join("src-ui/dist")
}

/// Builds the UI and the app; returns the app binary.
pub fn all(profile: Profile) -> Result<PathBuf> {
    ui(profile)?;
    app(profile)
}

/// Builds the app (and order-server, which `run` and the tests start beside it).
pub fn app(profile: Profile) -> Result<PathBuf> {
    let mut cmd = util::cargo();
    cmd.args(["build", "-p", "live-orders", "-p", "order-server"]);
    if profile == Profile::Release {
        cmd.arg("--release");
    }
    util::run(&mut cmd)?;
    Ok(target_dir().join(profile.dir()).join("live-orders"))
}

pub fn server_binary(profile: Profile) -> PathBuf {
    target_dir().join(profile.dir()).join("order-server")
}

/// Builds `src-ui` for wasm32 and writes `src-ui/dist` (index.html, style.css, app.js, app_bg.wasm).
pub fn ui(profile: Profile) -> Result<()> {
    let route = setup::wasm_route();
    // The Debian route uses another rustc; a target dir of its own keeps the two from rebuilding each other.
    let tdir = match route {
        WasmRoute::Rustup => target_dir(),
        WasmRoute::Debian => target_dir().join("wasm-debian"),
    };
    let cargo_profile = match profile {
        Profile::Debug => "dev",
        Profile::Release => "wasm-release",
    };
    let mut cmd = match route {
        WasmRoute::Rustup => util::cargo(),
        WasmRoute::Debian => debian_wasm_cargo()?,
    };
    cmd.args(["build", "-p", "live-orders-ui", "--target", WASM_TARGET, "--profile", cargo_profile])
        .env("CARGO_TARGET_DIR", &tdir);
    util::run(&mut cmd)?;

    let out_profile_dir = if cargo_profile == "dev" { "debug" } else { cargo_profile };
    let wasm = tdir.join(WASM_TARGET).join(out_profile_dir).join("live-orders-ui.wasm");
    let dist = dist_dir();
    if dist.exists() {
        std::fs::remove_dir_all(&dist)?;
    }
    std::fs::create_dir_all(&dist)?;
    util::run(
        Command::new("wasm-bindgen")
            .args(["--target", "web", "--no-typescript", "--out-name", "app", "--out-dir"])
            .arg(&dist)
            .arg(&wasm),
    )?;
    if profile == Profile::Release {
        optimize_wasm(&dist.join("app_bg.wasm"))?;
    }
    let static_dir = project_root().join("src-ui/static");
    for entry in std::fs::read_dir(&static_dir).with_context(|| format!("reading {}", static_dir.display()))? {
        let entry = entry?;
        std::fs::copy(entry.path(), dist.join(entry.file_name()))?;
    }
    vendor_leaflet(&dist)?;
    let size = std::fs::metadata(dist.join("app_bg.wasm"))?.len();
    eprintln!("ui: {} ({} KiB wasm)", dist.display(), size / 1024);
    Ok(())
}

/// Leaflet, the map library, from npm (`src-ui/package.json`, installed by `cargo xtask setup`) into
/// `dist/vendor/leaflet`: its minified script, stylesheet and images, served by the app itself (no CDN).
fn vendor_leaflet(dist: &std::path::Path) -> Result<()> {
    let from = project_root().join("src-ui/node_modules/leaflet/dist");
    anyhow::ensure!(from.join("leaflet.js").is_file(), "{} is missing: run `cargo xtask setup`", from.display());
    let to = dist.join("vendor/leaflet");
    std::fs::create_dir_all(to.join("images"))?;
    for file in ["leaflet.js", "leaflet.css"] {
        std::fs::copy(from.join(file), to.join(file))?;
    }
    for entry in std::fs::read_dir(from.join("images"))? {
        let entry = entry?;
        std::fs::copy(entry.path(), to.join("images").join(entry.file_name()))?;
    }
    Ok(())
}

/// `wasm-opt -Oz` from the npm package binaryen, when `cargo xtask setup` installed it (Debian's is too old).
fn optimize_wasm(wasm: &std::path::Path) -> Result<()> {
    let wasm_opt = project_root().join("xtask/node/node_modules/.bin/wasm-opt");
    if !wasm_opt.exists() {
        eprintln!("ui: wasm-opt not installed; the wasm stays unoptimised");
        return Ok(());
    }
    let out = wasm.with_extension("opt.wasm");
    util::run(
        Command::new(wasm_opt)
            .args(["-Oz", "--enable-bulk-memory", "--enable-reference-types", "--enable-multivalue"])
            .args(["--enable-nontrapping-float-to-int", "--enable-sign-ext", "--enable-mutable-globals"])
            .arg(wasm)
            .arg("-o")
            .arg(&out),
    )?;
    std::fs::rename(out, wasm)?;
    Ok(())
}

/// cargo set up for Debian's rustc-web: std built from source for wasm32, linked by Debian's wasm-ld.
/// The build-std switch lives in the environment only, so it never reaches native builds.
fn debian_wasm_cargo() -> Result<Command> {
    let llvm = setup::debian_llvm_major()?;
    let mut cmd = Command::new("/usr/bin/cargo");
    cmd.current_dir(project_root())
        .env("RUSTC", "/usr/bin/rustc")
        .env("RUSTDOC", "/usr/bin/rustdoc")
        .env("RUSTC_BOOTSTRAP", "1")
        .env("CARGO_UNSTABLE_BUILD_STD", "std,panic_abort")
        .env("CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER", format!("/usr/lib/llvm-{llvm}/bin/wasm-ld"))
        .env_remove("RUSTUP_TOOLCHAIN")
        .env_remove("CARGO_BUILD_TARGET");
    let path = std::env::var("PATH").unwrap_or_default();
    cmd.env("PATH", format!("/usr/bin:{path}"));
    Ok(cmd)
}
