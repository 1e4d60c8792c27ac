//! The bridge to the shell: Tauri's `invoke` (commands) and `listen` (events) through `window.__TAURI__`,
//! typed with serde. Command failures arrive as `CommandError` (a code and words); a command that does not
//! answer within [`DEADLINE_MS`] fails with `ErrorCode::NoAnswer`, so no screen waits forever.

use std::pin::pin;

use futures_util::future::{select, Either};
use order_protocol::shell::{CommandError, ErrorCode};
use serde::{de::DeserializeOwned, Serialize};
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = ["window", "__TAURI__", "core"], js_name = invoke, catch)]
    async fn tauri_invoke(cmd: &str, args: JsValue) -> Result<JsValue, JsValue>;

    #[wasm_bindgen(js_namespace = ["window", "__TAURI__", "event"], js_name = listen, catch)]
    async fn tauri_listen(event: &str, handler: &Closure<dyn FnMut(JsValue)>) -> Result<JsValue, JsValue>;
}

/// The longest the UI waits for a command. The slowest ones talk to a server, and every request of the shell
/// has its own limit of 15 s; past this, something in the app itself went wrong.
const DEADLINE_MS: u32 = 30_000;

/// Calls a shell command, and gives up after [`DEADLINE_MS`].
pub async fn invoke<A: Serialize, R: DeserializeOwned>(cmd: &str, args: &A) -> Result<R, CommandError> {
    let call = pin!(invoke_unbounded(cmd, args));
    match select(call, gloo::timers::future::TimeoutFuture::new(DEADLINE_MS)).await {
        Either::Left((reply, _)) => reply,
        Either::Right(_) => Err(CommandError {
            code: ErrorCode::NoAnswer,
            message: format!("no reply to {cmd} within {} s", DEADLINE_MS / 1000),
        }),
    }
}

async fn invoke_unbounded<A: Serialize, R: DeserializeOwned>(cmd: &str, args: &A) -> Result<R, CommandError> {
    let args = serde_wasm_bindgen::to_value(args).map_err(internal)?;
    match tauri_invoke(cmd, args).await {
        Ok(v) => serde_wasm_bindgen::from_value(v).map_err(|e| internal(format!("unexpected reply to {cmd}: {e}"))),
        Err(e) => Err(serde_wasm_bindgen::from_value::<CommandError>(e.clone()).unwrap_or_else(|_| {
            internal(e.as_string().unwrap_or_else(|| "the app's shell did not answer".to_owned()))
        })),
    }
}

/// Calls a command whose reply the caller does not need; a failure is logged to the console.
pub fn fire<A: Serialize + 'static>(cmd: &'static str, args: A) {
    wasm_bindgen_futures::spawn_local(async move {
        if let Err(e) = invoke::<A, ()>(cmd, &args).await {
            web_sys::console::warn_1(&format!("{cmd}: {}", e.message).into());
        }
    });
}

/// A failure's code by its wire name (`bad_credentials`, …): a stable hook for tests and styles.
pub fn code_name(e: &CommandError) -> String {
    serde_json::to_value(e.code).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

fn internal(e: impl ToString) -> CommandError {
    CommandError { code: ErrorCode::Internal, message: e.to_string() }
}

/// Calls `handler` with the payload of every `event` the shell emits, for the life of the page. Returns once
/// the shell has registered the listener, so nothing emitted afterwards is missed.
pub async fn listen<T: DeserializeOwned + 'static>(event: &'static str, handler: impl Fn(T) + 'static) {
    let closure = Closure::<dyn FnMut(JsValue)>::new(move |e: JsValue| {
        let payload = js_sys::Reflect::get(&e, &JsValue::from_str("payload")).unwrap_or(JsValue::NULL);
        match serde_wasm_bindgen::from_value::<T>(payload) {
            Ok(p) => handler(p),
            Err(err) => web_sys::console::warn_1(&format!("unreadable {event} event: {err}").into()),
        }
    });
    if let Err(e) = tauri_listen(event, &closure).await {
        web_sys::console::error_2(&format!("cannot listen to {event}").into(), &e);
    }
    // The listener lives as long as the page.
    closure.forget();
}
