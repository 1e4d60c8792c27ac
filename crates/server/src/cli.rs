//! The command line: run the server (the default), or act as the store owner on the same database file
//! (`order list`, `order set-status`, `order place`). The running server emits the CLI's changes because the
//! dispatcher tails the change log.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context as _};
use clap::{Args, Parser, Subcommand};
use order_protocol::{Address, DisconnectReason, Item, Role, Status};

use crate::store::{DbLocation, OrderInput, Store};
use crate::{default_db_path, spawn, ServerConfig};

#[derive(Parser, Debug)]
#[command(
    name = "order-server",
    version,
    about = "The Live Orders reference backend (REST + Socket.IO over SQLite or PostgreSQL)"
)]
pub struct Cli {
    /// Where the data lives: a SQLite file path (created on first start; the default), or a PostgreSQL URL
    /// (postgres://user:password@host:port/dbname) that several instances share. Also read from DATABASE_URL.
    /// Read as text and parsed by `DbLocation::parse`, whose refusal hides a password (clap's would quote it).
    #[arg(long, global = true, env = "ORDER_SERVER_DB", value_name = "PATH|URL")]
    pub db: Option<String>,
    #[command(flatten)]
    pub serve: ServeArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "ORDER_SERVER_ADDR", default_value = "127.0.0.1:5001")]
    pub addr: SocketAddr,
    /// Create the demo customers, store owner and orders if absent.
    #[arg(long, env = "ORDER_SERVER_SEED")]
    pub seed: bool,
    /// Seed, and move orders along by themselves.
    #[arg(long, env = "ORDER_SERVER_DEMO")]
    pub demo: bool,
    /// Seconds between two simulator steps in demo mode.
    #[arg(long, env = "ORDER_SERVER_DEMO_INTERVAL", default_value_t = 4.0)]
    pub demo_interval: f64,
    /// File holding the JWT secret. Without it the secret is taken from the environment variable
    /// ORDER_SERVER_JWT_SECRET, or else one is generated beside the database (mode 0600).
    #[arg(long, env = "ORDER_SERVER_JWT_SECRET_FILE")]
    pub jwt_secret_file: Option<PathBuf>,
    /// Allowed CORS origin (repeatable); `scheme://host:*` allows any port, `*` any origin.
    /// Default: the app's own origins and localhost.
    #[arg(long = "cors-origin", env = "ORDER_SERVER_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,
    /// A load balancer in front of this server (repeatable): a request from it is counted against the client
    /// its `X-Forwarded-For` names (the last entry, which it appended), so per-address limits hold per
    /// customer. Only addresses of your own proxies: anyone else's header is ignored.
    #[arg(long = "trusted-proxy", env = "ORDER_SERVER_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Days the change log stays replayable by `changes?since=`.
    #[arg(long, env = "ORDER_SERVER_RETENTION_DAYS", default_value_t = 7.0)]
    pub retention_days: f64,
    /// Serve `/metrics` on this address (keep it private: loopback or an internal network). Off unless given;
    /// never on the public address.
    #[arg(long, env = "ORDER_SERVER_METRICS_ADDR")]
    pub metrics_addr: Option<SocketAddr>,
    #[command(flatten)]
    pub limits: LimitArgs,
    #[command(flatten)]
    pub push: PushArgs,
}

/// Push to the devices of customers whose app has no live socket. Off unless a service is configured; each
/// service needs its credentials in files the operator names.
#[derive(Args, Debug)]
pub struct PushArgs {
    /// FCM: a Google service-account JSON file (project_id, client_email, private_key, token_uri).
    #[arg(long, env = "ORDER_SERVER_FCM_SERVICE_ACCOUNT")]
    pub fcm_service_account: Option<PathBuf>,
    /// FCM: where the HTTP v1 API is.
    #[arg(long, env = "ORDER_SERVER_FCM_ENDPOINT", default_value = crate::push::fcm::DEFAULT_ENDPOINT)]
    pub fcm_endpoint: String,
    /// APNs: the token signing key (.p8) from the Apple developer account.
    #[arg(long, env = "ORDER_SERVER_APNS_KEY")]
    pub apns_key: Option<PathBuf>,
    /// APNs: the key's id.
    #[arg(long, env = "ORDER_SERVER_APNS_KEY_ID", default_value = "")]
    pub apns_key_id: String,
    /// APNs: the team id.
    #[arg(long, env = "ORDER_SERVER_APNS_TEAM_ID", default_value = "")]
    pub apns_team_id: String,
    /// APNs: the topic, the app's bundle id.
    #[arg(long, env = "ORDER_SERVER_APNS_TOPIC", default_value = "com.liveorders.app")]
    pub apns_topic: String,
    /// APNs: where the service is (https://api.sandbox.push.apple.com for development builds).
    #[arg(long, env = "ORDER_SERVER_APNS_ENDPOINT", default_value = crate::push::apns::DEFAULT_ENDPOINT)]
    pub apns_endpoint: String,
    /// Web Push: the VAPID private key (P-256, PEM or base64url).
    #[arg(long, env = "ORDER_SERVER_VAPID_KEY")]
    pub vapid_key: Option<PathBuf>,
    /// Web Push: how the push services reach the operator (mailto: or https:).
    #[arg(long, env = "ORDER_SERVER_VAPID_SUBJECT", default_value = "")]
    pub vapid_subject: String,
    /// Web Push: accept subscriptions at plain http:// endpoints (a local test receiver only).
    #[arg(long, env = "ORDER_SERVER_WEBPUSH_ALLOW_HTTP")]
    pub webpush_allow_http: bool,
    /// One more trusted root certificate (PEM) for the push services' TLS: a proxy, or a test stand-in.
    #[arg(long, env = "ORDER_SERVER_PUSH_CA_FILE")]
    pub push_ca_file: Option<PathBuf>,
    /// Pushes sent at once per service.
    #[arg(long, env = "ORDER_SERVER_PUSH_CONCURRENCY", default_value_t = crate::push::DEFAULT_CONCURRENCY)]
    pub push_concurrency: usize,
}

impl PushArgs {
    fn apply(self, c: &mut ServerConfig) -> anyhow::Result<()> {
        use crate::push::{apns::ApnsConfig, fcm::FcmConfig, webpush::WebPushConfig};
        c.push.fcm =
            self.fcm_service_account.map(|service_account| FcmConfig { service_account, endpoint: self.fcm_endpoint });
        if let Some(key_file) = self.apns_key {
            if self.apns_key_id.is_empty() || self.apns_team_id.is_empty() {
                bail!("APNs needs --apns-key-id and --apns-team-id with --apns-key");
            }
            c.push.apns = Some(ApnsConfig {
                key_file,
                key_id: self.apns_key_id,
                team_id: self.apns_team_id,
                topic: self.apns_topic,
                endpoint: self.apns_endpoint,
            });
        }
        if let Some(vapid_key) = self.vapid_key {
            if self.vapid_subject.is_empty() {
                bail!("Web Push needs --vapid-subject (mailto:you@example.com or https://your.site) with --vapid-key");
            }
            c.push.webpush = Some(WebPushConfig { vapid_key, subject: self.vapid_subject });
        }
        c.push.extra_root = self.push_ca_file;
        c.push.concurrency = self.push_concurrency.max(1);
        c.push.webpush_allow_http = self.webpush_allow_http;
        Ok(())
    }
}

/// Sessions and abuse limits; each refusal is a 429 with `Retry-After` (REST) or a refused connection
/// (Socket.IO), and is counted in `/metrics`.
#[derive(Args, Debug)]
pub struct LimitArgs {
    /// Hours a token lives; a refresh issues the next.
    #[arg(long, env = "ORDER_SERVER_TOKEN_HOURS", default_value_t = 12.0)]
    pub token_hours: f64,
    /// Days a sign-in lives at most, however often it is refreshed.
    #[arg(long, env = "ORDER_SERVER_SESSION_DAYS", default_value_t = 30.0)]
    pub session_days: f64,
    /// Seconds a token replaced by a refresh stays accepted (requests already under way).
    #[arg(long, env = "ORDER_SERVER_REFRESH_GRACE", default_value_t = 10)]
    pub refresh_grace: u64,
    /// Login attempts per client address per minute.
    #[arg(long, env = "ORDER_SERVER_LOGINS_PER_MINUTE", default_value_t = 30)]
    pub logins_per_minute: u32,
    /// Failed logins of one account from one address before each further try waits (1 s, doubling).
    #[arg(long, env = "ORDER_SERVER_LOGIN_FAILURES_FREE", default_value_t = 5)]
    pub login_failures_free: u32,
    /// Password hashes computed at once (each takes 19 MiB); default: the number of cores, at most 8.
    #[arg(long, env = "ORDER_SERVER_CONCURRENT_HASHES")]
    pub concurrent_hashes: Option<usize>,
    /// Orders one customer may place per minute.
    #[arg(long, env = "ORDER_SERVER_ORDERS_PER_MINUTE", default_value_t = 20)]
    pub orders_per_minute: u32,
    /// Socket.IO connections at once per client address.
    #[arg(long, env = "ORDER_SERVER_SOCKETS_PER_ADDR", default_value_t = 200)]
    pub sockets_per_addr: u32,
    /// Socket.IO connections at once per user.
    #[arg(long, env = "ORDER_SERVER_SOCKETS_PER_USER", default_value_t = 20)]
    pub sockets_per_user: u32,
    /// Seconds a new connection has to authenticate.
    #[arg(long, env = "ORDER_SERVER_HANDSHAKE_SECONDS", default_value_t = 10)]
    pub handshake_seconds: u64,
}

impl LimitArgs {
    fn apply(&self, c: &mut ServerConfig) {
        c.token_ttl = Duration::from_secs_f64((self.token_hours * 3600.0).max(60.0));
        c.session_lifetime = Duration::from_secs_f64((self.session_days * 86_400.0).max(60.0));
        c.refresh_grace = Duration::from_secs(self.refresh_grace);
        c.login_attempts_per_minute = self.logins_per_minute;
        c.login_failures_free = self.login_failures_free;
        if let Some(n) = self.concurrent_hashes {
            c.concurrent_hashes = n.max(1);
        }
        c.orders_per_minute = self.orders_per_minute;
        c.sockets_per_addr = self.sockets_per_addr;
        c.sockets_per_user = self.sockets_per_user;
        c.handshake_timeout = Duration::from_secs(self.handshake_seconds.max(1));
    }
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Act on orders as the store owner.
    #[command(subcommand)]
    Order(OrderCommand),
    /// Act on accounts: their role and their sessions. A running server disconnects the sockets of every
    /// session this ends within a second.
    #[command(subcommand)]
    User(UserCommand),
}

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Change an account's role (customer or store_owner); its sessions end.
    SetRole { email: String, role: String },
    /// End every session of an account (its tokens are refused from now on).
    SignOut { email: String },
}

#[derive(Subcommand, Debug)]
pub enum OrderCommand {
    /// List every order.
    List,
    /// Move an order to a status (pending, confirmed, preparing, ready, out_for_delivery, delivered, cancelled).
    SetStatus { id: String, status: String },
    /// Place an order for a customer.
    Place {
        #[arg(long)]
        customer: String,
        /// An item as `name:quantity:price` (repeatable); default one test item.
        #[arg(long = "item")]
        items: Vec<String>,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("order-server: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("order-server: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("order_server=info,warn"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let db = match (cli.db, std::env::var("DATABASE_URL")) {
        (Some(db), _) => DbLocation::parse(&db).map_err(anyhow::Error::msg)?,
        (None, Ok(url)) if !url.trim().is_empty() => {
            DbLocation::parse(&url).map_err(|e| anyhow::anyhow!("DATABASE_URL: {e}"))?
        }
        _ => DbLocation::Sqlite(default_db_path()),
    };
    match cli.command {
        None => serve(cli.serve, db).await,
        Some(Command::Order(cmd)) => order_command(cmd, &db).await,
        Some(Command::User(cmd)) => user_command(cmd, &db).await,
    }
}

/// The environment variable that may hold the JWT secret itself (not a flag: a command line is visible to
/// every user of the machine).
const SECRET_VARIABLE: &str = "ORDER_SERVER_JWT_SECRET";

async fn serve(args: ServeArgs, db: DbLocation) -> anyhow::Result<()> {
    let mut config = ServerConfig::new(args.addr, db.clone());
    config.seed = args.seed;
    config.demo = args.demo;
    config.demo_interval = Duration::from_secs_f64(args.demo_interval.max(0.05));
    config.change_retention = Duration::from_secs_f64(args.retention_days.max(0.0) * 86_400.0);
    if !args.cors_origins.is_empty() {
        config.cors_origins = args.cors_origins;
    }
    config.metrics_addr = args.metrics_addr;
    config.trusted_proxies = args.trusted_proxies;
    args.limits.apply(&mut config);
    args.push.apply(&mut config)?;
    config.jwt_secret = Some(match (&args.jwt_secret_file, std::env::var(SECRET_VARIABLE), &db) {
        (None, Ok(text), _) => crate::auth::secret_from_text(text.as_bytes(), SECRET_VARIABLE)?,
        (Some(file), _, _) => crate::auth::load_or_create_secret(Some(file), std::path::Path::new(""))?,
        (None, _, DbLocation::Sqlite(path)) => crate::auth::load_or_create_secret(None, path)?,
        // Every instance must sign and accept the same tokens, and none can make that secret up alone.
        (None, _, DbLocation::Postgres(_)) => bail!(
            "order-server on PostgreSQL needs the JWT secret its instances share: give --jwt-secret-file FILE \
             (or ORDER_SERVER_JWT_SECRET_FILE), or the secret itself in {SECRET_VARIABLE}; make one with \
             `head -c 32 /dev/urandom | base64 > jwt-secret`"
        ),
    });
    let push_line = (!config.push.platforms().is_empty()).then(|| config.push.summary());
    let server = spawn(config).await?;
    tracing::info!(%db, "database");
    if let Some(line) = push_line {
        println!("order-server push: {line}");
    }
    if let Some(addr) = server.metrics_addr() {
        println!("order-server metrics on http://{addr}/metrics");
    }
    println!("order-server listening on http://{}", server.addr());
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    shutdown_signal().await;
    tracing::info!("shutting down");
    server.shutdown().await;
    Ok(())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

/// Opens the database of a running (or once started) server, for a command of the store owner.
async fn open_existing(db: &DbLocation) -> anyhow::Result<Store> {
    if let DbLocation::Sqlite(path) = db {
        if !path.exists() {
            bail!("no database at {} (start the server once, or pass --db)", path.display());
        }
    }
    Store::open(db).await.with_context(|| format!("cannot open {db}"))
}

async fn order_command(cmd: OrderCommand, db: &DbLocation) -> anyhow::Result<()> {
    let store = open_existing(db).await?;
    let result = order_command_on(cmd, &store).await;
    store.close().await;
    result
}

async fn order_command_on(cmd: OrderCommand, store: &Store) -> anyhow::Result<()> {
    match cmd {
        OrderCommand::List => {
            println!("{:<12} {:<26} {:<18} {:>9}  updated", "number", "id", "status", "total");
            for o in store.orders(None).await? {
                println!(
                    "{:<12} {:<26} {:<18} {:>9.2}  {}",
                    o.order_number,
                    o.id,
                    o.status.as_str(),
                    o.total_amount,
                    o.updated_at.to_rfc3339()
                );
            }
        }
        OrderCommand::SetStatus { id, status } => {
            let Some(status) = Status::parse(&status) else {
                bail!("unknown status `{status}`; expected one of {}", status_names());
            };
            let id = resolve(store, &id).await?;
            let applied = store.set_status(&id, status).await?;
            match applied.seq {
                Some(seq) => println!("{} is now {} (change {seq})", applied.order.order_number, status),
                None => println!("{} already was {}", applied.order.order_number, status),
            }
        }
        OrderCommand::Place { customer, items } => {
            let Some(user) = store.user_by_email(&customer).await? else {
                bail!("no user with email {customer}");
            };
            let items = if items.is_empty() {
                vec![Item { name: "Test order".into(), quantity: 1, price: 9.99 }]
            } else {
                items.iter().map(|s| parse_item(s)).collect::<anyhow::Result<_>>()?
            };
            let input = OrderInput {
                items,
                delivery_address: Address {
                    street: "1 Test Street".into(),
                    city: "Springfield".into(),
                    ..Default::default()
                },
            };
            let applied = store.place_order(&user.user, input).await?;
            println!("placed {} ({}) for {customer}", applied.order.order_number, applied.order.id);
        }
    }
    Ok(())
}

async fn user_command(cmd: UserCommand, db: &DbLocation) -> anyhow::Result<()> {
    let store = open_existing(db).await?;
    let result = async {
        match cmd {
            UserCommand::SetRole { email, role } => {
                let role = match role.as_str() {
                    "customer" => Role::Customer,
                    "store_owner" => Role::StoreOwner,
                    other => bail!("unknown role `{other}`; expected customer or store_owner"),
                };
                let user = store.set_role(&email, role).await?;
                println!("{} is now {}; their sessions ended", user.email, role.as_str());
            }
            UserCommand::SignOut { email } => {
                let Some(record) = store.user_by_email(&email).await? else {
                    bail!("no user with email {email}");
                };
                store.end_sessions(&record.user.id, None, DisconnectReason::SessionRevoked).await?;
                println!("every session of {email} ended");
            }
        }
        Ok(())
    }
    .await;
    store.close().await;
    result
}

/// Accepts an order id or an order number (`ORD-1001`).
async fn resolve(store: &Store, id_or_number: &str) -> anyhow::Result<String> {
    if store.order(id_or_number).await?.is_some() {
        return Ok(id_or_number.to_owned());
    }
    let found = store.orders(None).await?.into_iter().find(|o| o.order_number.eq_ignore_ascii_case(id_or_number));
    found.map(|o| o.id).with_context(|| format!("no order with id or number {id_or_number}"))
}

fn status_names() -> String {
    Status::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
}

fn parse_item(s: &str) -> anyhow::Result<Item> {
    let parts: Vec<&str> = s.rsplitn(3, ':').collect();
    let [price, quantity, name] = parts[..] else {
        bail!("an item is `name:quantity:price`, not `{s}`");
    };
    Ok(Item {
        name: name.to_owned(),
        quantity: quantity.parse().with_context(|| format!("bad quantity in `{s}`"))?,
        price: price.parse().with_context(|| format!("bad price in `{s}`"))?,
    })
}
