//! The dashboard: live stats (active, delivered, total) and the most recent orders.

use yew::prelude::*;

use crate::pages::orders::OrderList;
use crate::store::use_store;

#[function_component(Dashboard)]
pub(crate) fn dashboard() -> Html {
    let store = use_store();
    let s = store.view.stats;
    let name = store.view.user.as_ref().and_then(|u| u.name.clone()).unwrap_or_default();
    let stat = |id: &str, label: &str, n: u64| {
        html! {
            <div class="stat" id={id.to_owned()}><span class="n">{ n }</span><span class="label">{ label.to_owned() }</span></div>
        }
    };
    html! {
        <section aria-labelledby="dash-title">
            <h1 id="dash-title">{ if name.is_empty() { "Welcome".to_owned() } else { format!("Hello, {name}") } }</h1>
            <div class="stats" aria-live="polite">
                { stat("stat-active", "Active", s.active) }
                { stat("stat-delivered", "Delivered", s.delivered) }
                { stat("stat-total", "Total", s.total) }
            </div>
            <h2>{ "Recent orders" }</h2>
            <OrderList orders={store.view.orders.iter().take(5).cloned().collect::<Vec<_>>()} />
        </section>
    }
}
