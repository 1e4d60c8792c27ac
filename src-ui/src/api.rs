//! The one way to the shell: every command and event as `order_protocol::shell` declares it, over Tauri's
//! `invoke` and `listen` (through `window.__TAURI__`). Command failures arrive as `CommandError` (a code and
//! words); a command that does not answer within [`DEADLINE_MS`] fails with `ErrorCode::NoAnswer`, so no
//! screen waits forever.

use std::pin::pin;

use futures_util::future::{select, Either};
use order_protocol::shell::{Command, CommandError, ErrorCode, Event};
use serde::Serialize;
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

/// How every command's arguments travel: under `args`, the name of the handlers' parameter.
#[derive(Serialize)]
struct Envelope<'a, A> {
    args: &'a A,
}

/// Calls command `C`, and gives up after [`DEADLINE_MS`].
pub(crate) async fn call<C: Command>(args: &C::Args) -> Result<C::Reply, CommandError> {
    let reply = pin!(call_unbounded::<C>(args));
    match select(reply, gloo::timers::future::TimeoutFuture::new(DEADLINE_MS)).await {
        Either::Left((reply, _)) => reply,
        Either::Right(_) => Err(CommandError {
            code: ErrorCode::NoAnswer,
            message: format!("no reply to {} within {} s", C::NAME, DEADLINE_MS / 1000),
        }),
    }
}

async fn call_unbounded<C: Command>(args: &C::Args) -> Result<C::Reply, CommandError> {
    let args = serde_wasm_bindgen::to_value(&Envelope { args }).map_err(internal)?;
    match tauri_invoke(C::NAME, args).await {
        Ok(v) => {
            serde_wasm_bindgen::from_value(v).map_err(|e| internal(format!("unexpected reply to {}: {e}", C::NAME)))
        }
        Err(e) => Err(serde_wasm_bindgen::from_value::<CommandError>(e.clone()).unwrap_or_else(|_| {
            internal(e.as_string().unwrap_or_else(|| "the app's shell did not answer".to_owned()))
        })),
    }
}

/// Calls command `C` without waiting for its reply (it has none worth showing); a failure goes to the console.
pub(crate) fn fire<C: Command<Reply = ()>>(args: C::Args)
where
    C::Args: 'static,
{
    wasm_bindgen_futures::spawn_local(async move {
        if let Err(e) = call::<C>(&args).await {
            web_sys::console::warn_1(&format!("{}: {}", C::NAME, e.message).into());
        }
    });
}

/// A failure's code by its wire name (`bad_credentials`, …): a stable hook for tests and styles.
pub(crate) fn code_name(e: &CommandError) -> String {
    serde_json::to_value(e.code).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

fn internal(e: impl ToString) -> CommandError {
    CommandError { code: ErrorCode::Internal, message: e.to_string() }
}

/// Calls `handler` with the payload of every event `E` the shell emits, for the life of the page. Returns
/// once the shell has registered the listener, so nothing emitted afterwards is missed.
pub(crate) async fn listen<E: Event>(handler: impl Fn(E::Payload) + 'static)
where
    E::Payload: 'static,
{
    let closure = Closure::<dyn FnMut(JsValue)>::new(move |e: JsValue| {
        let payload = js_sys::Reflect::get(&e, &JsValue::from_str("payload")).unwrap_or(JsValue::NULL);
        match serde_wasm_bindgen::from_value::<E::Payload>(payload) {
            Ok(p) => handler(p),
            Err(err) => web_sys::console::warn_1(&format!("unreadable {} event: {err}", E::NAME).into()),
        }
    });
    if let Err(e) = tauri_listen(E::NAME, &closure).await {
        web_sys::console::error_2(&format!("cannot listen to {}", E::NAME).into(), &e);
    }
    // The listener lives as long as the page.
    closure.forget();
}
