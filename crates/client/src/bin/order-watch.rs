//! `order-watch`: tails a backend's order updates through the same engine the app uses.
//!
//! `order-watch --api-url URL --email EMAIL [--order ID]... [--json] [--data-dir DIR] [--insecure]`. The
//! password comes from `LIVE_ORDERS_PASSWORD`, or a prompt on a terminal; it is never an argument (arguments
//! show in `ps`). With `--json` every change applied to the state is one JSON object per line (the tests read
//! these); without it, readable lines with times. Plain `http://` to another machine is refused unless
//! `--insecure` allows it. Exit codes: 0 on Ctrl-C, 2 when the credentials or the session are refused, 1 with a
//! message on any other error.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context};
use chrono::{Local, SecondsFormat, Utc};
use clap::Parser;
use order_client::{ApiError, ClientEvent, Engine, EngineConfig, EngineError, MemoryTokenStore};
use order_protocol::{LinkState, Patch};
use serde_json::{json, Value};

#[derive(Parser, Debug)]
#[command(name = "order-watch", version, about = "Follow a Live Orders backend's updates from the terminal")]
struct Args {
    /// The backend, with or without `/api` (default: LIVE_ORDERS_API_URL, else http://127.0.0.1:5001/api).
    #[arg(long)]
    api_url: Option<String>,
    /// The account to log in with; the password comes from LIVE_ORDERS_PASSWORD or a prompt.
    #[arg(long)]
    email: String,
    /// Also join this order's room (repeatable).
    #[arg(long = "order")]
    orders: Vec<String>,
    /// One JSON object per line.
    #[arg(long)]
    json: bool,
    /// Keep a cache here, so a restart shows the last known state at once.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Allow a plain http:// backend on another machine: the password and the session token then cross the
    /// network unencrypted.
    #[arg(long)]
    insecure: bool,
}

enum Exit {
    Refused(String),
    Failed(anyhow::Error),
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(order_client::logging::filter("order_client=warn"))
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("order-watch: cannot start: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Exit::Refused(why)) => {
            eprintln!("order-watch: {why}");
            ExitCode::from(2)
        }
        Err(Exit::Failed(e)) => {
            eprintln!("order-watch: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn password() -> anyhow::Result<String> {
    if let Ok(p) = std::env::var("LIVE_ORDERS_PASSWORD") {
        return Ok(p);
    }
    if !std::io::stdin().is_terminal() {
        bail!("no password: set LIVE_ORDERS_PASSWORD (stdin is not a terminal to ask on)");
    }
    eprint!("Password: ");
    std::io::stderr().flush().ok();
    // No echo while typing; `stty` is on every system with a terminal worth prompting on.
    let echo_off = std::process::Command::new("stty").arg("-echo").status().map(|s| s.success()).unwrap_or(false);
    let mut line = String::new();
    let read = std::io::stdin().lock().read_line(&mut line);
    if echo_off {
        let _ = std::process::Command::new("stty").arg("echo").status();
    }
    eprintln!();
    read.context("reading the password")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

async fn run(args: Args) -> Result<(), Exit> {
    let api_url = order_client::resolve_api_url(args.api_url.as_deref());
    let password = password().map_err(Exit::Failed)?;
    let mut config = EngineConfig::new(&api_url);
    config.data_dir = args.data_dir.clone();
    config.allow_cleartext = args.insecure;
    if args.insecure && order_client::is_cleartext_remote(&api_url) {
        eprintln!("order-watch: warning: {api_url} is plain http:// on another machine; your password and session cross the network unencrypted");
    }
    let (engine, mut events) = Engine::start(config, Arc::new(MemoryTokenStore::default()));
    match engine.login(&args.email, &password).await {
        Ok(_) => {}
        Err(EngineError::Api(ApiError::Unauthorized(m))) => return Err(Exit::Refused(format!("login refused: {m}"))),
        Err(e) => return Err(Exit::Failed(anyhow::Error::new(e).context(format!("logging in to {api_url}")))),
    }
    drop(password);
    for id in &args.orders {
        engine.watch(id.clone()).map_err(|e| Exit::Failed(e.into()))?;
    }
    let mut out = std::io::stdout().lock();
    let mut was_live = false;
    // One listener for the whole run: a `ctrl_c()` made anew on each turn of the loop misses a Ctrl-C that
    // arrives while an event is being printed, and the watch never ends.
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    loop {
        tokio::select! {
            _ = &mut interrupted => {
                engine.shutdown().await;
                return Ok(());
            }
            ev = events.recv() => {
                let Some(ev) = ev else { return Err(Exit::Failed(anyhow::anyhow!("the engine stopped"))) };
                if let ClientEvent::Update { patch: Patch::Link { link, .. }, .. } = &ev {
                    was_live |= link.is_live();
                    if matches!(link, LinkState::LoggedOut { .. }) && was_live {
                        print(&mut out, &ev, args.json);
                        engine.shutdown().await;
                        return Err(Exit::Refused("the server ended the session; log in again".into()));
                    }
                }
                print(&mut out, &ev, args.json);
            }
        }
    }
}

fn print(out: &mut impl Write, ev: &ClientEvent, as_json: bool) {
    let line = if as_json { line_json(ev).map(|v| v.to_string()) } else { line_text(ev) };
    if let Some(line) = line {
        // A closed pipe (`| head`) is not worth a panic.
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }
}

fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The `--json` line of an event; `None` for what is not a change worth a line.
pub fn line_json(ev: &ClientEvent) -> Option<Value> {
    let at = now();
    Some(match ev {
        ClientEvent::Update { patch, seq } => match patch {
            Patch::Order { order, source } => {
                let mut v = json!({"type": "order", "orderId": order.id, "orderNumber": order.order_number,
                    "status": order.status, "progress": order.progress, "source": source.as_str(), "at": at});
                if let Some(seq) = seq {
                    v["seq"] = json!(seq);
                }
                v
            }
            Patch::Delivery { order_id, delivery, source, .. } => json!({"type": "delivery", "orderId": order_id,
                "deliveryStatus": delivery.delivery_status, "estimatedDelivery": delivery.estimated_delivery,
                "driver": delivery.driver, "location": delivery.location, "source": source.as_str(), "at": at}),
            Patch::Notification { item, unread } => json!({"type": "notification", "id": item.id,
                "category": item.category, "title": item.title, "message": item.message, "orderId": item.order_id,
                "unread": unread, "at": at}),
            Patch::Stats { stats } => json!({"type": "stats", "total": stats.total, "active": stats.active,
                "delivered": stats.delivered, "cancelled": stats.cancelled, "at": at}),
            Patch::Link { link, .. } => link_json(link, &at),
            Patch::Inbox { inbox } => json!({"type": "inbox", "unread": inbox.unread, "at": at}),
            Patch::OrderRemoved { order_id } => json!({"type": "removed", "orderId": order_id, "at": at}),
            Patch::Reset { .. } | Patch::Watched { .. } | Patch::User { .. } => return None,
        },
        ClientEvent::Notify(_) => return None,
        ClientEvent::Warning(w) => json!({"type": "warning", "message": w, "at": at}),
    })
}

fn link_json(link: &LinkState, at: &str) -> Value {
    let retry_ms = |t: &Option<chrono::DateTime<Utc>>| t.map(|t| (t - Utc::now()).num_milliseconds().max(0));
    match link {
        LinkState::Connecting { attempt, next_retry_at, reason } => json!({"type": "link", "state": "connecting",
            "attempt": attempt, "nextRetryMs": retry_ms(next_retry_at), "reason": reason, "at": at}),
        LinkState::Live { .. } => json!({"type": "link", "state": "live", "at": at}),
        LinkState::Offline { reason, attempt, next_retry_at } => json!({"type": "link", "state": "offline",
            "reason": reason, "attempt": attempt, "nextRetryMs": retry_ms(next_retry_at), "at": at}),
        LinkState::LoggedOut { reason } => json!({"type": "link", "state": "logged_out", "reason": reason, "at": at}),
    }
}

fn line_text(ev: &ClientEvent) -> Option<String> {
    let t = Local::now().format("%H:%M:%S");
    Some(match ev {
        ClientEvent::Update { patch, seq } => match patch {
            Patch::Order { order, source } => {
                let seq = seq.map(|s| format!(" #{s}")).unwrap_or_default();
                format!(
                    "{t}  {}  {} ({}%)  [{}{seq}]",
                    order.order_number,
                    order.status_display,
                    order.progress,
                    source.as_str()
                )
            }
            Patch::Delivery { order_id, delivery, .. } => {
                let driver = delivery.driver.as_ref().map(|d| format!(", driver {}", d.name)).unwrap_or_default();
                let eta = delivery
                    .estimated_delivery
                    .map(|e| format!(", ETA {}", e.with_timezone(&Local).format("%H:%M")))
                    .unwrap_or_default();
                format!("{t}  delivery of {order_id}: {}{driver}{eta}", delivery.delivery_status.as_str())
            }
            Patch::Notification { item, unread } => format!("{t}  ✉ {} ({} unread)", item.title, unread),
            Patch::Stats { stats: s } => {
                format!(
                    "{t}  {} orders: {} active, {} delivered, {} cancelled",
                    s.total, s.active, s.delivered, s.cancelled
                )
            }
            Patch::Link { link, .. } => match link {
                LinkState::Connecting { attempt, .. } => format!("{t}  reconnecting (attempt {attempt})…"),
                LinkState::Live { .. } => format!("{t}  live"),
                LinkState::Offline { reason, .. } => format!("{t}  offline: {reason} (still retrying)"),
                LinkState::LoggedOut { .. } => format!("{t}  logged out"),
            },
            _ => return None,
        },
        ClientEvent::Notify(_) => return None,
        ClientEvent::Warning(w) => format!("{t}  warning: {w}"),
    })
}
