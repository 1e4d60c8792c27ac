//! The real app, end to end: `tauri-driver` (which drives WebKitWebDriver) launches the built `live-orders`
//! binary in the real webview; tests talk WebDriver to it through fantoccini, a keep-alive client (tauri-
//! driver's proxy drops requests of clients that open a connection per request).
//!
//! Each [`AppSession`] has its own tauri-driver on free ports and its own HOME and XDG dirs, so the app's
//! settings, cache and logs of one test never meet another's, nor the developer's.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result};
use fantoccini::{Client, ClientBuilder, Locator};

use crate::desktop;
use crate::procs::{free_port, project_root, target_dir, wait_for_port, workspace_binary, Proc, TempDir};

/// How long an element may take to appear: generous, the machine running CI may be busy.
pub const UI_TIMEOUT: Duration = Duration::from_secs(60);

/// One app at a time per test binary: windows of parallel tests would be confused by window-level tools
/// (xdotool), and two webviews at once only slow a 2-core machine down.
static ONE_APP: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The environment an app of these tests runs in: a home and XDG dirs of its own. No backend: as a customer
/// does, a test types its server into the sign-in form ([`AppSession::log_in`]), and the app keeps it in its
/// settings from then on.
pub fn app_env(home: &Path) -> Vec<(&'static str, std::ffi::OsString)> {
    vec![
        ("HOME", home.into()),
        ("XDG_CONFIG_HOME", home.join(".config").into()),
        ("XDG_DATA_HOME", home.join(".local/share").into()),
        ("XDG_CACHE_HOME", home.join(".cache").into()),
        ("XDG_STATE_HOME", home.join(".local/state").into()),
        ("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()).into()),
    ]
}

pub struct AppSession {
    pub client: Client,
    /// Declared before `home` so the driver (and the app) stop before the dir is removed.
    driver: Proc,
    pub home: TempDir,
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

impl AppSession {
    /// Launches the app in a fresh home with the given extra environment.
    pub async fn launch(env: &[(&str, &str)]) -> Result<AppSession> {
        let home = TempDir::new("app-home");
        Self::launch_in(home, env).await
    }

    /// Same, in a given home (to restart the app over the state an earlier session left).
    pub async fn launch_in(home: TempDir, env: &[(&str, &str)]) -> Result<AppSession> {
        Self::launch_binary(&workspace_binary("live-orders")?, home, env).await
    }

    /// Same, with command-line arguments (as the OS starts it for a `liveorders://` link).
    pub async fn launch_with_args(home: TempDir, args: &[&str]) -> Result<AppSession> {
        Self::launch_binary_with(&workspace_binary("live-orders")?, home, &[], args).await
    }

    /// Same with another Tauri binary (the benchmark's blank window).
    pub async fn launch_binary(app: &Path, home: TempDir, env: &[(&str, &str)]) -> Result<AppSession> {
        Self::launch_binary_with(app, home, env, &[]).await
    }

    async fn launch_binary_with(app: &Path, home: TempDir, env: &[(&str, &str)], args: &[&str]) -> Result<AppSession> {
        let turn = ONE_APP.lock().await;
        let (port, native_port) = (free_port(), free_port());
        let h = home.path();
        let mut cmd = Command::new("tauri-driver");
        cmd.args(["--port", &port.to_string(), "--native-port", &native_port.to_string()]).envs(app_env(h));
        for (k, v) in env {
            cmd.env(k, v);
        }
        let driver =
            Proc::spawn("tauri-driver", &mut cmd).context("tauri-driver is missing: run `cargo xtask setup`")?;
        wait_for_port(SocketAddr::from(([127, 0, 0, 1], port)), Duration::from_secs(30))?;

        let mut caps = serde_json::Map::new();
        caps.insert("tauri:options".into(), serde_json::json!({ "application": app, "args": args }));
        caps.insert("browserName".into(), "wry".into());
        // tauri-driver listens before its WebKitWebDriver does: on a cold machine the first session request can
        // find nobody behind it ("client error (Connect)"), so a refused session is tried again for a while.
        let mut tries = 0;
        let client = loop {
            match ClientBuilder::native().capabilities(caps.clone()).connect(&format!("http://127.0.0.1:{port}")).await
            {
                Ok(client) => break client,
                Err(_) if tries < 10 => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(e) => return Err(e).context("opening a WebDriver session on the app"),
            }
        };
        Ok(AppSession { client, driver, home, _turn: turn })
    }

    /// The pid of this session's tauri-driver (the app runs below it: tauri-driver, WebKitWebDriver, app).
    pub fn driver_pid(&self) -> u32 {
        self.driver.pid()
    }

    /// The text of the first element matching `css`, once it exists.
    pub async fn text_of(&self, css: &str) -> Result<String> {
        Ok(self.wait_for(css).await?.text().await?)
    }

    /// Waits for an element matching `css`. When none comes, the error says what the window showed instead
    /// (its route and text), and a screenshot is saved as `target/e2e/missing-element.png`.
    pub async fn wait_for(&self, css: &str) -> Result<fantoccini::elements::Element> {
        match self.client.wait().at_most(UI_TIMEOUT).for_element(Locator::Css(css)).await {
            Ok(el) => Ok(el),
            Err(e) => {
                let shown = self.what_is_shown().await;
                Err(anyhow::Error::new(e).context(format!("no element `{css}` within {UI_TIMEOUT:?}; {shown}")))
            }
        }
    }

    /// The window's route and the start of its text, for an error message (and a screenshot, best effort).
    async fn what_is_shown(&self) -> String {
        let _ = self.screenshot("missing-element").await;
        let script = "return location.hash + ' | ' + document.body.innerText.replace(/\\s+/g, ' ').slice(0, 600);";
        match self.client.execute(script, vec![]).await {
            Ok(serde_json::Value::String(s)) => format!("the window shows: {s}"),
            Ok(other) => format!("the window shows: {other}"),
            Err(e) => format!("the window could not be read: {e}"),
        }
    }

    /// Types into the input matching `css`.
    pub async fn fill(&self, css: &str, text: &str) -> Result<()> {
        let el = self.wait_for(css).await?;
        el.clear().await?;
        el.send_keys(text).await?;
        Ok(())
    }

    pub async fn click(&self, css: &str) -> Result<()> {
        self.wait_for(css).await?.click().await?;
        Ok(())
    }

    /// An attribute of the first element matching `css`, once it exists.
    pub async fn attr(&self, css: &str, name: &str) -> Result<Option<String>> {
        Ok(self.wait_for(css).await?.attr(name).await?)
    }

    /// Signs in through the login form as a customer does: opens "Server", types the server's address, then
    /// the email and password, and presses Sign in.
    pub async fn log_in(&self, server: &str, email: &str, password: &str) -> Result<()> {
        let details = self.wait_for("section.login details").await?;
        if details.attr("open").await?.is_none() {
            self.click("section.login details summary").await?;
        }
        self.fill("input[name=server]", server).await?;
        self.fill("input[name=email]", email).await?;
        self.fill("input[name=password]", password).await?;
        self.click("button[type=submit]").await
    }

    /// The ids of the orders the orders page lists (it opens it). The page draws a customer's orders at once,
    /// from one state, so the first row means all of them are there.
    pub async fn listed_order_ids(&self) -> Result<std::collections::BTreeSet<String>> {
        self.click("header nav a[href='#/orders']").await?;
        self.wait_for("#orders-title").await?;
        self.wait_for(".order-row[data-order-id]").await?;
        let mut ids = std::collections::BTreeSet::new();
        for row in self.client.find_all(Locator::Css(".order-row[data-order-id]")).await? {
            ids.extend(row.attr("data-order-id").await?);
        }
        Ok(ids)
    }

    /// Reloads the page and waits until the new one is loaded. A WebDriver command sent while the old page is
    /// unloading fails ("Callback was not called before the unload event"), so the reload is scheduled after
    /// this command returns and the new page is recognised by the missing marker the old one carried.
    pub async fn reload(&self) -> Result<()> {
        self.client.execute("window.__beforeReload = true; setTimeout(() => location.reload(), 0);", vec![]).await?;
        let deadline = std::time::Instant::now() + UI_TIMEOUT;
        loop {
            let fresh = self
                .client
                .execute("return window.__beforeReload !== true && document.readyState === 'complete';", vec![])
                .await;
            if matches!(fresh, Ok(serde_json::Value::Bool(true))) {
                return Ok(());
            }
            anyhow::ensure!(std::time::Instant::now() < deadline, "the page did not reload within {UI_TIMEOUT:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Resizes the window, as a user drags its edge.
    pub async fn resize(&self, width: u32, height: u32) -> Result<()> {
        self.client.set_window_size(width, height).await?;
        Ok(())
    }

    /// How the page is laid out now, as a finger on a small screen meets it.
    pub async fn layout(&self) -> Result<Layout> {
        let script = r#"
            const vw = window.innerWidth;
            const shown = el => { const r = el.getBoundingClientRect(); return r.width > 0 && r.height > 0; };
            const name = el => `${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''} "${el.textContent.trim().slice(0, 24)}"`;
            const controls = 'header a, header button, main button, main summary, main a[href^="tel:"], .order-row a, '
                + 'main input:not([type=checkbox]):not([type=radio]), main label.choice';
            const small = [...document.querySelectorAll(controls)].filter(shown).map(el => [el, el.getBoundingClientRect()])
                .filter(([, r]) => r.width < 44 || r.height < 44)
                .map(([el, r]) => `${name(el)} ${Math.round(r.width)}x${Math.round(r.height)}`);
            const nav = [...document.querySelectorAll('header nav a')].map(a => a.getBoundingClientRect());
            return {
                innerWidth: vw,
                scrollWidth: document.documentElement.scrollWidth,
                smallTargets: small,
                navReachable: nav.length > 0 && nav.every(r => r.width > 0 && r.left >= 0 && r.right <= vw + 0.5),
            };"#;
        Ok(serde_json::from_value(self.client.execute(script, vec![]).await?)?)
    }

    /// Saves a screenshot of the window under `target/e2e/<name>.png` and returns its path.
    ///
    /// The pixels come from the X server (ImageMagick's `import` on the app's window), as a user sees them.
    /// WebDriver's own screenshot never answered (the test hung) once WebKitGTK drew without compositing, as
    /// the app has it draw (`draw_in_software` in src-tauri/lib.rs).
    pub async fn screenshot(&self, name: &str) -> Result<PathBuf> {
        let dir = target_dir().join("e2e");
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!("{name}.png"));
        let app = desktop::app_pid(self.driver_pid(), Duration::from_secs(10))?;
        let window = desktop::window_of(app, Duration::from_secs(10))?;
        let out = Command::new("import")
            .args(["-window", &window])
            .arg(&path)
            .output()
            .context("running ImageMagick's import (run `cargo xtask setup`)")?;
        anyhow::ensure!(out.status.success(), "import: {}", String::from_utf8_lossy(&out.stderr).trim());
        Ok(path)
    }

    /// Quits the app but keeps its home, to launch it again over the state it left.
    pub async fn quit_keeping_home(self) -> Result<TempDir> {
        let AppSession { client, mut driver, home, _turn } = self;
        client.close().await?;
        driver.stop();
        Ok(home)
    }

    /// After the app quit by itself (its tray's Quit): waits for it to be gone, ends tauri-driver, and keeps
    /// the home for the next launch.
    pub async fn after_app_quit(self, app_pid: u32) -> Result<TempDir> {
        let AppSession { client, mut driver, home, _turn } = self;
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while Path::new(&format!("/proc/{app_pid}")).exists() {
            let zombie = std::fs::read_to_string(format!("/proc/{app_pid}/stat"))
                .is_ok_and(|s| s.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')));
            if zombie {
                break;
            }
            anyhow::ensure!(std::time::Instant::now() < deadline, "the app did not quit");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // The session's app is gone, so ending it may fail; that is expected.
        let _ = client.close().await;
        driver.stop();
        Ok(home)
    }

    /// Ends the WebDriver session (which closes the app), then tauri-driver.
    pub async fn close(mut self) -> Result<()> {
        let result = self.client.clone().close().await;
        self.driver.stop();
        result.map_err(Into::into)
    }
}

/// The layout of the page, as [`AppSession::layout`] reads it.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Layout {
    /// The width of the page's viewport, in CSS px.
    pub inner_width: u32,
    /// The width of the whole page: wider than the viewport means sideways scrolling.
    pub scroll_width: u32,
    /// Controls smaller than 44×44 px, the least a finger hits reliably: what and how big.
    pub small_targets: Vec<String>,
    /// Every link of the navigation is on screen.
    pub nav_reachable: bool,
}

/// Where the README's screenshots live.
pub fn docs_dir() -> PathBuf {
    project_root().join("docs")
}
