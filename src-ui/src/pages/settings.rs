//! Settings: the server address, when native notifications show and for what, closing to the tray, and
//! signing out.

use order_protocol::shell::{NotifyPolicy, Settings};
use yew::prelude::*;

use crate::ipc;
use crate::store::use_store;

#[function_component(SettingsPage)]
pub fn settings_page() -> Html {
    let store = use_store();
    let settings = use_state(|| None::<Settings>);
    let saved = use_state(|| None::<String>);
    {
        let settings = settings.clone();
        use_effect_with((), move |_| {
            wasm_bindgen_futures::spawn_local(async move {
                if let Ok(s) = ipc::invoke::<_, Settings>("get_settings", &()).await {
                    settings.set(Some(s));
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
                let r = ipc::invoke::<_, ()>("save_settings", &serde_json::json!({ "settings": next })).await;
                saved.set(Some(match r {
                    Ok(()) => "Saved.".to_owned(),
                    Err(e) => e.message,
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
    let on_server = {
        let (save, current) = (save.clone(), current.clone());
        Callback::from(move |e: Event| {
            let input: web_sys::HtmlInputElement = e.target_unchecked_into();
            let v = input.value().trim().to_owned();
            save(Settings { api_url: (!v.is_empty()).then_some(v), ..current.clone() });
        })
    };
    let logout = {
        let store = store.clone();
        Callback::from(move |_| {
            let store = store.clone();
            wasm_bindgen_futures::spawn_local(async move {
                let _ = ipc::invoke::<_, ()>("logout", &()).await;
                crate::app::refresh(&store);
            });
        })
    };
    let api_url = store.session.as_ref().map(|s| s.api_url.clone()).unwrap_or_default();
    let c = &current.notify_categories;
    html! {
        <section class="settings" aria-labelledby="settings-title">
            <h1 id="settings-title">{ "Settings" }</h1>
            <fieldset class="card">
                <legend>{ "Server" }</legend>
                <label>{ "Order server address" }
                    <input name="server" type="url" value={current.api_url.clone().unwrap_or(api_url)} onchange={on_server} />
                </label>
            </fieldset>
            <fieldset class="card">
                <legend>{ "Desktop notifications" }</legend>
                { policy(NotifyPolicy::WhenUnfocused, "Only when the window is in the background or minimized") }
                { policy(NotifyPolicy::Always, "Always") }
                { policy(NotifyPolicy::Never, "Never") }
                { toggle("Order updates", c.order_updates, |s, v| s.notify_categories.order_updates = v) }
                { toggle("Delivery", c.delivery, |s, v| s.notify_categories.delivery = v) }
                { toggle("Other", c.other, |s, v| s.notify_categories.other = v) }
                { toggle("Keep running in the tray when the window is closed", current.close_to_tray, |s, v| s.close_to_tray = v) }
            </fieldset>
            if let Some(m) = (*saved).clone() { <p class="muted" role="status">{ m }</p> }
            <button id="logout" class="danger" onclick={logout}>{ "Sign out" }</button>
        </section>
    }
}
