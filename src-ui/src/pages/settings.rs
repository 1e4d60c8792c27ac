//! Settings: the server (switching to another signs out of this one), when native notifications show and for
//! what, closing to the tray, opening at login, updates of the app, the map's tiles, and signing out.

use order_protocol::shell::{
    self, CommandError, NotificationPermission, NotifyPolicy, ServerArgs, Settings, UpdateState, UpdateStatus,
};
use web_sys::HtmlInputElement;
use yew::prelude::*;

use crate::api;
use crate::store::{refresh, use_store, Action, StoreHandle};

#[function_component(SettingsPage)]
pub(crate) fn settings_page() -> Html {
    let store = use_store();
    let settings = use_state(|| None::<Settings>);
    let saved = use_state(|| None::<String>);
    let server = use_node_ref();
    let server_error = use_state(|| None::<CommandError>);
    let switching = use_state(|| false);
    let permission = use_state(|| NotificationPermission::Granted);
    let open_at_login = use_state(|| None::<bool>);
    let open_at_login_error = use_state(|| None::<CommandError>);
    {
        let (settings, permission, open_at_login, store) =
            (settings.clone(), permission.clone(), open_at_login.clone(), store.clone());
        use_effect_with((), move |_| {
            wasm_bindgen_futures::spawn_local(async move {
                if let Ok(s) = api::call::<shell::GetSettings>(&()).await {
                    settings.set(Some(s));
                }
                if let Ok(p) = api::call::<shell::GetNotificationPermission>(&()).await {
                    permission.set(p);
                }
                if let Ok(on) = api::call::<shell::GetOpenAtLogin>(&()).await {
                    open_at_login.set(on);
                }
                if let Ok(u) = api::call::<shell::GetUpdateState>(&()).await {
                    store.dispatch(Action::Update(u));
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
    let set_open_at_login = {
        let (open_at_login, open_at_login_error) = (open_at_login.clone(), open_at_login_error.clone());
        let on = (*open_at_login).unwrap_or(false);
        Callback::from(move |_| {
            let (open_at_login, open_at_login_error) = (open_at_login.clone(), open_at_login_error.clone());
            wasm_bindgen_futures::spawn_local(async move {
                match api::call::<shell::SetOpenAtLogin>(&!on).await {
                    Ok(now) => {
                        open_at_login.set(Some(now));
                        open_at_login_error.set(None);
                    }
                    Err(e) => open_at_login_error.set(Some(e)),
                }
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
            if let Some(on) = *open_at_login {
                <fieldset class="card">
                    <legend>{ "Start" }</legend>
                    <label class="choice">
                        <input type="checkbox" id="open-at-login" checked={on} onchange={set_open_at_login} />
                        { "Open at login, in the tray" }
                    </label>
                    <p class="muted">{ "Live Orders starts quietly when you log in to your computer, so updates reach you without opening it." }</p>
                    if let Some(e) = (*open_at_login_error).clone() {
                        <p class="error" role="alert">{ e.explain() }</p>
                    }
                </fieldset>
            }
            <Updates settings={current.clone()} save={Callback::from(save.clone())} />
            <MapTiles settings={current.clone()} saved={Callback::from({
                let settings = settings.clone();
                move |next: Settings| settings.set(Some(next))
            })} />
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

#[derive(Properties, PartialEq)]
struct UpdatesProps {
    settings: Settings,
    save: Callback<Settings>,
}

/// The version running, the last check's outcome, the update server, and "Install" for an offered version:
/// nothing is downloaded or installed before the customer presses it.
#[function_component(Updates)]
fn updates(p: &UpdatesProps) -> Html {
    let store = use_store();
    let server = use_node_ref();
    let Some(state) = store.update.clone() else { return html! {} };
    let ask = |call: fn(&StoreHandle)| {
        let store = store.clone();
        Callback::from(move |_| call(&store))
    };
    let check = ask(|store| {
        let store = store.clone();
        wasm_bindgen_futures::spawn_local(async move {
            if let Ok(u) = api::call::<shell::CheckForUpdate>(&()).await {
                store.dispatch(Action::Update(u));
            }
        });
    });
    let install = ask(|store| {
        let store = store.clone();
        wasm_bindgen_futures::spawn_local(async move {
            if let Ok(u) = api::call::<shell::InstallUpdate>(&()).await {
                store.dispatch(Action::Update(u));
            }
        });
    });
    let save_server = {
        let (server, settings, save) = (server.clone(), p.settings.clone(), p.save.clone());
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let url = server.cast::<HtmlInputElement>().map(|i| i.value()).unwrap_or_default();
            let url = Some(url.trim().to_owned()).filter(|u| !u.is_empty());
            save.emit(Settings { update_url: url, ..settings.clone() });
        })
    };
    let busy = matches!(state.status, UpdateStatus::Checking | UpdateStatus::Downloading { .. });
    html! {
        <form class="card" id="updates" onsubmit={save_server}>
            <fieldset>
                <legend>{ "Updates" }</legend>
                <p>{ format!("You have version {}.", state.current) }</p>
                <p id="update-status" role="status" data-kind={kind(&state)}>{ words(&state) }</p>
                if let UpdateStatus::Available { version, notes } = &state.status {
                    if let Some(notes) = notes {
                        <p class="muted" id="update-notes">{ notes.clone() }</p>
                    }
                    <button type="button" class="primary" id="install-update" onclick={install}>
                        { format!("Install version {version}") }
                    </button>
                }
                <label>{ "Update server" }
                    <input ref={server} name="update-url" type="url" placeholder="https://…/latest.json"
                           value={p.settings.update_url.clone().unwrap_or_default()} />
                </label>
                <div class="actions">
                    <button type="submit" id="save-update-url">{ "Save" }</button>
                    <button type="button" id="check-updates" onclick={check} disabled={busy}>{ "Check for updates" }</button>
                </div>
            </fieldset>
        </form>
    }
}

fn kind(state: &UpdateState) -> &'static str {
    match state.status {
        UpdateStatus::Unknown => "unknown",
        UpdateStatus::Checking => "checking",
        UpdateStatus::UpToDate => "up_to_date",
        UpdateStatus::Available { .. } => "available",
        UpdateStatus::Downloading { .. } => "downloading",
        UpdateStatus::Installed { .. } => "installed",
        UpdateStatus::Failed { .. } => "failed",
    }
}

fn words(state: &UpdateState) -> String {
    match &state.status {
        UpdateStatus::Unknown => "Not checked yet.".to_owned(),
        UpdateStatus::Checking => "Looking for updates…".to_owned(),
        UpdateStatus::UpToDate => "You have the latest version.".to_owned(),
        UpdateStatus::Available { version, .. } => format!("Version {version} is available."),
        UpdateStatus::Downloading { version, received, total } => match total {
            Some(total) if *total > 0 => format!("Downloading version {version}: {}%", received * 100 / total),
            _ => format!("Downloading version {version}: {} KiB", received / 1024),
        },
        UpdateStatus::Installed { version } => {
            format!("Version {version} is installed. It runs from the next start of Live Orders.")
        }
        UpdateStatus::Failed { message } => message.clone(),
    }
}

#[derive(Properties, PartialEq)]
struct MapTilesProps {
    settings: Settings,
    saved: Callback<Settings>,
}

/// Where the map's tiles come from. The shell refuses a source that cannot be used, in words shown here; a
/// saved source with a new server reloads the page, whose policy then lets images come from that server only.
#[function_component(MapTiles)]
fn map_tiles(p: &MapTilesProps) -> Html {
    let (template, attribution) = (use_node_ref(), use_node_ref());
    let problem = use_state(|| None::<CommandError>);
    let onsubmit = {
        let (template, attribution, problem) = (template.clone(), attribution.clone(), problem.clone());
        let (settings, saved) = (p.settings.clone(), p.saved.clone());
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let value = |r: &NodeRef| {
                let v = r.cast::<HtmlInputElement>().map(|i| i.value()).unwrap_or_default();
                Some(v.trim().to_owned()).filter(|v| !v.is_empty())
            };
            let next =
                Settings { map_tiles: value(&template), map_attribution: value(&attribution), ..settings.clone() };
            let (problem, saved) = (problem.clone(), saved.clone());
            wasm_bindgen_futures::spawn_local(async move {
                match api::call::<shell::SaveSettings>(&next).await {
                    Ok(()) => {
                        problem.set(None);
                        saved.emit(next);
                    }
                    Err(e) => problem.set(Some(e)),
                }
            });
        })
    };
    let source = p.settings.tile_source();
    html! {
        <form class="card" id="map-tiles" {onsubmit}>
            <fieldset>
                <legend>{ "Map" }</legend>
                <p class="muted" id="map-source">{ format!("Map tiles come from {} ({}).", source.origin, source.attribution) }</p>
                <label>{ "Map tiles address" }
                    <input ref={template} name="map-tiles" type="text" inputmode="url" spellcheck="false"
                           placeholder={order_protocol::tiles::DEFAULT_TEMPLATE}
                           value={p.settings.map_tiles.clone().unwrap_or_default()} />
                </label>
                <label>{ "Attribution the tile provider requires" }
                    <input ref={attribution} name="map-attribution" type="text"
                           placeholder={order_protocol::tiles::DEFAULT_ATTRIBUTION}
                           value={p.settings.map_attribution.clone().unwrap_or_default()} />
                </label>
                <p class="muted">{ "Leave both empty for the built-in map. The tile server learns which map tiles are shown, never your address or the driver's position." }</p>
                if let Some(e) = (*problem).clone() {
                    <p class="error" id="map-problem" role="alert">{ e.explain() }</p>
                }
                <div class="actions"><button type="submit" id="save-map">{ "Save" }</button></div>
            </fieldset>
        </form>
    }
}
