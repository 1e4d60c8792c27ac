//! Tracking one order: progress, the status timeline with times, the delivery card (driver, phone, ETA as a
//! time and a live countdown, last location), items and total. It follows the order's room while open.

use std::sync::Arc;

use order_protocol::shell::{self, OrderArgs};
use order_protocol::{DeliveryStatus, OrderView};
use yew::prelude::*;
use yew_router::prelude::*;

use crate::api;
use crate::components::clock::use_now;
use crate::components::status::{ProgressBar, StatusBadge};
use crate::format;
use crate::route::Route;
use crate::store::use_store;

#[derive(Properties, PartialEq)]
pub(crate) struct OrderProps {
    pub(crate) id: String,
}

#[function_component(OrderPage)]
pub(crate) fn order_page(p: &OrderProps) -> Html {
    let store = use_store();
    // Follow the order's room while the page is open.
    use_effect_with(p.id.clone(), |id| {
        api::fire::<shell::WatchOrder>(OrderArgs { order_id: id.clone() });
        let id = id.clone();
        move || api::fire::<shell::UnwatchOrder>(OrderArgs { order_id: id })
    });
    let Some(order) = store.view.orders.iter().find(|o| o.id == p.id).cloned() else {
        return html! {
            <section>
                <p id="order-missing">{ "This order is not among your orders. If a link brought you here, check that you are signed in with the account you ordered with." }</p>
                <Link<Route> to={Route::Orders}>{ "All orders" }</Link<Route>>
            </section>
        };
    };
    html! {
        <article class="order-page" data-order-id={order.id.clone()} data-status={order.status.as_str()} aria-labelledby="order-title">
            <div class="order-head">
                <h1 id="order-title">{ format!("Order {}", order.order_number) }</h1>
                <StatusBadge status={order.status} />
            </div>
            <ProgressBar status={order.status} progress={order.progress} />
            <div class="grid">
                <Timeline order={order.clone()} />
                <DeliveryCard order={order.clone()} />
                <Items order={order} />
            </div>
        </article>
    }
}

#[derive(Properties, PartialEq)]
struct Props {
    order: Arc<OrderView>,
}

#[function_component(Timeline)]
fn timeline(p: &Props) -> Html {
    html! {
        <section class="card" aria-labelledby="tl-title">
            <h2 id="tl-title">{ "Timeline" }</h2>
            <ol class="timeline" id="timeline" aria-live="polite">
                { for p.order.timeline.iter().map(|e| html! {
                    <li data-status={e.status.as_str()}>
                        <span class="what">{ e.status.display() }</span>
                        <time datetime={e.at.to_rfc3339()}>{ format::time(e.at) }</time>
                    </li>
                }) }
            </ol>
        </section>
    }
}

#[function_component(DeliveryCard)]
fn delivery_card(p: &Props) -> Html {
    let now = use_now(1000);
    let Some(d) = p.order.delivery.clone() else {
        return html! { <section class="card" id="delivery"><h2>{ "Delivery" }</h2><p class="muted">{ "Not dispatched yet." }</p></section> };
    };
    let status = match d.delivery_status {
        DeliveryStatus::NotDispatched => "Not dispatched yet",
        DeliveryStatus::InTransit => "On the way",
        DeliveryStatus::Delivered => "Delivered",
        DeliveryStatus::Cancelled => "Cancelled",
        DeliveryStatus::Unknown => "Unknown",
    };
    html! {
        <section class="card" id="delivery" aria-labelledby="dl-title" aria-live="polite">
            <h2 id="dl-title">{ "Delivery" }</h2>
            <p class="dl-status">{ status }</p>
            if let Some(driver) = d.driver.clone() {
                <p id="driver">{ "Driver: " }<strong>{ driver.name }</strong>
                    if !driver.phone.is_empty() { { " · " }<a href={format!("tel:{}", driver.phone)}>{ driver.phone.clone() }</a> }
                </p>
            }
            if let Some(eta) = d.estimated_delivery {
                if d.delivery_status != DeliveryStatus::Delivered {
                    <p id="eta">{ format!("Arriving around {} ", format::time(eta)) }
                        <span class="countdown">{ format!("({})", format::countdown(eta, now)) }</span></p>
                }
            }
            if let Some(loc) = d.location {
                <p class="muted" id="location">{ format!("Last seen at {:.4}, {:.4}", loc.lat, loc.lng) }</p>
            }
        </section>
    }
}

#[function_component(Items)]
fn items(p: &Props) -> Html {
    let o = &p.order;
    html! {
        <section class="card" aria-labelledby="it-title">
            <h2 id="it-title">{ "Items" }</h2>
            <ul class="items">
                { for o.items.iter().map(|i| html! {
                    <li><span>{ format!("{} × {}", i.quantity, i.name) }</span><span>{ format::money(i.price * f64::from(i.quantity)) }</span></li>
                }) }
            </ul>
            <p class="total"><span>{ "Total" }</span><strong>{ format::money(o.total_amount) }</strong></p>
            if let Some(a) = &o.delivery_address {
                <p class="muted">{ format!("To {}, {}", a.street, a.city) }</p>
            }
            <p class="muted">{ format!("Placed {}", format::time(o.created_at)) }</p>
        </section>
    }
}
