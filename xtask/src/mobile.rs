//! The phone projects: `cargo xtask tauri <args>` runs Tauri's CLI (the prebuilt npm package in `xtask/node`,
//! at the version of `tauri` in Cargo.lock, installed by `cargo xtask setup`), and `cargo xtask mobile-init
//! android|ios` generates `gen/android` or `gen/apple` with it. The generated Gradle build calls back into
//! `cargo xtask tauri android android-studio-script`, so an Android Studio or Gradle build uses this
//! project's own pinned CLI.

use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::util::{self, lock_version, project_root};

/// The CLI that `cargo xtask setup` installed.
pub fn cli() -> Result<Command> {
    let bin = project_root().join("xtask/node/node_modules/.bin/tauri");
    if !bin.exists() {
        bail!("Tauri's CLI is not installed: run `cargo xtask setup`");
    }
    let installed = util::output(Command::new(&bin).arg("--version")).unwrap_or_default();
    let wanted = lock_version("tauri")?;
    // The CLI's minor follows the crate's: 2.12.x drives tauri 2.12.x.
    if minor(installed.trim_start_matches("tauri-cli ")) != minor(&wanted) {
        bail!("Tauri's CLI is {installed:?} but Cargo.lock has tauri {wanted}: update xtask/node/package.json");
    }
    let mut cmd = Command::new(bin);
    cmd.current_dir(project_root());
    Ok(cmd)
}

/// `2.12` of `2.12.5`.
fn minor(version: &str) -> Vec<String> {
    version
        .split(['.', ' '])
        .filter(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
        .take(2)
        .map(String::from)
        .collect()
}

/// `cargo xtask tauri <args>`.
pub fn tauri(args: &[&str]) -> Result<()> {
    util::run(cli()?.args(args))
}

/// `cargo xtask mobile-init android|ios`.
pub fn init(args: &[&str]) -> Result<()> {
    match args.first().copied() {
        Some("android") => {
            if std::env::var_os("ANDROID_HOME").is_none() || std::env::var_os("NDK_HOME").is_none() {
                bail!("set ANDROID_HOME (the Android SDK) and NDK_HOME (an NDK inside it) first");
            }
            util::run(cli()?.args(["android", "init", "--ci"]))?;
            call_back_into_xtask()
        }
        Some("ios") => {
            if !cfg!(target_os = "macos") {
                bail!("`tauri ios init` needs macOS with Xcode: run `cargo xtask mobile-init ios` on a Mac");
            }
            util::run(cli()?.args(["ios", "init", "--ci"]))
        }
        _ => bail!("usage: cargo xtask mobile-init android|ios"),
    }
}

/// The Gradle task the CLI generates runs the CLI the way it was started; this project's runs
/// `cargo xtask tauri`, so it builds with the pinned CLI wherever the project is.
fn call_back_into_xtask() -> Result<()> {
    let dir = project_root().join("gen/android/buildSrc/src/main/java");
    let task = walk(&dir).into_iter().find(|p| p.ends_with("BuildTask.kt")).context("no BuildTask.kt generated")?;
    let text = std::fs::read_to_string(&task)?;
    let text = replace_line(&text, "val executable = ", r#"        val executable = """cargo""";"#)?;
    let text = replace_line(
        &text,
        "val args = listOf(",
        r#"        val args = listOf("xtask", "tauri", "android", "android-studio-script");"#,
    )?;
    std::fs::write(&task, text)?;
    eprintln!("mobile-init: {} now runs `cargo xtask tauri android android-studio-script`", task.display());
    Ok(())
}

fn replace_line(text: &str, starts: &str, with: &str) -> Result<String> {
    anyhow::ensure!(text.lines().any(|l| l.trim_start().starts_with(starts)), "no line starting `{starts}`");
    let mut out: Vec<&str> = Vec::new();
    for line in text.lines() {
        out.push(if line.trim_start().starts_with(starts) { with } else { line });
    }
    Ok(out.join("\n") + "\n")
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(walk(&path));
        } else {
            found.push(path);
        }
    }
    found
}
