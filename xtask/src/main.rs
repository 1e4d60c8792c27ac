//! `cargo xtask`: everything that is not a plain `cargo build`: set up a machine, build the wasm UI and the
//! app, run the app against the embedded backend, run every check, benchmarks, bundles and icons.
//!
//! Each command is one module. Commands print what they run, so a failure names the step that failed.

mod bench;
mod bench_app;
mod build;
mod bundle;
mod chaos;
mod fuzz;
mod icons;
mod mobile;
mod platforms;
mod run;
mod setup;
mod test;
#[cfg(test)]
mod tidy;
mod util;

use anyhow::{bail, Result};

const USAGE: &str = "\
usage: cargo xtask <command>

  setup               install what this machine lacks (apt packages, wasm toolchain, wasm-bindgen,
                      tauri-driver, npm packages of the test peers); seconds when all is there
  build [--release]   build the UI to wasm and the app; the last line printed is the app binary
  run [--release]     set up, build, start order-server --demo on 127.0.0.1:5001 and the app against it
  test                set up, then fmt, clippy, unit, integration and end-to-end tests (headless if needed),
                      and check-platforms
  check-platforms     check and lint the app for Android, iOS, Windows and macOS (what rustup installs here)
  tauri <args>        Tauri's CLI, pinned to the tauri in Cargo.lock (the phone projects' builds call it)
  mobile-init android|ios
                      generate gen/android (needs ANDROID_HOME and NDK_HOME) or gen/apple (needs macOS)
  bench [server [--abuse]|client|app|push]   run the benchmarks and print their tables (--abuse: under attack)
  chaos [--cycles N] [--seed S] [--backend order-server|node]
                      the seeded chaos soak (200 cycles per backend by default); one `chaos:` line each
  fuzz [--cases N]    order-server's bad-input properties (REST, tokens, raw socket frames), 5,000 cases each
  bundle [--debug] [--sign [--key-file PATH] [--base-url URL] [--notes TEXT]]
                      this system's packages (.deb and .rpm on Linux) with their sizes; --sign also signs
                      them for the updater and writes latest.json (the private key never in the repository)
  icons               regenerate icons/ from icons/source.png
";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rest: Vec<&str> = args.iter().skip(1).map(String::as_str).collect();
    let release = rest.contains(&"--release");
    match args.first().map(String::as_str) {
        Some("setup") => setup::run(),
        Some("build") => {
            setup::run()?;
            let bin = build::all(build::Profile::from_flag(release))?;
            println!("{}", bin.display());
            Ok(())
        }
        Some("build-ui") => build::ui(build::Profile::from_flag(release)),
        Some("run") => run::run(build::Profile::from_flag(release)),
        Some("test") => test::run(),
        Some("check-platforms") => platforms::run(),
        Some("tauri") => mobile::tauri(&rest),
        Some("mobile-init") => mobile::init(&rest),
        Some("bench") => bench::run(&rest),
        Some("chaos") => chaos::run(&rest),
        Some("fuzz") => fuzz::run(&rest),
        Some("bundle") => bundle::run(&rest),
        Some("icons") => icons::run(),
        Some("help" | "--help" | "-h") | None => {
            print!("{USAGE}");
            Ok(())
        }
        Some(other) => bail!("unknown command `{other}`\n\n{USAGE}"),
    }
}
