//! The root component.

use order_protocol::shell::BackendStatus;
use yew::prelude::*;

use crate::ipc;

#[derive(Clone, PartialEq)]
enum Backend {
    Checking,
    Known(BackendStatus),
    ShellError(String),
}

#[function_component(App)]
pub fn app() -> Html {
    let backend = use_state(|| Backend::Checking);
    {
        let backend = backend.clone();
        use_effect_with((), move |_| {
            wasm_bindgen_futures::spawn_local(async move {
                let reply = ipc::invoke::<_, BackendStatus>("backend_status", &()).await;
                backend.set(match reply {
                    Ok(status) => Backend::Known(status),
                    Err(e) => Backend::ShellError(e),
                });
            });
        });
    }
    html! {
        <>
            <header class="top">
                <h1>{ "Live Orders" }</h1>
            </header>
            <main>
                { backend_card(&backend) }
            </main>
        </>
    }
}

fn backend_card(backend: &Backend) -> Html {
    let (state, dot, text) = match backend {
        Backend::Checking => ("checking", "connecting", "Checking the order backend…".to_owned()),
        Backend::Known(BackendStatus { api_url, server_time: Some(t), .. }) => (
            "up",
            "live",
            format!("Order backend at {api_url} is up (its clock: {})", t.format("%H:%M:%S UTC")),
        ),
        Backend::Known(BackendStatus { api_url, problem, .. }) => (
            "down",
            "offline",
            format!("Order backend at {api_url} is not reachable: {}", problem.as_deref().unwrap_or("no answer")),
        ),
        Backend::ShellError(e) => ("down", "offline", format!("The app could not ask its backend: {e}")),
    };
    let version = match backend {
        Backend::Known(s) => format!("Live Orders {}", s.app_version),
        _ => String::new(),
    };
    html! {
        <section class="card" id="backend-status" data-state={state} aria-live="polite">
            <span class="link"><span class={classes!("dot", dot)} aria-hidden="true"></span>{ text }</span>
            <p class="muted" id="app-version">{ version }</p>
        </section>
    }
}
