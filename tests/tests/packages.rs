//! The packages a Linux customer installs, unpacked and read as their system would: the .deb and the .rpm
//! that `cargo xtask bundle` makes (here of the debug build, made by `cargo xtask test` before the tests).
//! Each holds the binary, a desktop entry that opens `liveorders://` links with it, and its icons at the
//! sizes their folders claim; each declares what the binary needs to run: every library it links resolves on
//! this machine to a package that the .deb's dependencies bring in.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, ensure, Context, Result};
use live_orders_tests::procs::{target_dir, TempDir};

/// The tray's library is loaded at run time (`dlopen`), so neither `ldd` nor rpm's automatic requirements see
/// it: without it the app has no tray icon, and nothing to click once its window is closed to the tray.
const TRAY_LIBRARY: &str = "libayatana-appindicator3.so.1";
const TRAY_DEB: &str = "libayatana-appindicator3-1";
const TRAY_RPM: &str = "libayatana-appindicator-gtk3";

/// The one package of this kind under `target/debug/bundle/<kind>`.
fn package(kind: &str) -> Result<PathBuf> {
    let dir = target_dir().join("debug/bundle").join(kind);
    let found: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| {
            format!("no {} (run `cargo xtask bundle --debug`, as `cargo xtask test` does)", dir.display())
        })?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == kind))
        .collect();
    match found.as_slice() {
        [one] => Ok(one.clone()),
        other => bail!("expected one .{kind} in {}, found {other:?}", dir.display()),
    }
}

fn run(cmd: &mut Command) -> Result<String> {
    let out = cmd.output().with_context(|| format!("running {cmd:?} (run `cargo xtask setup`)"))?;
    ensure!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A PNG's width and height, from its header.
fn png_size(path: &Path) -> Result<(u32, u32)> {
    let bytes = std::fs::read(path)?;
    ensure!(bytes.len() > 24 && &bytes[..8] == b"\x89PNG\r\n\x1a\n", "{} is not a PNG", path.display());
    let be = |i: usize| u32::from_be_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    Ok((be(16), be(20)))
}

/// What both packages must hold, checked in the unpacked tree.
fn check_tree(root: &Path, what: &str) -> Result<()> {
    let binary = root.join("usr/bin/live-orders");
    ensure!(binary.is_file(), "{what}: no usr/bin/live-orders");
    use std::os::unix::fs::PermissionsExt;
    ensure!(std::fs::metadata(&binary)?.permissions().mode() & 0o111 != 0, "{what}: the binary is not executable");

    let apps = root.join("usr/share/applications");
    let entries: Vec<PathBuf> = std::fs::read_dir(&apps)
        .with_context(|| format!("{what}: no usr/share/applications"))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "desktop"))
        .collect();
    ensure!(entries.len() == 1, "{what}: desktop entries {entries:?}");
    let entry = std::fs::read_to_string(&entries[0])?;
    let field = |key: &str| entry.lines().find_map(|l| l.strip_prefix(&format!("{key}="))).map(str::to_owned);
    ensure!(field("Name").as_deref() == Some("Live Orders"), "{what}: Name in {entry}");
    ensure!(field("Type").as_deref() == Some("Application"), "{what}: Type in {entry}");
    let exec = field("Exec").context("no Exec")?;
    ensure!(exec.starts_with("live-orders") && exec.contains("%u"), "{what}: Exec must hand the link over: {exec}");
    let mime = field("MimeType").context("no MimeType: links would not open the app")?;
    ensure!(mime.split(';').any(|m| m == "x-scheme-handler/liveorders"), "{what}: MimeType {mime}");
    ensure!(entry.contains("MimeType=") && mime.ends_with(';'), "{what}: a MimeType list ends with `;`: {mime}");
    let icon = field("Icon").context("no Icon")?;

    let mut sizes = BTreeSet::new();
    let hicolor = root.join("usr/share/icons/hicolor");
    for dir in std::fs::read_dir(&hicolor).with_context(|| format!("{what}: no icons"))?.flatten() {
        let name = dir.file_name().to_string_lossy().into_owned();
        let png = dir.path().join(format!("apps/{icon}.png"));
        let (w, h) = png_size(&png).with_context(|| format!("{what}: {}", png.display()))?;
        let (dims, scale) =
            name.split_once('@').map_or((name.as_str(), 1), |(d, s)| (d, s.trim_end_matches('x').parse().unwrap_or(1)));
        let claimed: u32 = dims.split('x').next().and_then(|n| n.parse().ok()).context("a size folder")?;
        ensure!((w, h) == (claimed * scale, claimed * scale), "{what}: {name} holds a {w}x{h} icon");
        sizes.insert(name);
    }
    for wanted in ["32x32", "64x64", "128x128", "512x512"] {
        ensure!(sizes.contains(wanted), "{what}: no {wanted} icon among {sizes:?}");
    }
    Ok(())
}

/// Every installed package with what it depends on (names only).
fn installed_dependencies() -> Result<BTreeMap<String, Vec<String>>> {
    let text = run(Command::new("dpkg-query").args(["-W", "-f", "${Package}\t${Pre-Depends}, ${Depends}\n"]))?;
    Ok(text.lines().filter_map(|l| l.split_once('\t')).map(|(name, deps)| (name.to_owned(), names(deps))).collect())
}

/// The package names of a Depends field (alternatives all count; versions and architectures dropped).
fn names(field: &str) -> Vec<String> {
    field
        .split([',', '|'])
        .filter_map(|d| d.split_whitespace().next())
        .map(|n| n.split(':').next().unwrap_or(n).to_owned())
        .filter(|n| !n.is_empty())
        .collect()
}

#[test]
fn the_deb_installs_the_app_its_link_handler_its_icons_and_all_it_needs() -> Result<()> {
    let deb = package("deb")?;
    let field =
        |name: &str| run(Command::new("dpkg-deb").args(["-f"]).arg(&deb).arg(name)).map(|s| s.trim().to_owned());
    ensure!(field("Package")? == "live-orders", "Package");
    ensure!(field("Version")? == "0.1.0", "Version");
    let depends = field("Depends")?;
    for needed in ["libwebkit2gtk-4.1-0", "libgtk-3-0", TRAY_DEB] {
        ensure!(names(&depends).iter().any(|n| n == needed), "Depends lacks {needed}: {depends}");
    }
    let tree = TempDir::new("deb-unpacked");
    run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(tree.path()))?;
    check_tree(tree.path(), "the .deb")?;

    // Every library the binary links resolves here, and to a package its Depends bring in.
    let binary = tree.path().join("usr/bin/live-orders");
    let names_tray = std::fs::read(&binary)?.windows(TRAY_LIBRARY.len()).any(|w| w == TRAY_LIBRARY.as_bytes());
    ensure!(names_tray, "the binary no longer loads {TRAY_LIBRARY}: revisit the tray's dependency");
    let ldd = run(Command::new("ldd").arg(&binary))?;
    ensure!(!ldd.contains("not found"), "unresolved libraries:\n{ldd}");
    let all = installed_dependencies()?;
    let mut brought = BTreeSet::new();
    let mut todo = names(&depends);
    while let Some(p) = todo.pop() {
        if brought.insert(p.clone()) {
            todo.extend(all.get(&p).cloned().unwrap_or_default());
        }
    }
    let essential = run(Command::new("dpkg-query").args(["-W", "-f", "${Package} ${Essential}\n"]))?;
    brought.extend(
        essential.lines().filter(|l| l.ends_with(" yes")).filter_map(|l| l.split(' ').next()).map(str::to_owned),
    );
    let mut missing = Vec::new();
    for lib in ldd.lines().filter_map(|l| l.split(" => ").nth(1)).filter_map(|r| r.split(" (").next()) {
        let lib = lib.trim();
        if lib.is_empty() {
            continue;
        }
        // /lib is /usr/lib on merged-/usr systems; dpkg knows one of the two.
        let owner = run(Command::new("dpkg").args(["-S", lib]))
            .or_else(|_| {
                let other = match lib.strip_prefix("/usr") {
                    Some(rest) => rest.to_owned(),
                    None => format!("/usr{lib}"),
                };
                run(Command::new("dpkg").args(["-S", &other]))
            })
            .with_context(|| format!("no package owns {lib}"))?;
        let pkg = owner.split(':').next().unwrap_or_default().trim().to_owned();
        if !brought.contains(&pkg) {
            missing.push(format!("{lib} ({pkg})"));
        }
    }
    ensure!(missing.is_empty(), "libraries the .deb's Depends ({depends}) do not bring: {missing:?}");
    eprintln!(
        "the .deb: {} ({:.1} MiB), Depends: {depends}",
        deb.display(),
        std::fs::metadata(&deb)?.len() as f64 / 1048576.0
    );
    Ok(())
}

#[test]
fn the_rpm_installs_the_app_its_link_handler_its_icons_and_names_what_it_needs() -> Result<()> {
    let rpm = package("rpm")?;
    let query = |what: &[&str]| run(Command::new("rpm").args(["-qp"]).args(what).arg(&rpm));
    ensure!(query(&["--queryformat", "%{NAME} %{VERSION}"])? == "live-orders 0.1.0", "name and version");
    let requires = query(&["--requires"])?;
    for needed in ["libwebkit2gtk-4.1.so.0", "libgtk-3.so.0", TRAY_RPM] {
        ensure!(requires.lines().any(|l| l.trim().starts_with(needed)), "Requires lacks {needed}:\n{requires}");
    }
    let tree = TempDir::new("rpm-unpacked");
    let unpacked = Command::new("sh")
        .current_dir(tree.path())
        .arg("-c")
        .arg(format!("rpm2cpio '{}' | cpio -idm --quiet", rpm.display()))
        .status()
        .context("rpm2cpio and cpio (run `cargo xtask setup`)")?;
    ensure!(unpacked.success(), "unpacking the .rpm");
    check_tree(tree.path(), "the .rpm")?;
    eprintln!("the .rpm: {} ({:.1} MiB)", rpm.display(), std::fs::metadata(&rpm)?.len() as f64 / 1048576.0);
    Ok(())
}
