//! The root: the store provider, the shell's events wired into it, the layout and the routes.
//! Signed out, every route shows the login screen.

use order_protocol::shell::{self, LinkRefused, OpenOrder, UpdateChanged, ViewPatches};
use order_protocol::LinkState;
use yew::prelude::*;
use yew_router::prelude::*;

use crate::api;
use crate::components::{bell::Bell, link::LinkIndicator, open_at_login::OpenAtLoginOffer, toasts::Toasts};
use crate::pages::{dashboard::Dashboard, login::Login, order::OrderPage, orders::Orders, settings::SettingsPage};
use crate::route::Route;
use crate::store::{refresh, Action, Store, StoreHandle};

#[function_component(App)]
pub(crate) fn app() -> Html {
    let store = use_reducer(Store::default);
    {
        let store = store.clone();
        use_effect_with((), move |_| {
            let s = store.clone();
            let listening = api::listen::<ViewPatches>(move |patches| {
                crate::perf::patches_arrived();
                s.dispatch(Action::Patches(patches));
            });
            // A click on a native notification, or a `liveorders://` link: show its order.
            let s = store.clone();
            let opening = api::listen::<OpenOrder>(move |id| {
                s.dispatch(Action::DismissLinkProblem);
                let _ = web_sys::window().map(|w| w.location().set_hash(&format!("/orders/{id}")));
            });
            wasm_bindgen_futures::spawn_local(opening);
            let s = store.clone();
            wasm_bindgen_futures::spawn_local(api::listen::<LinkRefused>(move |words| {
                s.dispatch(Action::LinkRefused(words))
            }));
            let s = store.clone();
            wasm_bindgen_futures::spawn_local(api::listen::<UpdateChanged>(move |u| s.dispatch(Action::Update(u))));
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

#[function_component(Shell)]
fn shell() -> Html {
    let store = crate::store::use_store();
    let signed_out = store.loaded && matches!(store.view.link, LinkState::LoggedOut { .. });
    // The window stays hidden until there is a first screen to show (`window_ready` in the shell).
    use_effect_with(store.loaded, |loaded| {
        if *loaded {
            api::fire::<shell::WindowReady>(());
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
            <main id="main">
                if let Some(words) = store.link_problem.clone() {
                    <p class="notice" id="link-problem" role="alert">
                        { words }
                        <button class="link-button" id="dismiss-link-problem"
                                onclick={ { let store = store.clone(); Callback::from(move |_| store.dispatch(Action::DismissLinkProblem)) } }>
                            { "Dismiss" }
                        </button>
                    </p>
                }
                if store.loaded && !signed_out { <OpenAtLoginOffer /> }
                { body }
            </main>
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
