//! Child processes for tests: started in their own process group and ended (group and all) on drop, so a
//! failing test leaves nothing running.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

/// The workspace root.
pub fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ is one level below the root").to_owned()
}

/// The target dir the binaries under test were built into.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| project_root().join("target"))
}

/// A binary of this workspace, built by `cargo xtask test` (or `cargo build -p <package>`) before the tests:
/// the `debug` one, or that of the profile `LIVE_ORDERS_PROFILE` names (`cargo xtask bench app` uses `release`).
pub fn workspace_binary(name: &str) -> Result<PathBuf> {
    let profile = std::env::var("LIVE_ORDERS_PROFILE").unwrap_or_else(|_| "debug".into());
    let path = target_dir().join(&profile).join(name);
    if !path.exists() {
        bail!(
            "{} is not built: run `cargo xtask test` (or `cargo build --profile {profile} -p {name}`)",
            path.display()
        );
    }
    Ok(path)
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("binding port 0")
}

/// Waits until something accepts TCP connections on `addr`.
pub fn wait_for_port(addr: SocketAddr, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        if Instant::now() > deadline {
            bail!("nothing listened on {addr} within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// A running child process; it and its process group are ended on drop.
pub struct Proc {
    pub name: String,
    child: Child,
    lines: Option<mpsc::Receiver<String>>,
}

impl Proc {
    /// Starts `cmd` in a process group of its own, with stdout captured line by line.
    pub fn spawn(name: &str, cmd: &mut Command) -> Result<Proc> {
        use std::os::unix::process::CommandExt;
        cmd.process_group(0).stdout(Stdio::piped()).stdin(Stdio::null());
        let mut child = cmd.spawn().with_context(|| format!("starting {name}"))?;
        let stdout = child.stdout.take().expect("piped");
        let (tx, rx) = mpsc::channel();
        let tag = name.to_owned();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                eprintln!("[{tag}] {line}");
                if tx.send(line).is_err() {
                    // Nobody reads any more; keep draining so the child never blocks on a full pipe.
                }
            }
        });
        Ok(Proc { name: name.to_owned(), child, lines: Some(rx) })
    }

    /// Waits for a stdout line containing `needle` and returns it.
    pub fn wait_for_line(&mut self, needle: &str, timeout: Duration) -> Result<String> {
        let rx = self.lines.as_ref().ok_or_else(|| anyhow!("{}: stdout not captured", self.name))?;
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return Ok(line),
                Ok(_) => continue,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    bail!("{}: no line with {needle:?} within {timeout:?}", self.name)
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = self.child.wait()?;
                    bail!("{} exited ({status}) before printing {needle:?}", self.name)
                }
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Ends the process group: SIGTERM, then SIGKILL if anything in it lingers. Returns once every process
    /// of the group is gone (an app that outlived its driver would hold its single-instance name).
    pub fn stop(&mut self) {
        let group = format!("-{}", self.child.id());
        let group_alive = || {
            Command::new("kill").args(["-0", "--", &group]).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
        };
        let _ = Command::new("kill").args(["-TERM", "--", &group]).stderr(Stdio::null()).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let _ = self.child.try_wait();
            if !group_alive() {
                break;
            }
            if Instant::now() > deadline {
                let _ = Command::new("kill").args(["-KILL", "--", &group]).stderr(Stdio::null()).status();
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.wait();
    }

    /// Kills the process at once (`kill -9`), as a crash would.
    pub fn kill_hard(&mut self) {
        let _ = Command::new("kill").args(["-KILL", "--", &format!("-{}", self.child.id())]).status();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A real `order-server` binary on a free loopback port with its database in `dir`.
pub struct OrderServer {
    pub proc: Proc,
    pub addr: SocketAddr,
    /// Where its `/metrics` listener is (a loopback port of its own).
    pub metrics_addr: SocketAddr,
    /// Its `--db`: a SQLite file path or a PostgreSQL URL.
    pub db: String,
}

impl OrderServer {
    /// Starts `order-server --seed` (plus `extra` arguments) with its data in `dir`.
    pub fn start(dir: &Path, extra: &[&str]) -> Result<OrderServer> {
        Self::start_at(dir, "127.0.0.1:0", extra)
    }

    /// Same, on a given address (to restart a server where its clients expect it).
    pub fn start_at(dir: &Path, addr: &str, extra: &[&str]) -> Result<OrderServer> {
        Self::start_on(&dir.join("orders.db").display().to_string(), addr, extra)
    }

    /// Same, on any database `--db` takes (a PostgreSQL URL needs `--jwt-secret-file` in `extra`).
    pub fn start_on(db: &str, addr: &str, extra: &[&str]) -> Result<OrderServer> {
        let mut cmd = Command::new(workspace_binary("order-server")?);
        cmd.args(["--seed", "--addr", addr, "--metrics-addr", "127.0.0.1:0", "--db", db])
            .args(extra)
            .env("RUST_LOG", "order_server=info");
        let mut proc = Proc::spawn("order-server", &mut cmd)?;
        let url_in = |line: &str| line.rsplit("http://").next().unwrap_or_default().trim().to_owned();
        let line = proc.wait_for_line("metrics on http://", Duration::from_secs(60))?;
        let metrics_addr =
            url_in(&line).trim_end_matches("/metrics").parse().context("order-server's metrics address")?;
        let line = proc.wait_for_line("listening on http://", Duration::from_secs(60))?;
        let addr = url_in(&line).parse().context("order-server's address")?;
        Ok(OrderServer { proc, addr, metrics_addr, db: db.to_owned() })
    }

    /// Acts as the store owner through the server's CLI on the same database (`order-server order …`);
    /// the running server emits the change as it tails the change log. Returns the CLI's output.
    pub fn store_owner(&self, args: &[&str]) -> Result<String> {
        let out = Command::new(workspace_binary("order-server")?)
            .arg("--db")
            .arg(&self.db)
            .arg("order")
            .args(args)
            .output()?;
        if !out.status.success() {
            bail!("order-server order {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    pub fn api_url(&self) -> String {
        format!("http://{}/api", self.addr)
    }

    /// `http://…/metrics` on the server's private metrics listener.
    pub fn metrics_url(&self) -> String {
        format!("http://{}/metrics", self.metrics_addr)
    }

    /// The ids of the orders `email` sees on this server, asked over REST as the app would.
    pub async fn order_ids_of(&self, email: &str, password: &str) -> Result<std::collections::BTreeSet<String>> {
        let http = reqwest::Client::new();
        let token = rest_login(&http, &self.api_url(), (email, password)).await?;
        let orders: Vec<serde_json::Value> = http
            .get(format!("{}/orders", self.api_url()))
            .bearer_auth(&token)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        Ok(orders.iter().filter_map(|o| o["_id"].as_str().map(str::to_owned)).collect())
    }
}

/// Signs in over REST (`POST {api}/auth/login`) and returns the token.
pub async fn rest_login(http: &reqwest::Client, api: &str, (email, password): (&str, &str)) -> Result<String> {
    let reply: serde_json::Value = http
        .post(format!("{api}/auth/login"))
        .json(&serde_json::json!({ "email": email, "password": password }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(reply["token"].as_str().context("a token in the login reply")?.to_owned())
}

/// Changes an order's delivery as its store owner does (`PATCH {api}/orders/{id}/delivery`, token `owner`).
pub async fn patch_delivery(
    http: &reqwest::Client,
    api: &str,
    owner: &str,
    order_id: &str,
    body: serde_json::Value,
) -> Result<()> {
    http.patch(format!("{api}/orders/{order_id}/delivery"))
        .bearer_auth(owner)
        .json(&body)
        .send()
        .await?
        .error_for_status()?;
    Ok(())
}

/// A fresh temporary directory named after what it is for (`live-orders-<label>-…`), removed on drop: the
/// tests' one kind of temporary directory, made by `tempfile`.
pub struct TempDir(tempfile::TempDir);

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        TempDir(tempfile::Builder::new().prefix(&format!("live-orders-{label}-")).tempdir().expect("a temp dir"))
    }
    pub fn path(&self) -> &Path {
        self.0.path()
    }
}
