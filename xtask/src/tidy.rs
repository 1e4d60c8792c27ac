//! The repository's tidy checks, as plain tests (`cargo test -p xtask`).

use std::process::Command;

use crate::util::project_root;

fn tracked_files() -> Vec<String> {
    let out = Command::new("git").arg("ls-files").current_dir(project_root()).output().expect("git ls-files");
    String::from_utf8_lossy(&out.stdout).lines().map(str::to_owned).collect()
}

fn read(path: &str) -> String {
    std::fs::read_to_string(project_root().join(path)).unwrap_or_default()
}

#[test]
fn readme_and_ci_give_the_two_commands() {
    let readme = read("README.md");
    assert!(readme.contains("cargo xtask run"), "README.md must give the run command");
    assert!(readme.contains("cargo xtask test"), "README.md must give the test command");
    assert!(read(".ci/run").contains("cargo xtask test"), ".ci/run must run the README's test command");
}

#[test]
fn every_rust_source_says_what_it_is_for() {
    let missing: Vec<String> = tracked_files()
        .into_iter()
        .filter(|f| f.ends_with(".rs") && !f.contains("/tests/") && !f.starts_with("tests/tests/"))
        .filter(|f| !f.ends_with("main.rs") || f.starts_with("src-ui") || f.starts_with("xtask"))
        .filter(|f| {
            let text = read(f);
            let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or_default();
            !first.starts_with("//!")
        })
        .collect();
    assert!(missing.is_empty(), "these files lack a `//!` header saying what they are for: {missing:?}");
}

#[test]
fn no_token_is_committed() {
    // A JWT is three base64url parts, the first two starting with `eyJ` (`{"`).
    let looks_like_jwt = |s: &str| {
        s.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')).any(|w| {
            let parts: Vec<&str> = w.split('.').collect();
            parts.len() == 3 && parts[0].starts_with("eyJ") && parts[1].starts_with("eyJ") && parts[1].len() > 10
        })
    };
    let offenders: Vec<String> = tracked_files()
        .into_iter()
        .filter(|f| !f.ends_with(".lock") && !f.ends_with("package-lock.json"))
        .filter(|f| looks_like_jwt(&read(f)))
        .collect();
    assert!(offenders.is_empty(), "JWT-shaped strings are committed in {offenders:?}; mint tokens at run time");
}

#[test]
fn the_shell_never_blocks_on_the_async_runtime() {
    // From an async command (or any task on Tauri's runtime) `block_on` panics, "Cannot start a runtime from
    // within a runtime", or deadlocks; the shell starts and awaits things on a runtime handle instead.
    let offenders: Vec<String> = tracked_files()
        .into_iter()
        .filter(|f| f.starts_with("src-tauri/") && f.ends_with(".rs"))
        .filter(|f| read(f).contains("block_on"))
        .collect();
    assert!(offenders.is_empty(), "src-tauri calls block_on in {offenders:?}: take a runtime handle instead");
}

#[test]
fn nothing_points_outside_the_repository() {
    // A user who clones the project has only what is in it: no file may send the reader to a folder beside it.
    // The folder's name is put together here, so this file does not name it itself.
    let folder = ["sha", "red"].concat();
    let mut outside = vec![format!("../{folder}")];
    outside.extend(["CONTRACT", "DESIGN", "STYLE", "toolchain"].map(|f| format!("{folder}/{f}")));
    let offenders: Vec<String> = tracked_files()
        .into_iter()
        .filter(|f| !f.ends_with(".lock") && !f.ends_with("package-lock.json"))
        .filter(|f| {
            let text = read(f);
            outside.iter().any(|o| text.contains(o.as_str()))
        })
        .collect();
    assert!(offenders.is_empty(), "these files point outside the repository: {offenders:?}");
}
