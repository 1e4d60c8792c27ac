//! The desktop around the app, read the way a panel or a window manager reads it: the tray icon is a
//! StatusNotifierItem with a `com.canonical.dbusmenu` menu on the session bus (read and clicked with `gdbus`),
//! windows are X windows (read and moved with `xdotool` and `xprop`, under openbox).

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

/// The pids of `pid`'s descendants (children, grandchildren, ...).
fn descendants(pid: u32) -> Vec<u32> {
    let parents: Vec<(u32, u32)> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let child: u32 = e.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            // `pid (comm) state ppid ...`: comm may hold spaces, so read after its closing parenthesis.
            let ppid = stat.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse().ok()?;
            Some((child, ppid))
        })
        .collect();
    let mut found = vec![pid];
    let mut i = 0;
    while i < found.len() {
        let p = found[i];
        found.extend(parents.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
        i += 1;
    }
    found.remove(0);
    found
}

/// The pid of the `live-orders` process started below `ancestor` (tauri-driver → WebKitWebDriver → app).
pub fn app_pid(ancestor: u32, timeout: Duration) -> Result<u32> {
    let deadline = Instant::now() + timeout;
    loop {
        let app = descendants(ancestor)
            .into_iter()
            .find(|p| std::fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim() == "live-orders"));
        match app {
            Some(pid) => return Ok(pid),
            None if Instant::now() > deadline => bail!("no live-orders process below {ancestor}"),
            None => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

fn gdbus(args: &[&str]) -> Result<String> {
    let out = Command::new("gdbus").arg("call").arg("--session").args(args).output().context("running gdbus")?;
    if !out.status.success() {
        bail!("gdbus call {args:?}: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// The session bus connections a process holds (its unique names).
fn bus_names_of(pid: u32) -> Result<Vec<String>> {
    let bus = ["--dest", "org.freedesktop.DBus", "--object-path", "/org/freedesktop/DBus"];
    let names = gdbus(&[&bus[..], &["--method", "org.freedesktop.DBus.ListNames"]].concat())?;
    let mut mine = Vec::new();
    for name in names.split(['\'']).filter(|n| n.starts_with(':')) {
        let owner = gdbus(&[&bus[..], &["--method", "org.freedesktop.DBus.GetConnectionUnixProcessID", name]].concat());
        if owner.is_ok_and(|o| o.contains(&format!("uint32 {pid},"))) {
            mine.push(name.to_owned());
        }
    }
    Ok(mine)
}

/// The strings quoted in a GVariant text (`'...'`), in order.
fn quoted(text: &str) -> Vec<String> {
    text.split('\'').skip(1).step_by(2).map(str::to_owned).collect()
}

/// An app's tray icon as the panel sees it.
pub struct Tray {
    bus_name: String,
    item_path: String,
    menu_path: String,
}

/// One entry of the tray's menu.
#[derive(Debug, Clone, PartialEq)]
pub struct MenuEntry {
    pub id: i32,
    pub label: String,
}

impl Tray {
    /// Finds the StatusNotifierItem that process `pid` exports.
    pub fn of(pid: u32, timeout: Duration) -> Result<Tray> {
        let deadline = Instant::now() + timeout;
        loop {
            for name in bus_names_of(pid)? {
                let out = Command::new("gdbus")
                    .args(["introspect", "--session", "--dest", &name, "--object-path", "/", "--recurse"])
                    .output()?;
                let text = String::from_utf8_lossy(&out.stdout);
                // `node /path {` followed by `interface org.kde.StatusNotifierItem {`.
                let mut node = None;
                for line in text.lines().map(str::trim) {
                    if let Some(path) = line.strip_prefix("node ").and_then(|l| l.strip_suffix(" {")) {
                        node = Some(path.to_owned());
                    } else if line.starts_with("interface org.kde.StatusNotifierItem ") {
                        let item_path = node.clone().ok_or_else(|| anyhow!("an interface outside a node"))?;
                        let mut tray = Tray { bus_name: name.clone(), item_path, menu_path: String::new() };
                        let menu = tray.property("Menu")?;
                        tray.menu_path =
                            menu.split('\'').nth(1).ok_or_else(|| anyhow!("no menu path in {menu}"))?.to_owned();
                        return Ok(tray);
                    }
                }
            }
            if Instant::now() > deadline {
                bail!("process {pid} exports no StatusNotifierItem on the session bus");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// A property of the item, as GVariant text (e.g. `(<'3'>,)`).
    pub fn property(&self, name: &str) -> Result<String> {
        gdbus(&[
            "--dest",
            &self.bus_name,
            "--object-path",
            &self.item_path,
            "--method",
            "org.freedesktop.DBus.Properties.Get",
            "org.kde.StatusNotifierItem",
            name,
        ])
    }

    /// The text beside the icon (libappindicator's label; Linux trays show no tooltips).
    pub fn label(&self) -> Result<String> {
        Ok(quoted(&self.property("XAyatanaLabel")?).into_iter().next().unwrap_or_default())
    }

    /// The menu's entries, top to bottom.
    pub fn menu(&self) -> Result<Vec<MenuEntry>> {
        let layout = gdbus(&[
            "--dest",
            &self.bus_name,
            "--object-path",
            &self.menu_path,
            "--method",
            "com.canonical.dbusmenu.GetLayout",
            // `--`: gdbus would read `-1` as an option.
            "--",
            "0",
            "-1",
            "['label']",
        ])?;
        // Each child is `<(ID, {'label': <'TEXT'>}, [])>`.
        let entries = layout
            .split("<(")
            .skip(1)
            .filter_map(|child| {
                let id = child.split(',').next()?.trim().parse().ok()?;
                let label = child.split("'label': <'").nth(1)?.split('\'').next()?.to_owned();
                Some(MenuEntry { id, label })
            })
            .collect();
        Ok(entries)
    }

    /// Clicks the menu entry with this label, as the panel does.
    pub fn click(&self, label: &str) -> Result<()> {
        let entry =
            self.menu()?.into_iter().find(|e| e.label == label).ok_or_else(|| anyhow!("no menu entry {label:?}"))?;
        gdbus(&[
            "--dest",
            &self.bus_name,
            "--object-path",
            &self.menu_path,
            "--method",
            "com.canonical.dbusmenu.Event",
            "--",
            &entry.id.to_string(),
            "clicked",
            "<0>",
            "0",
        ])?;
        Ok(())
    }
}

fn xdotool(args: &[&str]) -> Result<String> {
    let out = Command::new("xdotool").args(args).output().context("running xdotool")?;
    if !out.status.success() {
        bail!("xdotool {args:?}: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// The X windows titled exactly `title` that are mapped (shown, even if minimized).
pub fn windows_titled(title: &str) -> Vec<String> {
    xdotool(&["search", "--onlyvisible", "--name", &format!("^{title}$")])
        .map(|out| out.lines().map(str::to_owned).collect())
        .unwrap_or_default()
}

/// Waits for the shown window of process `pid` (`_NET_WM_PID`).
pub fn window_of(pid: u32, timeout: Duration) -> Result<String> {
    let deadline = Instant::now() + timeout;
    loop {
        let found = xdotool(&["search", "--onlyvisible", "--pid", &pid.to_string()]).unwrap_or_default();
        if let Some(w) = found.lines().next() {
            return Ok(w.to_owned());
        }
        if Instant::now() > deadline {
            bail!("no window of process {pid}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits for the one window titled `title`.
pub fn window_titled(title: &str, timeout: Duration) -> Result<String> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(w) = windows_titled(title).into_iter().next() {
            return Ok(w);
        }
        if Instant::now() > deadline {
            bail!("no window titled {title:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Whether the window manager has the window minimized (`_NET_WM_STATE_HIDDEN`).
pub fn is_minimized(window: &str) -> Result<bool> {
    let out = Command::new("xprop").args(["-id", window, "_NET_WM_STATE"]).output()?;
    Ok(String::from_utf8_lossy(&out.stdout).contains("_NET_WM_STATE_HIDDEN"))
}

pub fn minimize(window: &str) -> Result<()> {
    xdotool(&["windowminimize", window]).map(drop)
}

/// The window's position and size, as the window manager placed it: `(x, y, width, height)`.
pub fn geometry(window: &str) -> Result<(i32, i32, u32, u32)> {
    let out = xdotool(&["getwindowgeometry", "--shell", window])?;
    let field = |k: &str| -> Result<i64> {
        out.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| anyhow!("no {k} in {out}"))
    };
    Ok((field("X")? as i32, field("Y")? as i32, field("WIDTH")? as u32, field("HEIGHT")? as u32))
}

/// Moves and resizes the window as a user dragging it would.
pub fn place(window: &str, x: i32, y: i32, width: u32, height: u32) -> Result<()> {
    xdotool(&["windowsize", window, &width.to_string(), &height.to_string()])?;
    xdotool(&["windowmove", window, &x.to_string(), &y.to_string()])?;
    Ok(())
}
