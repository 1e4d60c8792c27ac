//! Settings: the server (switching to another signs out of this one), when native notifications show and for
//! what, closing to the tray, and signing out.

use order_protocol::shell::{self, CommandError, NotificationPermission, NotifyPolicy, ServerArgs, Settings};
use web_sys::HtmlInputElement;
use yew::prelude::*;

use crate::api;
use crate::store::{refresh, use_store, Action};

#[function_component(SettingsPage)]
pub(crate) fn settings_page() -> Html {
    let store = use_store();
    let settings = use_state(|| None::<Settings>);
    let saved = use_state(|| None::<String>);
    let server = use_node_ref();
    let server_error = use_state(|| None::<CommandError>);
    let switching = use_state(|| false);
    let permission = use_state(|| NotificationPermission::Granted);
    {
        let (settings, permission) = (settings.clone(), permission.clone());
        use_effect_with((), move |_| {
            wasm_bindgen_futures::spawn_local(async move {
                if let Ok(s) = api::call::<shell::GetSettings>(&()).await {
                    settings.set(Some(s));
                }
                if let Ok(p) = api::call::<shell::GetNotificationPermission>(&()).await {
                    permission.set(p);
                }
            });
        });
    }
    let Some(current) = (*settings).clone() else { return html! { <p class="muted">{ "Loading settings…" }</p> } };
    let save = {
        let (settings, saved) = (settings.clone(), saved.clone());
        move |next: Settings| {
            settings.set(Some(next.clone()));
            let saved = saved.clone();
            wasm_bindgen_futures::spawn_local(async move {
                let r = api::call::<shell::SaveSettings>(&next).await;
                saved.set(Some(match r {
                    Ok(()) => "Saved.".to_owned(),
                    Err(e) => e.explain(),
                }));
            });
        }
    };
    let policy = |p: NotifyPolicy, label: &str| {
        let (save, current) = (save.clone(), current.clone());
        html! {
            <label class="choice">
                <input type="radio" name="policy" checked={current.notify_policy == p}
                       onchange={Callback::from(move |_| save(Settings { notify_policy: p, ..current.clone() }))} />
                { label.to_owned() }
            </label>
        }
    };
    let toggle = |label: &str, on: bool, set: fn(&mut Settings, bool)| {
        let (save, current) = (save.clone(), current.clone());
        html! {
            <label class="choice">
                <input type="checkbox" checked={on} onchange={Callback::from(move |_| {
                    let mut next = current.clone();
                    set(&mut next, !on);
                    save(next);
                })} />
                { label.to_owned() }
            </label>
        }
    };
    let switch_server = {
        let (store, server, server_error, switching) =
            (store.clone(), server.clone(), server_error.clone(), switching.clone());
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let url = server.cast::<HtmlInputElement>().map(|i| i.value()).unwrap_or_default();
            let (store, server_error, switching) = (store.clone(), server_error.clone(), switching.clone());
            switching.set(true);
            server_error.set(None);
            wasm_bindgen_futures::spawn_local(async move {
                match api::call::<shell::SwitchServer>(&ServerArgs { api_url: url }).await {
                    Ok(info) => {
                        store.dispatch(Action::Session(info));
                        refresh(&store);
                    }
                    Err(e) => server_error.set(Some(e)),
                }
                switching.set(false);
            });
        })
    };
    let logout = Callback::from(|_| api::fire::<shell::Logout>(()));
    let api_url = store.session.as_ref().map(|s| s.api_url.clone()).unwrap_or_default();
    let c = &current.notify_categories;
    html! {
        <section class="settings" aria-labelledby="settings-title">
            <h1 id="settings-title">{ "Settings" }</h1>
            <form id="server-form" onsubmit={switch_server}>
                <fieldset class="card">
                    <legend>{ "Server" }</legend>
                    <label>{ "Order server address" }
                        <input ref={server} name="server" type="url" required=true value={api_url} />
                    </label>
                    <p class="muted">{ "Switching to another server signs you out of this one." }</p>
                    if let Some(e) = (*server_error).clone() {
                        <p class="error" id="server-error" role="alert" data-code={api::code_name(&e)}>{ e.explain() }</p>
                    }
                    <button type="submit" id="switch-server" class="primary" disabled={*switching}>
                        { if *switching { "Switching…" } else { "Switch server" } }
                    </button>
                </fieldset>
            </form>
            <fieldset class="card">
                <legend>{ "Notifications" }</legend>
                if *permission == NotificationPermission::Denied {
                    <p class="notice" id="notification-permission" role="status">
                        { "The system blocks notifications from Live Orders, so updates reach you only while the app is open. Allow them in the system's settings for Live Orders." }
                    </p>
                }
                { policy(NotifyPolicy::WhenUnfocused, "Only when the window is in the background or minimized") }
                { policy(NotifyPolicy::Always, "Always") }
                { policy(NotifyPolicy::Never, "Never") }
                { toggle("Order updates", c.order_updates, |s, v| s.notify_categories.order_updates = v) }
                { toggle("Delivery", c.delivery, |s, v| s.notify_categories.delivery = v) }
                { toggle("Other", c.other, |s, v| s.notify_categories.other = v) }
                { toggle("Keep running in the tray when the window is closed", current.close_to_tray, |s, v| s.close_to_tray = v) }
            </fieldset>
            <fieldset class="card">
                <legend>{ "Security" }</legend>
                { toggle("Allow unencrypted (http://) servers on other machines", current.allow_insecure_http, |s, v| s.allow_insecure_http = v) }
                <p class="muted">{ "Only on a network you trust: your password and session would cross it readable by anyone on the way. Takes effect at the next sign-in or server switch." }</p>
            </fieldset>
            if let Some(m) = (*saved).clone() { <p class="muted" role="status">{ m }</p> }
            <button id="logout" class="danger" onclick={logout}>{ "Sign out" }</button>
        </section>
    }
}
