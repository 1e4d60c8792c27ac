//! Sign in: email and password, the server address editable, and errors in words (wrong credentials,
//! server unreachable or no order server, too many attempts, no answer, a session that ended).

use order_protocol::shell::{self, CommandError, LoginArgs};
use order_protocol::LinkState;
use web_sys::HtmlInputElement;
use yew::prelude::*;

use crate::api;
use crate::store::{use_store, Action};

#[function_component(Login)]
pub(crate) fn login() -> Html {
    let store = use_store();
    let email = use_node_ref();
    let password = use_node_ref();
    let server = use_node_ref();
    let error = use_state(|| None::<CommandError>);
    let busy = use_state(|| false);
    let session = store.session.clone();
    let api_url = session.as_ref().map(|s| s.api_url.clone()).unwrap_or_default();

    let onsubmit = {
        let (email, password, server, error, busy, store) =
            (email.clone(), password.clone(), server.clone(), error.clone(), busy.clone(), store.clone());
        let current_url = api_url.clone();
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let value = |r: &NodeRef| r.cast::<HtmlInputElement>().map(|i| i.value()).unwrap_or_default();
            let (em, pw, url) = (value(&email), value(&password), value(&server));
            let url = (!url.trim().is_empty() && url.trim() != current_url).then(|| url.trim().to_owned());
            let (error, busy, store) = (error.clone(), busy.clone(), store.clone());
            busy.set(true);
            error.set(None);
            wasm_bindgen_futures::spawn_local(async move {
                let args = LoginArgs { email: em, password: pw, api_url: url };
                match api::call::<shell::Login>(&args).await {
                    Ok(info) => store.dispatch(Action::Session(info)),
                    Err(e) => error.set(Some(e)),
                }
                busy.set(false);
            });
        })
    };
    let reason = match &store.view.link {
        LinkState::LoggedOut { reason: Some(r) } => r.explain(),
        _ => None,
    };
    let keychain = session.as_ref().and_then(|s| s.keychain_problem.clone());
    html! {
        <section class="card login" aria-labelledby="login-title">
            <h1 id="login-title">{ "Sign in to follow your orders" }</h1>
            if let Some(r) = reason { <p class="notice" id="logout-reason" role="alert">{ r }</p> }
            <form {onsubmit}>
                <label>{ "Email" }
                    <input ref={email} name="email" type="email" autocomplete="username" required=true />
                </label>
                <label>{ "Password" }
                    <input ref={password} name="password" type="password" autocomplete="current-password" required=true />
                </label>
                <details id="login-server">
                    <summary>{ "Server" }</summary>
                    <label>{ "Order server address" }
                        <input ref={server} name="server" type="url" value={api_url.clone()} />
                    </label>
                </details>
                if let Some(e) = (*error).clone() {
                    <p class="error" id="login-error" role="alert" data-code={api::code_name(&e)}>{ e.explain() }</p>
                }
                <button type="submit" class="primary" disabled={*busy}>
                    { if *busy { "Signing in…" } else { "Sign in" } }
                </button>
            </form>
            if let Some(k) = keychain { <p class="muted" id="keychain-problem">{ k }</p> }
        </section>
    }
}
