//! `cargo xtask test`: the one command that says whether the project is good. Its exit code says it all.
//!
//! Order: setup, format, the UI build (the shell embeds it, so clippy needs it), clippy on everything, the
//! binaries the tests start, the packages of the debug build, every unit, integration and end-to-end test,
//! then the app checked for the other platforms (`check-platforms`). Without a display the tests run under a private Xvfb; they always run in a
//! private D-Bus session, so notifications, the tray and the Secret Service they start never touch the
//! developer's own desktop.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::build::{self, Profile};
use crate::setup;
use crate::util::{self, have};

/// How long each stage of the run took, printed as each ends and all together at the end, so a stage that
/// grows shows in every CI log.
struct Stages {
    started: Instant,
    done: Vec<(&'static str, Duration)>,
}

impl Stages {
    fn new() -> Stages {
        Stages { started: Instant::now(), done: Vec::new() }
    }

    fn run(&mut self, name: &'static str, stage: impl FnOnce() -> Result<()>) -> Result<()> {
        let t = Instant::now();
        let result = stage();
        self.done.push((name, t.elapsed()));
        eprintln!(
            "xtask test: stage `{name}` {} in {:.1?}",
            if result.is_ok() { "passed" } else { "FAILED" },
            t.elapsed()
        );
        if result.is_err() {
            self.report();
        }
        result
    }

    fn report(&self) {
        eprintln!("xtask test: time per stage");
        for (name, took) in &self.done {
            eprintln!("  {name:<10} {:>7.1} s", took.as_secs_f64());
        }
        eprintln!("  {:<10} {:>7.1} s", "total", self.started.elapsed().as_secs_f64());
    }
}

/// The most the tests stage may take before it is stopped as hung: several times what it takes on a CI
/// machine, and early enough that the whole run still ends inside CI's own limit.
const TESTS_LIMIT: Duration = Duration::from_secs(30 * 60);

pub fn run() -> Result<()> {
    let mut stages = Stages::new();
    stages.run("setup", setup::run)?;
    stages.run("fmt", || util::run(util::cargo().args(["fmt", "--all", "--check"])))?;
    stages.run("ui", || build::ui(Profile::Debug))?;
    stages.run("clippy", || {
        util::run(util::cargo().args(["clippy", "--workspace", "--all-targets", "--locked", "--", "-D", "warnings"]))
    })?;
    // Every target at once, with the features `cargo test --workspace` unifies, so the tests below reuse
    // these artifacts (the app and order-server binaries the end-to-end tests start among them).
    stages.run("build", || util::run(util::cargo().args(["build", "--workspace", "--all-targets", "--locked"])))?;
    // The .deb and .rpm of that debug build, for the package checks (tests/tests/packages.rs).
    stages.run("packages", || crate::bundle::packages(Profile::Debug, None).map(drop))?;

    let _xvfb = if std::env::var_os("DISPLAY").is_none() { Some(Xvfb::start()?) } else { None };
    // The private session: an unlocked Secret Service (gnome-keyring, its files in a temp dir) and a
    // notification server (dunst) and a window manager (openbox), as a desktop has; then every test.
    let keyring_home = util::target_dir().join("test-session");
    let _ = std::fs::remove_dir_all(&keyring_home);
    std::fs::create_dir_all(&keyring_home)?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let script = format!(
        r#"set -e
eval "$(printf live-orders-tests | XDG_DATA_HOME="$KEYRING_HOME" gnome-keyring-daemon --unlock --components=secrets)"
export GNOME_KEYRING_CONTROL
dunst >/dev/null 2>&1 & dunst_pid=$!
openbox >/dev/null 2>&1 & wm_pid=$!
trap 'kill $dunst_pid $wm_pid 2>/dev/null || true' EXIT
"{cargo}" test --workspace --locked --no-fail-fast"#
    );
    let mut cmd = Command::new("dbus-run-session");
    cmd.current_dir(util::project_root()).args(["--", "sh", "-c", &script]).env("KEYRING_HOME", &keyring_home);
    if let Some(x) = &_xvfb {
        cmd.env("DISPLAY", &x.display);
    }
    stages.run("tests", || util::run_bounded(&mut cmd, TESTS_LIMIT))?;
    stages.run("platforms", crate::platforms::run)?;
    stages.report();
    eprintln!("xtask test: all checks passed in {:.0?}", stages.started.elapsed());
    Ok(())
}

/// A private X server for the end-to-end tests (and `bench app`); stopped when dropped.
pub struct Xvfb {
    child: Child,
    pub display: String,
}

impl Xvfb {
    pub fn start() -> Result<Xvfb> {
        if !have("Xvfb") {
            bail!("Xvfb is missing: run `cargo xtask setup`");
        }
        let n = (90..200)
            .find(|n| {
                !PathBuf::from(format!("/tmp/.X11-unix/X{n}")).exists()
                    && !PathBuf::from(format!("/tmp/.X{n}-lock")).exists()
            })
            .context("no free X display number between :90 and :199")?;
        let display = format!(":{n}");
        let child = Command::new("Xvfb")
            .args([&display, "-screen", "0", "1280x900x24", "-nolisten", "tcp"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting Xvfb")?;
        let socket = PathBuf::from(format!("/tmp/.X11-unix/X{n}"));
        let deadline = Instant::now() + Duration::from_secs(15);
        while !socket.exists() {
            if Instant::now() > deadline {
                bail!("Xvfb did not come up on {display} within 15 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        eprintln!("xtask: no DISPLAY, the app runs under Xvfb {display}");
        Ok(Xvfb { child, display })
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
