//! Order history: every order with a live status badge, newest first, updating in place.

use std::sync::Arc;

use order_protocol::OrderView;
use yew::prelude::*;
use yew_router::prelude::*;

use crate::components::status::StatusBadge;
use crate::format;
use crate::route::Route;
use crate::store::use_store;

#[function_component(Orders)]
pub(crate) fn orders() -> Html {
    let store = use_store();
    html! {
        <section aria-labelledby="orders-title">
            <h1 id="orders-title">{ "Your orders" }</h1>
            <OrderList orders={store.view.orders.clone()} />
        </section>
    }
}

#[derive(Properties, PartialEq)]
pub(crate) struct OrderListProps {
    pub(crate) orders: Vec<Arc<OrderView>>,
}

#[function_component(OrderList)]
pub(crate) fn order_list(p: &OrderListProps) -> Html {
    if p.orders.is_empty() {
        return html! { <p class="muted">{ "No orders yet." }</p> };
    }
    html! {
        <ul class="orders">
            { for p.orders.iter().map(|o| html! {
                <li key={o.id.clone()} class="order-row" data-order-id={o.id.clone()} data-status={o.status.as_str()}>
                    <Link<Route> to={Route::Order { id: o.id.clone() }}>
                        <span class="num">{ &o.order_number }</span>
                        <StatusBadge status={o.status} />
                        <span class="muted">{ format!("{} item(s)", o.items.iter().map(|i| i.quantity).sum::<u32>()) }</span>
                        <span class="total">{ format::money(o.total_amount) }</span>
                        <span class="muted when">{ format::time(o.updated_at) }</span>
                    </Link<Route>>
                </li>
            }) }
        </ul>
    }
}
