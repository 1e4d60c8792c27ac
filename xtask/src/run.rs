//! `cargo xtask run`: the app against the embedded backend, for a newcomer's first look.
//!
//! Starts `order-server --demo` on 127.0.0.1:5001 (its data under the user's data dir) and the app pointed
//! at it; Ctrl-C, or quitting the app (its tray menu), stops both.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use anyhow::{bail, Context, Result};

use crate::build::{self, Profile};
use crate::setup;

pub const DEMO_ADDR: &str = "127.0.0.1:5001";

pub fn run(profile: Profile) -> Result<()> {
    if std::env::var_os("DISPLAY").is_none() && std::env::var_os("WAYLAND_DISPLAY").is_none() {
        bail!("no display (neither DISPLAY nor WAYLAND_DISPLAY is set): run this in a desktop session; `cargo xtask test` runs headless");
    }
    setup::run()?;
    let app = build::all(profile)?;

    let mut server = Command::new(build::server_binary(profile))
        .args(["--demo", "--addr", DEMO_ADDR])
        .stdout(Stdio::piped())
        .spawn()
        .context("starting order-server")?;
    let stdout = server.stdout.take().expect("piped");
    let mut lines = BufReader::new(stdout).lines();
    let listening = lines.by_ref().map_while(Result::ok).find(|l| l.contains("listening on"));
    if listening.is_none() {
        let status = server.wait()?;
        bail!("order-server stopped before listening ({status}); is {DEMO_ADDR} already in use?");
    }
    // Keep draining the server's stdout so it never blocks on a full pipe.
    std::thread::spawn(move || lines.map_while(Result::ok).for_each(|l| println!("{l}")));
    println!("order-server --demo is up on http://{DEMO_ADDR}; sign in as alice@example.com / alice-pass");

    let app = Command::new(app)
        .env("LIVE_ORDERS_API_URL", format!("http://{DEMO_ADDR}/api"))
        .spawn()
        .context("starting the app")?;
    let children = Arc::new(Mutex::new(vec![server, app]));
    let on_ctrl_c = children.clone();
    ctrlc::set_handler(move || {
        stop_all(&mut on_ctrl_c.lock().expect("not poisoned"));
        println!("stopped the app and order-server");
        std::process::exit(0);
    })?;

    // Wait for the app to close, then stop the server.
    loop {
        std::thread::sleep(std::time::Duration::from_millis(200));
        let mut kids = children.lock().expect("not poisoned");
        if let Some(status) = kids[1].try_wait()? {
            stop_all(&mut kids);
            println!("app exited ({status}); order-server stopped");
            return Ok(());
        }
        if let Some(status) = kids[0].try_wait()? {
            stop_all(&mut kids);
            bail!("order-server exited ({status}); the app was stopped too");
        }
    }
}

fn stop_all(children: &mut [Child]) {
    for child in children.iter_mut() {
        let _ = child.kill();
        let _ = child.wait();
    }
}
