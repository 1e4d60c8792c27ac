//! `cargo xtask bundle [--debug] [--sign [--key-file PATH] [--base-url URL] [--notes TEXT]]`: the installable
//! packages of this system (.deb and .rpm on Linux, .app and .dmg on macOS, an NSIS installer on Windows)
//! through Tauri's CLI (the npm package `cargo xtask setup` installs), with the size of each.
//!
//! `--sign` also makes the update artifacts: each package signed with the operator's private key (the file
//! `--key-file` names, else `TAURI_SIGNING_PRIVATE_KEY`, a path or the key itself; its password, if any, in
//! `TAURI_SIGNING_PRIVATE_KEY_PASSWORD`), each signature checked against the public key in tauri.conf.json
//! (a package the app would refuse is never published), and `latest.json`, the manifest the app's updater
//! reads, with the packages' URLs under `--base-url`. The private key is never in the repository.
//!
//! `--debug` packages the debug build that `cargo xtask test` has already made, for the package checks.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use base64::Engine as _;

use crate::build::{self, Profile};
use crate::util::{self, project_root, target_dir};

/// This system's package formats, as Tauri's CLI names them.
const BUNDLES: &str = if cfg!(target_os = "macos") {
    "app,dmg"
} else if cfg!(windows) {
    "nsis"
} else {
    "deb,rpm"
};

pub struct Signing {
    key: String,
    base_url: String,
    notes: Option<String>,
}

pub fn run(args: &[&str]) -> Result<()> {
    let value = |flag: &str| args.iter().position(|a| *a == flag).and_then(|i| args.get(i + 1)).map(|v| v.to_string());
    let profile = Profile::from_flag(!args.contains(&"--debug"));
    let signing = if args.contains(&"--sign") {
        let key = match value("--key-file") {
            Some(path) => {
                std::fs::metadata(&path).with_context(|| format!("the private key file {path}"))?;
                path
            }
            None => std::env::var("TAURI_SIGNING_PRIVATE_KEY").map_err(|_| {
                anyhow::anyhow!(
                    "--sign needs the private key: --key-file PATH, or TAURI_SIGNING_PRIVATE_KEY (a path or the key). \
                     Make a pair with `cargo xtask tauri signer generate -w PATH` and put the public key in \
                     tauri.conf.json (plugins.updater.pubkey)."
                )
            })?,
        };
        let base_url = value("--base-url").unwrap_or_else(|| "https://updates.invalid/live-orders".into());
        Some(Signing { key, base_url, notes: value("--notes") })
    } else {
        None
    };
    crate::setup::run()?;
    if profile == Profile::Debug {
        // As `cargo xtask test` builds it (the features of the whole workspace), so the two share artifacts.
        build::ui(Profile::Debug)?;
        util::run(util::cargo().args(["build", "--workspace", "--all-targets"]))?;
    }
    let packages = packages(profile, signing.as_ref())?;
    for p in &packages {
        let len = std::fs::metadata(p)?.len();
        println!("{} ({:.2} MiB)", p.display(), len as f64 / 1048576.0);
    }
    if let Some(signing) = &signing {
        let manifest = manifest(&packages, signing)?;
        println!(
            "{} (the update manifest: publish it and the packages under {})",
            manifest.display(),
            signing.base_url
        );
    }
    Ok(())
}

/// Builds and packages the release build, or packages the debug build made before, and returns the packages.
pub fn packages(profile: Profile, signing: Option<&Signing>) -> Result<Vec<PathBuf>> {
    let mut cmd = crate::mobile::cli()?;
    match profile {
        // tauri.conf.json's beforeBuildCommand builds the UI in release first, and its `build.runner` adds
        // `-p live-orders` (the workspace's default members leave the app out of a plain `cargo build`).
        Profile::Release => cmd.args(["build", "--bundles", BUNDLES]),
        Profile::Debug => cmd.args(["bundle", "--debug", "--bundles", BUNDLES]),
    };
    if let Some(s) = signing {
        cmd.args(["--config", r#"{"bundle":{"createUpdaterArtifacts":true}}"#])
            .env("TAURI_SIGNING_PRIVATE_KEY", &s.key);
    } else {
        cmd.env_remove("TAURI_SIGNING_PRIVATE_KEY");
    }
    let dir = bundle_dir(profile);
    // Packages of an earlier version would be listed (and published) beside the new ones.
    let _ = std::fs::remove_dir_all(&dir);
    // The bundler writes the package type into the binary it packages (the updater reads it). The debug
    // binary is the one the tests run as a plain build, so it is put back as it was, times included, and cargo
    // does not see it changed.
    let binary = target_dir().join("debug").join(if cfg!(windows) { "live-orders.exe" } else { "live-orders" });
    let kept = match profile {
        Profile::Debug => Some(Kept::take(&binary)?),
        Profile::Release => None,
    };
    let bundled = util::run(&mut cmd);
    if let Some(kept) = kept {
        kept.restore()?;
    }
    bundled?;
    let mut found = Vec::new();
    for kind in BUNDLES.split(',') {
        let sub = dir.join(if kind == "app" { "macos" } else { kind });
        for e in std::fs::read_dir(&sub).with_context(|| format!("reading {}", sub.display()))?.flatten() {
            let p = e.path();
            let ext = p.extension().and_then(|e| e.to_str()).unwrap_or_default();
            if ["deb", "rpm", "dmg", "exe", "app"].contains(&ext) || (kind == "app" && ext == "gz") {
                found.push(p);
            }
        }
    }
    if found.is_empty() {
        bail!("Tauri's CLI made no package under {}", dir.display());
    }
    found.sort();
    Ok(found)
}

/// A file's bytes and modification time, to put back.
struct Kept {
    path: PathBuf,
    bytes: Vec<u8>,
    modified: std::time::SystemTime,
}

impl Kept {
    fn take(path: &Path) -> Result<Kept> {
        let bytes = std::fs::read(path).with_context(|| format!("{} (build it first)", path.display()))?;
        Ok(Kept { path: path.to_owned(), bytes, modified: std::fs::metadata(path)?.modified()? })
    }

    fn restore(self) -> Result<()> {
        std::fs::write(&self.path, &self.bytes)?;
        std::fs::File::options().write(true).open(&self.path)?.set_modified(self.modified)?;
        Ok(())
    }
}

pub fn bundle_dir(profile: Profile) -> PathBuf {
    target_dir().join(if profile == Profile::Release { "release" } else { "debug" }).join("bundle")
}

/// Checks each package's signature against the app's public key and writes `latest.json` beside them.
fn manifest(packages: &[PathBuf], signing: &Signing) -> Result<PathBuf> {
    let pubkey = app_public_key()?;
    let conf: serde_json::Value = serde_json::from_slice(&std::fs::read(project_root().join("tauri.conf.json"))?)?;
    let version = conf["version"].as_str().context("tauri.conf.json has no version")?;
    let mut platforms = serde_json::Map::new();
    for package in packages {
        let Some(target) = updater_target(package) else { continue };
        let sig_path = PathBuf::from(format!("{}.sig", package.display()));
        let signature = std::fs::read_to_string(&sig_path)
            .with_context(|| format!("{} has no signature {}", package.display(), sig_path.display()))?;
        verify(package, &signature, &pubkey)?;
        let name = package.file_name().and_then(|n| n.to_str()).context("a package name")?;
        let url = format!("{}/{name}", signing.base_url.trim_end_matches('/'));
        platforms.insert(target, serde_json::json!({ "signature": signature.trim(), "url": url }));
    }
    let manifest = serde_json::json!({
        "version": version,
        "notes": signing.notes.clone().unwrap_or_else(|| format!("Live Orders {version}")),
        "pub_date": now_rfc3339(),
        "platforms": platforms,
    });
    let path = packages[0].parent().and_then(Path::parent).context("the bundle dir")?.join("latest.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&manifest)?)?;
    Ok(path)
}

/// The manifest's key for a package: `{os}-{arch}-{installer}`, as the updater looks it up.
fn updater_target(package: &Path) -> Option<String> {
    let arch = std::env::consts::ARCH;
    let os = if cfg!(target_os = "macos") { "darwin" } else { std::env::consts::OS };
    let name = package.to_str()?;
    let installer = [(".deb", "deb"), (".rpm", "rpm"), (".app.tar.gz", "app"), ("-setup.exe", "nsis")]
        .iter()
        .find(|(suffix, _)| name.ends_with(suffix))?
        .1;
    Some(format!("{os}-{arch}-{installer}"))
}

/// The public key the app is built with (tauri.conf.json, `plugins.updater.pubkey`).
fn app_public_key() -> Result<minisign_verify::PublicKey> {
    let conf: serde_json::Value = serde_json::from_slice(&std::fs::read(project_root().join("tauri.conf.json"))?)?;
    let encoded = conf["plugins"]["updater"]["pubkey"].as_str().context("tauri.conf.json has no updater pubkey")?;
    let text = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(encoded)?)?;
    minisign_verify::PublicKey::decode(&text).map_err(|e| anyhow::anyhow!("tauri.conf.json's updater pubkey: {e}"))
}

fn verify(package: &Path, signature: &str, pubkey: &minisign_verify::PublicKey) -> Result<()> {
    let text = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(signature.trim())?)?;
    let sig = minisign_verify::Signature::decode(&text).map_err(|e| anyhow::anyhow!("{}: {e}", package.display()))?;
    pubkey.verify(&std::fs::read(package)?, &sig, false).map_err(|e| {
        anyhow::anyhow!(
            "{} is signed with a key other than the one in tauri.conf.json ({e}): the app would refuse it. Sign with \
             the private key of that public key, or put this key's public half in tauri.conf.json.",
            package.display()
        )
    })
}

/// Now as RFC 3339 (UTC), from the system clock, without a date crate.
fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's days-from-civil, inverted.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rest / 3600, rest % 3600 / 60, rest % 60)
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates_are_rfc3339() {
        let now = super::now_rfc3339();
        assert_eq!(now.len(), 20, "{now}");
        assert!(now.starts_with("20") && now.ends_with('Z') && now.as_bytes()[10] == b'T', "{now}");
    }
}
