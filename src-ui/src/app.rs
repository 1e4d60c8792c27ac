//! The root: the store provider, the shell's events wired into it, the layout and the routes.
//! Signed out, every route shows the login screen.

use order_protocol::shell::SessionInfo;
use order_protocol::{LinkState, Patch};
use yew::prelude::*;
use yew_router::prelude::*;

use crate::components::{bell::Bell, link::LinkIndicator, toasts::Toasts};
use crate::ipc;
use crate::pages::{dashboard::Dashboard, login::Login, order::OrderPage, orders::Orders, settings::SettingsPage};
use crate::store::{Action, Store, StoreHandle};

#[derive(Clone, Routable, PartialEq)]
pub enum Route {
    #[at("/")]
    Dashboard,
    #[at("/orders")]
    Orders,
    #[at("/orders/:id")]
    Order { id: String },
    #[at("/settings")]
    Settings,
    #[not_found]
    #[at("/404")]
    NotFound,
}

/// Reloads the session, and asks for the whole state, which arrives as a `Reset` among the patches
/// (start, login, logout).
pub fn refresh(store: &StoreHandle) {
    let store = store.clone();
    wasm_bindgen_futures::spawn_local(async move {
        if let Ok(info) = ipc::invoke::<_, SessionInfo>("session_info", &()).await {
            store.dispatch(Action::Session(info));
        }
        if let Err(e) = ipc::invoke::<_, ()>("resync", &()).await {
            web_sys::console::error_1(&format!("resync: {}", e.message).into());
        }
    });
}

#[function_component(App)]
pub fn app() -> Html {
    let store = use_reducer(Store::default);
    {
        let store = store.clone();
        use_effect_with((), move |_| {
            let s = store.clone();
            let listening = ipc::listen::<Vec<Patch>>(crate_patches_event(), move |patches| {
                // A session that ends on the server's side: fetch the reason for the login screen.
                let logged_out =
                    patches.iter().any(|p| matches!(p, Patch::Link { link: LinkState::LoggedOut { .. }, .. }));
                crate::perf::patches_arrived();
                s.dispatch(Action::Patches(patches));
                if logged_out {
                    let s = s.clone();
                    wasm_bindgen_futures::spawn_local(async move {
                        if let Ok(info) = ipc::invoke::<_, SessionInfo>("session_info", &()).await {
                            s.dispatch(Action::Session(info));
                        }
                    });
                }
            });
            // A click on a native notification: show its order.
            let opening = ipc::listen::<String>("open-order", |id| {
                let _ = web_sys::window().map(|w| w.location().set_hash(&format!("/orders/{id}")));
            });
            wasm_bindgen_futures::spawn_local(opening);
            // Ask for the state only once the listener is in place, or the reset could pass unheard.
            wasm_bindgen_futures::spawn_local(async move {
                listening.await;
                refresh(&store);
            });
        });
    }
    // Runs after every render of the tree below (the store lives here, so every patch renders from here).
    use_effect(crate::perf::rendered);
    html! {
        <ContextProvider<StoreHandle> context={store}>
            <HashRouter>
                <Shell />
            </HashRouter>
        </ContextProvider<StoreHandle>>
    }
}

/// The shell's patch event name (see `live_orders_lib::PATCHES_EVENT`).
fn crate_patches_event() -> &'static str {
    "view-patches"
}

#[function_component(Shell)]
fn shell() -> Html {
    let store = crate::store::use_store();
    let signed_out = store.loaded && matches!(store.view.link, LinkState::LoggedOut { .. });
    // The window stays hidden until there is a first screen to show (`window_ready` in the shell).
    use_effect_with(store.loaded, |loaded| {
        if *loaded {
            wasm_bindgen_futures::spawn_local(async {
                if let Err(e) = ipc::invoke::<_, ()>("window_ready", &()).await {
                    web_sys::console::error_1(&format!("window_ready: {}", e.message).into());
                }
            });
        }
    });
    let body = if !store.loaded {
        html! { <p class="muted" id="loading">{ "Loading your orders…" }</p> }
    } else if signed_out {
        html! { <Login /> }
    } else {
        html! { <Switch<Route> render={switch} /> }
    };
    html! {
        <>
            <a class="skip" href="#main">{ "Skip to content" }</a>
            <header class="top">
                <Link<Route> to={Route::Dashboard} classes="brand">{ "Live Orders" }</Link<Route>>
                if store.loaded && !signed_out {
                    <nav aria-label="Main">
                        <Link<Route> to={Route::Dashboard}>{ "Dashboard" }</Link<Route>>
                        <Link<Route> to={Route::Orders}>{ "Orders" }</Link<Route>>
                        <Link<Route> to={Route::Settings}>{ "Settings" }</Link<Route>>
                    </nav>
                    <LinkIndicator />
                    <Bell />
                }
            </header>
            <main id="main">{ body }</main>
            <Toasts />
        </>
    }
}

fn switch(route: Route) -> Html {
    match route {
        Route::Dashboard => html! { <Dashboard /> },
        Route::Orders => html! { <Orders /> },
        Route::Order { id } => html! { <OrderPage {id} /> },
        Route::Settings => html! { <SettingsPage /> },
        Route::NotFound => {
            html! { <p>{ "Nothing here. " }<Link<Route> to={Route::Dashboard}>{ "Back to the dashboard" }</Link<Route>></p> }
        }
    }
}
