//! A throwaway PostgreSQL and an HAProxy for tests: each in a temp dir of its own, on its own loopback port,
//! stopped by PID on drop.
//!
//! PostgreSQL refuses to run as root, so as root its commands run as the `postgres` user (`setpriv`), in a
//! folder that user owns; its Unix socket is in that folder too, never in the system's `/var/run`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::procs::{free_port, wait_for_port, Proc, TempDir};

/// The folder of PostgreSQL's server programs: on `PATH`, else Debian's `/usr/lib/postgresql/<version>/bin`
/// (the newest).
fn pg_bin() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("PATH")
        .and_then(|p| std::env::split_paths(&p).find(|d| d.join("pg_ctl").exists() && d.join("initdb").exists()))
    {
        return Ok(std::fs::canonicalize(dir.join("pg_ctl"))?.parent().expect("a folder").to_owned());
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path().join("bin"))).filter(|b| b.join("pg_ctl").exists()).collect())
        .unwrap_or_default();
    versions.sort_by_key(|p| {
        p.parent().and_then(|v| v.file_name()).and_then(|v| v.to_str()).and_then(|v| v.parse::<u32>().ok())
    });
    versions.pop().context("PostgreSQL is not installed (initdb, pg_ctl): run `cargo xtask setup`")
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// A PostgreSQL server of its own: `initdb` in a temp dir, listening on 127.0.0.1 and a Unix socket there.
pub struct Postgres {
    dir: TempDir,
    bin: PathBuf,
    pub port: u16,
    running: bool,
}

impl Postgres {
    /// Makes a new cluster (about 1.5 s) and starts it.
    pub fn start() -> Result<Postgres> {
        let bin = pg_bin()?;
        let dir = TempDir::new("postgres");
        if is_root() {
            let status = Command::new("chown").args(["-R", "postgres:postgres"]).arg(dir.path()).status()?;
            if !status.success() {
                bail!("cannot give {} to the postgres user", dir.path().display());
            }
        }
        let mut pg = Postgres { dir, bin, port: free_port(), running: false };
        let data = pg.data();
        pg.run("initdb", |c| {
            c.arg("-D").arg(&data).args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]);
        })?;
        pg.start_again()?;
        Ok(pg)
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Runs one of PostgreSQL's programs (as `postgres` when this is root), failing with its output.
    fn run(&self, program: &str, args: impl FnOnce(&mut Command)) -> Result<()> {
        let mut cmd = if is_root() {
            let mut c = Command::new("setpriv");
            c.args(["--reuid=postgres", "--regid=postgres", "--clear-groups", "--reset-env"])
                .arg(self.bin.join(program));
            c
        } else {
            Command::new(self.bin.join(program))
        };
        args(&mut cmd);
        let out = cmd.stdin(Stdio::null()).output().with_context(|| format!("running {program}"))?;
        if !out.status.success() {
            bail!(
                "{program} failed ({}): {}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }

    /// Starts the server (again) on its port, and waits until it accepts connections.
    pub fn start_again(&mut self) -> Result<()> {
        let options = format!(
            // fsync off: a commit still reaches the OS before it is acknowledged, so a stopped (or killed)
            // server loses nothing; only a crash of the machine could. (`synchronous_commit=off` would
            // acknowledge commits a stop then loses: the restart test caught that.)
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let (data, log) = (self.data(), self.dir.path().join("server.log"));
        self.run("pg_ctl", |c| {
            c.arg("-D").arg(&data).args(["-o", &options, "-l"]).arg(&log).args(["-w", "-t", "60", "start"]);
        })?;
        self.running = true;
        wait_for_port(([127, 0, 0, 1], self.port).into(), Duration::from_secs(30))
    }

    /// Stops the server at once, as a crash would (`pg_ctl -m immediate`: recovery at the next start).
    pub fn stop_hard(&mut self) -> Result<()> {
        let data = self.data();
        self.running = false;
        self.run("pg_ctl", |c| {
            c.arg("-D").arg(&data).args(["-m", "immediate", "-w", "stop"]);
        })
    }

    /// The postmaster's PID, as its data folder records it.
    pub fn pid(&self) -> Option<u32> {
        std::fs::read_to_string(self.data().join("postmaster.pid")).ok()?.lines().next()?.trim().parse().ok()
    }

    /// Creates a database and returns its URL.
    pub fn create_db(&self, name: &str) -> Result<String> {
        let out = Command::new("psql")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", "postgres", "-d", "postgres", "-qc"])
            .arg(format!("CREATE DATABASE \"{name}\""))
            .stdin(Stdio::null())
            .output()
            .context("running psql")?;
        if !out.status.success() {
            bail!("CREATE DATABASE {name}: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(self.url(name))
    }

    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if self.running {
            if let Err(e) = self.stop_hard() {
                eprintln!("stopping the test PostgreSQL: {e:#}");
                if let Some(pid) = self.pid() {
                    let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
                }
            }
        }
    }
}

/// An HAProxy in front of `backends` (loopback ports), balancing round robin with health checks on
/// `/api/health` every 500 ms, as `docs/deploy/haproxy.cfg` does with its production timings.
pub struct Haproxy {
    pub proc: Proc,
    pub port: u16,
    _dir: TempDir,
}

impl Haproxy {
    pub fn start(backends: &[u16]) -> Result<Haproxy> {
        let dir = TempDir::new("haproxy");
        let port = free_port();
        let servers: String = backends
            .iter()
            .enumerate()
            .map(|(i, p)| format!("    server order{i} 127.0.0.1:{p} check inter 500ms fall 2 rise 2\n"))
            .collect();
        let config = format!(
            "global\n    maxconn 8192\n\ndefaults\n    mode http\n    retries 3\n    option redispatch\n    timeout connect 2s\n    timeout client 60s\n    \
             timeout server 60s\n    timeout tunnel 1h\n\nfrontend orders\n    bind 127.0.0.1:{port}\n    \
             option forwardfor\n    default_backend order_servers\n\nbackend order_servers\n    balance roundrobin\n    \
             option httpchk GET /api/health\n    http-check expect status 200\n{servers}"
        );
        let path = dir.path().join("haproxy.cfg");
        std::fs::write(&path, config)?;
        let haproxy = which("haproxy").context("haproxy is not installed: run `cargo xtask setup`")?;
        let check = Command::new(&haproxy).arg("-c").arg("-f").arg(&path).output()?;
        if !check.status.success() {
            bail!("haproxy refuses its config: {}", String::from_utf8_lossy(&check.stderr));
        }
        let proc = Proc::spawn("haproxy", Command::new(haproxy).arg("-db").arg("-f").arg(&path))?;
        wait_for_port(([127, 0, 0, 1], port).into(), Duration::from_secs(10))?;
        Ok(Haproxy { proc, port, _dir: dir })
    }

    /// `http://127.0.0.1:PORT/api`.
    pub fn api_url(&self) -> String {
        format!("http://127.0.0.1:{}/api", self.port)
    }
}

/// A program on `PATH` (or in `/usr/sbin`, where Debian puts haproxy).
fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).chain([PathBuf::from("/usr/sbin")]).map(|d| d.join(name)).find(|p| p.exists())
}
