//! The commands as the UI calls them (by name, with `{"args": …}`), on Tauri's mock runtime and against a
//! real order-server: every command the UI can call is registered; a sign-in that fails comes back as a code
//! the UI words and changes nothing; Settings keep the server in use; a switch of server moves the engine,
//! and a refused one changes nothing; an update is offered only when newer and installed only past its
//! signature, checked against the public key the app is built with (here a key pair made by the test).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use order_protocol::shell::{self, Command, CommandError, ErrorCode, LoginArgs, NotifyPolicy, ServerArgs, Settings};
use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::{get_ipc_response, mock_builder, mock_context, noop_assets, MockRuntime, INVOKE_KEY};
use tauri::webview::InvokeRequest;

use crate::Parts;

/// Where the apps of these tests keep their config and data: one folder per process, one app id per test.
fn root() -> &'static PathBuf {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        // Kept for the process's life; each test removes its own folders inside (`Shell`'s drop).
        let root = tempfile::Builder::new().prefix("live-orders-shell-tests-").tempdir().expect("a temp dir").keep();
        // Set once, before any app of this process reads them.
        std::env::set_var("XDG_CONFIG_HOME", root.join("config"));
        std::env::set_var("XDG_DATA_HOME", root.join("data"));
        std::env::set_var("XDG_CACHE_HOME", root.join("cache"));
        std::env::remove_var("LIVE_ORDERS_API_URL");
        root
    })
}

/// The shell on the mock runtime, with its main window.
struct Shell {
    window: tauri::WebviewWindow<MockRuntime>,
    id: String,
    _app: tauri::App<MockRuntime>,
}

impl Shell {
    fn start() -> Shell {
        Shell::start_with(|_| {})
    }

    /// Starts the shell after `before` has had a look at its config dir.
    fn start_with(before: impl FnOnce(&std::path::Path)) -> Shell {
        Shell::start_trusting(before, None)
    }

    /// Starts the shell with the updater, trusting updates signed by `key`.
    fn start_updating(key: &minisign::KeyPair) -> Shell {
        Shell::start_trusting(|_| {}, Some(key))
    }

    fn start_trusting(before: impl FnOnce(&std::path::Path), updates_from: Option<&minisign::KeyPair>) -> Shell {
        static N: AtomicUsize = AtomicUsize::new(0);
        let root = root();
        let id = format!("app.liveorders.test{}", N.fetch_add(1, Ordering::SeqCst));
        let config = root.join("config").join(&id);
        std::fs::create_dir_all(&config).expect("a config dir");
        before(&config);
        let mut context = mock_context(noop_assets());
        context.config_mut().identifier = id.clone();
        let mut builder = mock_builder();
        if let Some(key) = updates_from {
            let config =
                serde_json::json!({ "pubkey": public_key(key), "endpoints": [], "requireSignedVersion": true });
            context.config_mut().plugins.0.insert("updater".into(), config);
            builder = builder.plugin(tauri_plugin_updater::Builder::new().build());
        }
        let mut app = crate::app(builder, Parts::Commands).build(context).expect("the shell builds");
        // The first turn of the event loop runs the setup, as at a real start.
        #[allow(deprecated)] // `run_return` would block until the app exits; one turn is what is wanted here.
        app.run_iteration(|_, _| {});
        let window = tauri::WebviewWindowBuilder::new(&app, "main", Default::default()).build().expect("a window");
        Shell { window, id, _app: app }
    }

    /// Calls command `C` as the UI does.
    fn call<C: Command>(&self, args: &C::Args) -> Result<C::Reply, CommandError> {
        self.call_raw(C::NAME, serde_json::json!({ "args": args }))
            .map(|v| serde_json::from_value(v).expect("the declared reply"))
            .map_err(|e| serde_json::from_value(e.clone()).unwrap_or_else(|_| panic!("not a CommandError: {e}")))
    }

    fn call_raw(&self, cmd: &str, body: serde_json::Value) -> Result<serde_json::Value, serde_json::Value> {
        let request = InvokeRequest {
            cmd: cmd.into(),
            callback: CallbackFn(0),
            error: CallbackFn(1),
            url: "tauri://localhost".parse().expect("a URL"),
            body: InvokeBody::Json(body),
            headers: Default::default(),
            invoke_key: INVOKE_KEY.to_string(),
        };
        get_ipc_response(&self.window, request).map(|b| b.deserialize().expect("JSON"))
    }

    fn api_url(&self) -> String {
        self.call::<shell::GetSessionInfo>(&()).expect("session info").api_url
    }
}

impl Drop for Shell {
    fn drop(&mut self) {
        let _ = self.call::<shell::Logout>(&());
        let root = root();
        for dir in ["config", "data", "cache"] {
            let _ = std::fs::remove_dir_all(root.join(dir).join(&self.id));
        }
    }
}

/// A real order-server with its seed, on the shell's own runtime.
fn order_server() -> order_server::RunningServer {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = root().join(format!("server{}", N.fetch_add(1, Ordering::SeqCst)));
    std::fs::create_dir_all(&dir).expect("a server dir");
    let config = order_server::ServerConfig::for_tests(dir.join("orders.db"));
    let (tx, rx) = std::sync::mpsc::channel();
    tauri::async_runtime::spawn(async move {
        let _ = tx.send(order_server::spawn(config).await);
    });
    rx.recv().expect("the runtime answers").expect("order-server starts")
}

fn api_url(server: &order_server::RunningServer) -> String {
    format!("http://{}/api", server.addr())
}

/// An address where nothing listens.
fn nobody() -> String {
    let port = TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("its address").port();
    format!("http://127.0.0.1:{port}/api")
}

/// A web server that answers every request with a page, as a wrong address often does.
fn a_web_page() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    let addr = listener.local_addr().expect("its address");
    std::thread::spawn(move || {
        for mut conn in listener.incoming().map_while(Result::ok) {
            let mut buf = [0u8; 4096];
            let _ = conn.read(&mut buf);
            let page = "<html><body>Welcome</body></html>";
            let _ = write!(
                conn,
                "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\r\n{page}",
                page.len()
            );
        }
    });
    format!("http://{addr}/api")
}

fn code<T: std::fmt::Debug>(r: Result<T, CommandError>) -> ErrorCode {
    r.expect_err("a refusal").code
}

fn login(email: &str, password: &str, api_url: Option<String>) -> LoginArgs {
    LoginArgs { email: email.into(), password: password.into(), api_url }
}

#[test]
fn every_command_the_ui_can_call_is_registered() {
    let shell = Shell::start();
    for name in shell::COMMANDS {
        // Without arguments a command may refuse, but not as unknown.
        if let Err(e) = shell.call_raw(name, serde_json::json!({})) {
            assert_ne!(e, serde_json::json!(format!("Command {name} not found")), "`{name}` is not registered");
        }
    }
}

#[test]
fn a_desktop_may_always_notify() {
    let shell = Shell::start();
    assert_eq!(shell.call::<shell::GetNotificationPermission>(&()), Ok(shell::NotificationPermission::Granted));
}

#[test]
fn a_failed_sign_in_says_why_in_a_code_and_changes_nothing() {
    let shell = Shell::start();
    let server = order_server();
    let before = shell.api_url();
    assert_eq!(code(shell.call::<shell::Login>(&login(" ", "x", None))), ErrorCode::Invalid);
    assert_eq!(code(shell.call::<shell::Login>(&login("a@b.c", "", None))), ErrorCode::Invalid);
    let ftp = login("alice@example.com", "alice-pass", Some("ftp://127.0.0.1/api".into()));
    assert_eq!(code(shell.call::<shell::Login>(&ftp)), ErrorCode::Invalid);
    let wrong = login("alice@example.com", "wrong-pass", Some(api_url(&server)));
    let refused = shell.call::<shell::Login>(&wrong).expect_err("a wrong password is refused");
    assert_eq!(refused.code, ErrorCode::BadCredentials);
    assert_eq!(refused.explain(), "Wrong email or password.");
    let unreachable = shell.call::<shell::Login>(&login("alice@example.com", "alice-pass", Some(nobody())));
    assert_eq!(code(unreachable), ErrorCode::Unreachable);
    let elsewhere = shell.call::<shell::Login>(&login("alice@example.com", "alice-pass", Some(a_web_page())));
    assert_eq!(code(elsewhere), ErrorCode::NotAnOrderServer);
    assert_eq!(shell.api_url(), before, "a refused sign-in stays on the server in use");

    let info = shell.call::<shell::Login>(&login("alice@example.com", "alice-pass", Some(api_url(&server))));
    assert_eq!(info.expect("signed in").api_url, api_url(&server));
    assert_eq!(shell.api_url(), api_url(&server));
    assert_eq!(shell.call::<shell::GetSettings>(&()).expect("settings").api_url, Some(api_url(&server)));
    shell.call::<shell::Resync>(&()).expect("the view is sent");
}

#[test]
fn settings_are_saved_but_never_change_the_server() {
    let shell = Shell::start();
    let before = shell.api_url();
    let wanted = Settings {
        api_url: Some("http://198.51.100.7/api".into()),
        notify_policy: NotifyPolicy::Never,
        close_to_tray: false,
        ..Settings::default()
    };
    shell.call::<shell::SaveSettings>(&wanted).expect("saved");
    let saved = shell.call::<shell::GetSettings>(&()).expect("settings");
    assert_eq!(saved, Settings { api_url: None, ..wanted }, "everything but the server");
    assert_eq!(shell.api_url(), before);
    let id = shell.id.clone();
    drop(shell);

    // A damaged file is set aside and the defaults are used.
    let shell = Shell::start_with(|config| {
        std::fs::write(config.join("settings.json"), "{ not json").expect("written");
    });
    assert_eq!(shell.call::<shell::GetSettings>(&()).expect("settings"), Settings::default());
    let config = root().join("config").join(&shell.id);
    assert!(config.join("settings.json.damaged").exists(), "the damaged file is kept aside");
    assert_ne!(id, shell.id);
}

#[test]
fn a_map_tile_source_that_cannot_be_used_is_refused_in_words_and_nothing_is_saved() {
    let shell = Shell::start();
    let settings = shell.call::<shell::GetSettings>(&()).expect("settings");
    for (template, attribution, words) in [
        ("http://tiles.example.com/{z}/{x}/{y}.png", "Example", "only allowed from this machine"),
        ("https://{s}.tile.example.com/{z}/{x}/{y}.png", "Example", "may not use {s}"),
        ("https://tiles.example.com/{z}/{x}/{y}.png", "", "attribution"),
        ("https://tiles.example.com/x.png; script-src *", "Example", "may not contain"),
    ] {
        let wanted = Settings {
            map_tiles: Some(template.into()),
            map_attribution: Some(attribution.into()),
            ..settings.clone()
        };
        let e = shell.call::<shell::SaveSettings>(&wanted).expect_err(template);
        assert_eq!(e.code, ErrorCode::Invalid, "{template}");
        assert!(e.explain().contains(words), "{template}: {}", e.explain());
        assert_eq!(shell.call::<shell::GetSettings>(&()).expect("settings"), settings, "nothing saved");
    }
    let good = Settings {
        map_tiles: Some("https://tiles.example.com/{z}/{x}/{y}.png?key=k1".into()),
        map_attribution: Some("© Example".into()),
        ..settings
    };
    shell.call::<shell::SaveSettings>(&good).expect("saved");
    let saved = shell.call::<shell::GetSettings>(&()).expect("settings");
    assert_eq!(saved.tile_source().origin, "https://tiles.example.com");
}

#[test]
fn a_switch_of_server_is_checked_first_and_then_moves_the_engine() {
    let shell = Shell::start();
    let server = order_server();
    let before = shell.api_url();
    let switch = |url: String| shell.call::<shell::SwitchServer>(&ServerArgs { api_url: url });
    assert_eq!(code(switch("  ".into())), ErrorCode::Invalid);
    assert_eq!(code(switch("orders.example.com".into())), ErrorCode::Invalid);
    assert_eq!(code(switch(nobody())), ErrorCode::Unreachable);
    assert_eq!(code(switch(a_web_page())), ErrorCode::NotAnOrderServer);
    assert_eq!(shell.api_url(), before, "a refused switch changes nothing");

    let info = switch(api_url(&server)).expect("an order server is switched to");
    assert_eq!(info.api_url, api_url(&server));
    assert_eq!(shell.call::<shell::GetSettings>(&()).expect("settings").api_url, Some(api_url(&server)));
    // Signed in there without naming it again.
    let info = shell.call::<shell::Login>(&login("alice@example.com", "alice-pass", None)).expect("signed in");
    assert_eq!(info.api_url, api_url(&server));
}

/// The public key as tauri.conf.json holds it: the minisign text, in base64.
fn public_key(key: &minisign::KeyPair) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(key.pk.to_box().expect("a key box").to_string())
}

/// A package's signature as Tauri's signer writes it (the version in the trusted comment), in base64.
fn signature(key: &minisign::KeyPair, bytes: &[u8], version: &str) -> String {
    use base64::Engine as _;
    let trusted = format!("timestamp:1765000000\tfile:live-orders.deb\tversion:{version}");
    let sig = minisign::sign(Some(&key.pk), &key.sk, bytes, Some(&trusted), None).expect("signed");
    base64::engine::general_purpose::STANDARD.encode(sig.to_string())
}

/// A release host on loopback: `/latest.json` answers the manifest set last, `/package` the package bytes;
/// it counts the package's downloads.
#[derive(Clone)]
struct ReleaseHost {
    addr: std::net::SocketAddr,
    answers: std::sync::Arc<std::sync::Mutex<(String, Vec<u8>)>>,
    downloads: std::sync::Arc<AtomicUsize>,
}

impl ReleaseHost {
    fn start() -> ReleaseHost {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
        let host = ReleaseHost {
            addr: listener.local_addr().expect("its address"),
            answers: Default::default(),
            downloads: Default::default(),
        };
        let serving = host.clone();
        std::thread::spawn(move || {
            for mut conn in listener.incoming().map_while(Result::ok) {
                let mut buf = [0u8; 8192];
                let n = conn.read(&mut buf).unwrap_or(0);
                let request = String::from_utf8_lossy(&buf[..n]).into_owned();
                let (manifest, package) = serving.answers.lock().expect("not poisoned").clone();
                let (kind, body) = if request.starts_with("GET /package") {
                    serving.downloads.fetch_add(1, Ordering::SeqCst);
                    ("application/octet-stream", package)
                } else {
                    ("application/json", manifest.into_bytes())
                };
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = conn.write_all(head.as_bytes()).and_then(|_| conn.write_all(&body));
            }
        });
        host
    }

    fn url(&self) -> String {
        format!("http://{}/latest.json", self.addr)
    }

    /// Announces `version` with this package and signature, for a plain build of this machine's kind.
    fn announce(&self, version: &str, package: &[u8], signature: &str) {
        let target = format!("linux-{}", std::env::consts::ARCH);
        let manifest = serde_json::json!({
            "version": version,
            "notes": "Kinder.",
            "platforms": { target: { "signature": signature, "url": format!("http://{}/package", self.addr) } },
        });
        *self.answers.lock().expect("not poisoned") = (manifest.to_string(), package.to_vec());
    }

    fn serve(&self, manifest: &str, package: &[u8]) {
        *self.answers.lock().expect("not poisoned") = (manifest.to_owned(), package.to_vec());
    }
}

#[cfg(target_os = "linux")]
#[test]
fn an_update_is_offered_when_newer_and_gets_past_the_download_only_with_the_publishers_signature() {
    use shell::UpdateStatus;
    let publisher = minisign::KeyPair::generate_unencrypted_keypair().expect("a key pair");
    let stranger = minisign::KeyPair::generate_unencrypted_keypair().expect("another");
    let shell = Shell::start_updating(&publisher);
    let host = ReleaseHost::start();
    let status = || shell.call::<shell::GetUpdateState>(&()).expect("the update state").status;
    let check = || shell.call::<shell::CheckForUpdate>(&()).expect("a check").status;
    let install = || shell.call::<shell::InstallUpdate>(&()).expect("an install").status;
    let failed = |s: UpdateStatus| match s {
        UpdateStatus::Failed { message } => message,
        other => panic!("expected a refusal, got {other:?}"),
    };
    assert_eq!(status(), UpdateStatus::Unknown);
    assert!(failed(check()).contains("No update server is set"));
    let settings = shell.call::<shell::GetSettings>(&()).expect("settings");
    shell.call::<shell::SaveSettings>(&Settings { update_url: Some(host.url()), ..settings }).expect("saved");

    let package = b"Live Orders 0.2.0".to_vec();
    // The publisher's newer version: offered with its notes, downloaded only on "Install", its signature
    // checked; this copy is a plain build, so it says it cannot replace itself.
    host.announce("0.2.0", &package, &signature(&publisher, &package, "0.2.0"));
    assert_eq!(check(), UpdateStatus::Available { version: "0.2.0".into(), notes: Some("Kinder.".into()) });
    assert_eq!(host.downloads.load(Ordering::SeqCst), 0, "nothing downloaded before the customer agrees");
    let verified = failed(install());
    assert!(verified.contains("downloaded and its signature checked"), "{verified}");
    assert_eq!(host.downloads.load(Ordering::SeqCst), 1);

    // Changed on the way: the same signature over other bytes.
    host.announce("0.2.0", b"Live Orders 0.2.0 with a surprise", &signature(&publisher, &package, "0.2.0"));
    assert!(matches!(check(), UpdateStatus::Available { .. }));
    let tampered = failed(install());
    assert!(tampered.contains("does not carry the publisher's valid signature"), "{tampered}");

    // Signed by someone else.
    host.announce("0.2.0", &package, &signature(&stranger, &package, "0.2.0"));
    assert!(matches!(check(), UpdateStatus::Available { .. }));
    assert!(failed(install()).contains("does not carry the publisher's valid signature"));

    // An old release of the publisher's, announced as new.
    let old = b"Live Orders 0.0.9".to_vec();
    host.announce("0.2.0", &old, &signature(&publisher, &old, "0.0.9"));
    assert!(matches!(check(), UpdateStatus::Available { .. }));
    let replayed = failed(install());
    assert!(
        replayed.contains("announces version 0.2.0, but the download is the publisher's version 0.0.9"),
        "{replayed}"
    );

    // An older version, the same one, a broken manifest, a server that is gone.
    host.announce("0.0.9", &old, &signature(&publisher, &old, "0.0.9"));
    assert!(failed(check()).contains("offers version 0.0.9, older than the 0.1.0 you have"));
    host.announce("0.1.0", &package, &signature(&publisher, &package, "0.1.0"));
    assert_eq!(check(), UpdateStatus::UpToDate);
    host.serve("{ \"version\": \"0.2.0\", ", &package);
    assert!(failed(check()).contains("could not be read"));
    assert_eq!(
        install(),
        UpdateStatus::Failed { message: failed(status()) },
        "nothing to install after a failed check"
    );
    let settings = shell.call::<shell::GetSettings>(&()).expect("settings");
    shell.call::<shell::SaveSettings>(&Settings { update_url: Some(nobody()), ..settings }).expect("saved");
    assert!(failed(check()).contains("cannot be reached"));
    let settings = shell.call::<shell::GetSettings>(&()).expect("settings");
    let remote = Settings { update_url: Some("http://updates.example.com/latest.json".into()), ..settings };
    shell.call::<shell::SaveSettings>(&remote).expect("saved");
    assert!(failed(check()).contains("not encrypted"));
}
