//! Toasts for new updates: stacked, dismissed after a few seconds, clickable to open their order.

use gloo::timers::callback::Timeout;
use yew::prelude::*;
use yew_router::prelude::*;

use crate::route::Route;
use crate::store::{use_store, Action, Toast};

const SHOW_MS: u32 = 6000;

#[function_component(Toasts)]
pub(crate) fn toasts() -> Html {
    let store = use_store();
    html! {
        <div class="toasts" aria-live="polite" aria-label="New updates">
            { for store.toasts.iter().map(|t| html! { <ToastCard key={t.key} toast={t.clone()} /> }) }
        </div>
    }
}

#[derive(Properties, PartialEq)]
struct ToastProps {
    toast: Toast,
}

#[function_component(ToastCard)]
fn toast_card(p: &ToastProps) -> Html {
    let store = use_store();
    let navigator = use_navigator();
    let key = p.toast.key;
    {
        let store = store.clone();
        use_effect_with(key, move |&key| {
            let t = Timeout::new(SHOW_MS, move || store.dispatch(Action::DismissToast(key)));
            move || drop(t)
        });
    }
    let onclick = {
        let order_id = p.toast.order_id.clone();
        Callback::from(move |_| {
            if let (Some(id), Some(nav)) = (order_id.clone(), navigator.clone()) {
                nav.push(&Route::Order { id });
            }
            store.dispatch(Action::DismissToast(key));
        })
    };
    html! {
        <button class="toast" {onclick}>
            <strong>{ &p.toast.title }</strong>
            <span>{ &p.toast.message }</span>
        </button>
    }
}
