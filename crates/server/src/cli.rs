//! The command line: run the server (the default), or act as the store owner on the same database file
//! (`order list`, `order set-status`, `order place`). The running server emits the CLI's changes because the
//! dispatcher tails the change log.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context as _};
use clap::{Args, Parser, Subcommand};
use order_protocol::{Address, Item, Status};

use crate::store::{OrderInput, Store};
use crate::{default_db_path, spawn, ServerConfig};

#[derive(Parser, Debug)]
#[command(name = "order-server", version, about = "The Live Orders reference backend (REST + Socket.IO over SQLite)")]
pub struct Cli {
    /// The SQLite database file (created on first start).
    #[arg(long, global = true, env = "ORDER_SERVER_DB")]
    pub db: Option<PathBuf>,
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
    /// Days the change log stays replayable by `changes?since=`.
    #[arg(long, env = "ORDER_SERVER_RETENTION_DAYS", default_value_t = 7.0)]
    pub retention_days: f64,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Act on orders as the store owner.
    #[command(subcommand)]
    Order(OrderCommand),
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
    let db = cli.db.unwrap_or_else(default_db_path);
    match cli.command {
        None => serve(cli.serve, db).await,
        Some(Command::Order(cmd)) => order_command(cmd, &db).await,
    }
}

/// The environment variable that may hold the JWT secret itself (not a flag: a command line is visible to
/// every user of the machine).
const SECRET_VARIABLE: &str = "ORDER_SERVER_JWT_SECRET";

async fn serve(args: ServeArgs, db: PathBuf) -> anyhow::Result<()> {
    let mut config = ServerConfig::new(args.addr, db.clone());
    config.seed = args.seed;
    config.demo = args.demo;
    config.demo_interval = Duration::from_secs_f64(args.demo_interval.max(0.05));
    config.change_retention = Duration::from_secs_f64(args.retention_days.max(0.0) * 86_400.0);
    if !args.cors_origins.is_empty() {
        config.cors_origins = args.cors_origins;
    }
    let data_dir = db.parent().map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
    config.jwt_secret = Some(match (&args.jwt_secret_file, std::env::var(SECRET_VARIABLE)) {
        (None, Ok(text)) => crate::auth::secret_from_text(text.as_bytes(), SECRET_VARIABLE)?,
        (file, _) => crate::auth::load_or_create_secret(file.as_deref(), &data_dir)?,
    });
    let server = spawn(config).await?;
    tracing::info!(db = %db.display(), "database");
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

async fn order_command(cmd: OrderCommand, db: &std::path::Path) -> anyhow::Result<()> {
    if !db.exists() {
        bail!("no database at {} (start the server once, or pass --db)", db.display());
    }
    let store = Store::open(db).await.with_context(|| format!("cannot open {}", db.display()))?;
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
