//! Small helpers: the project root, running commands loudly, finding free ports.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

/// The repository root (the folder holding the workspace `Cargo.toml`).
pub fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives one level below the root").to_owned()
}

/// The cargo target directory (honours `CARGO_TARGET_DIR`).
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) => PathBuf::from(d),
        None => project_root().join("target"),
    }
}

pub fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(project_root());
    c
}

/// Runs a command, echoing it first; fails with the command line if it fails.
pub fn run(cmd: &mut Command) -> Result<()> {
    eprintln!("$ {}", show(cmd));
    let status = cmd.status().with_context(|| format!("could not start `{}`", show(cmd)))?;
    if !status.success() {
        bail!("`{}` failed ({status})", show(cmd));
    }
    Ok(())
}

/// Runs a command quietly and returns its trimmed stdout, or `None` if it cannot run or fails.
pub fn output(cmd: &mut Command) -> Option<String> {
    let out = cmd.output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

pub fn show(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// Whether a program is on PATH.
pub fn have(program: &str) -> bool {
    output(Command::new("sh").args(["-c", &format!("command -v {program}")])).is_some_and(|s| !s.is_empty())
}

pub fn is_root() -> bool {
    output(Command::new("id").arg("-u")).as_deref() == Some("0")
}

/// The version of a crate as Cargo.lock pins it.
pub fn lock_version(krate: &str) -> Result<String> {
    let lock = std::fs::read_to_string(project_root().join("Cargo.lock")).context("reading Cargo.lock")?;
    let needle = format!("name = \"{krate}\"\n");
    let at = lock.find(&needle).with_context(|| format!("{krate} is not in Cargo.lock"))?;
    let version_line = lock[at + needle.len()..].lines().next().unwrap_or_default();
    Ok(version_line.trim_start_matches("version = ").trim_matches('"').to_owned())
}
