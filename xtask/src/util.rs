//! Small helpers: the project root, running commands loudly, finding free ports.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

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

/// Runs a command like [`run`], stopping it and everything it started if it runs past `limit`: one hung test
/// must fail the run with a clear word, not hold CI until its own time runs out. (It stays in the caller's
/// process group, so a Ctrl-C at the terminal still reaches it.)
pub fn run_bounded(cmd: &mut Command, limit: std::time::Duration) -> Result<()> {
    eprintln!("$ {}", show(cmd));
    let mut child = cmd.spawn().with_context(|| format!("could not start `{}`", show(cmd)))?;
    let deadline = std::time::Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if std::time::Instant::now() > deadline {
            for pid in descendants(child.id()) {
                let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).stderr(Stdio::null()).status();
            }
            let _ = child.kill();
            let _ = child.wait();
            let secs = limit.as_secs();
            bail!(
                "`{}` still ran after {secs} s, so it was stopped: a test hangs (the last one named above)",
                show(cmd)
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    if !status.success() {
        bail!("`{}` failed ({status})", show(cmd));
    }
    Ok(())
}

/// Every process below `root`, read from /proc.
fn descendants(root: u32) -> Vec<u32> {
    let parents: Vec<(u32, u32)> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            // The command name in parentheses may hold spaces; the parent is the second field after it.
            let ppid = stat.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse().ok()?;
            Some((pid, ppid))
        })
        .collect();
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let p = found[i];
        found.extend(parents.iter().filter(|(_, pp)| *pp == p).map(|(pid, _)| *pid));
        i += 1;
    }
    found.remove(0);
    found
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_past_its_limit_is_stopped_with_everything_it_started() {
        let marker = std::env::temp_dir().join(format!("xtask-bounded-{}", std::process::id()));
        let script = format!("sleep 30 & echo $! > {}; wait", marker.display());
        let t = std::time::Instant::now();
        let err = run_bounded(Command::new("sh").args(["-c", &script]), std::time::Duration::from_secs(1)).unwrap_err();
        assert!(err.to_string().contains("still ran after 1 s"), "{err}");
        assert!(t.elapsed() < std::time::Duration::from_secs(10));
        let sleeper = std::fs::read_to_string(&marker).unwrap();
        let _ = std::fs::remove_file(&marker);
        std::thread::sleep(std::time::Duration::from_millis(200));
        let state = std::fs::read_to_string(format!("/proc/{}/stat", sleeper.trim())).unwrap_or_default();
        assert!(state.is_empty() || state.contains(") Z"), "the grandchild was stopped too: {state}");
        run_bounded(Command::new("true").arg(""), std::time::Duration::from_secs(5)).unwrap();
    }
}
