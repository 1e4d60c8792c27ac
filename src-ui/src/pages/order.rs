//! Tracking one order: progress; while out for delivery, the driver on a map with the distance left and the
//! age of their position; the status timeline with times and the ETA's moves; the delivery card (driver,
//! phone, ETA as a time and a countdown that turns into "running late"); items and total. It follows the
//! order's room while open.

use std::sync::Arc;

use order_protocol::delivery::{self, Eta, Freshness};
use order_protocol::shell::{self, OrderArgs};
use order_protocol::tiles::TileSource;
use order_protocol::{DeliveryStatus, LatLng, OrderView, Status};
use yew::prelude::*;
use yew_router::prelude::*;

use crate::api;
use crate::components::clock::use_now;
use crate::components::map::DeliveryMap;
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
            <WhereNow order={order.clone()} />
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

/// One line of the timeline: a status the order entered, or a move of its ETA.
struct Step {
    status: Option<&'static str>,
    class: Option<&'static str>,
    what: String,
}

#[function_component(Timeline)]
fn timeline(p: &Props) -> Html {
    let statuses =
        p.order.timeline.iter().map(|e| {
            (e.at, Step { status: Some(e.status.as_str()), class: None, what: e.status.display().to_owned() })
        });
    let eta_moves = p.order.tracking.eta_moves.iter().map(|m| {
        (m.at, Step { status: None, class: Some("eta-move"), what: delivery::eta_moved_text(&format::time(m.to)) })
    });
    let mut steps: Vec<_> = statuses.chain(eta_moves).collect();
    steps.sort_by_key(|(at, _)| *at);
    html! {
        <section class="card" aria-labelledby="tl-title">
            <h2 id="tl-title">{ "Timeline" }</h2>
            <ol class="timeline" id="timeline" aria-live="polite">
                { for steps.into_iter().map(|(at, step)| html! {
                    <li data-status={step.status} class={step.class}>
                        <span class="what">{ step.what }</span>
                        <time datetime={at.to_rfc3339()}>{ format::time(at) }</time>
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
    let done = matches!(d.delivery_status, DeliveryStatus::Delivered | DeliveryStatus::Cancelled);
    html! {
        <section class="card" id="delivery" aria-labelledby="dl-title" aria-live="polite">
            <h2 id="dl-title">{ "Delivery" }</h2>
            <p class="dl-status">{ status }</p>
            if let Some(driver) = d.driver.clone() {
                <p id="driver">{ "Driver: " }<strong>{ driver.name }</strong>
                    if !driver.phone.is_empty() { { " · " }<a href={format!("tel:{}", driver.phone)}>{ driver.phone.clone() }</a> }
                </p>
            }
            if let Some(eta) = d.estimated_delivery.filter(|_| !done) {
                <p id="eta" data-eta={Eta::of(eta, now).kind()}>{ format!("Arriving around {} ", format::time(eta)) }
                    <span class="countdown">{ format!("({})", Eta::of(eta, now).words()) }</span></p>
            }
        </section>
    }
}

/// While the order is out for delivery and the driver's position is known: the map, a legend, and the same
/// facts as text (the distance left, the position's age, a warning when it is stale).
#[function_component(WhereNow)]
fn where_now(p: &Props) -> Html {
    let now = use_now(1000);
    let Some(d) = p.order.delivery.as_ref() else { return html! {} };
    let done = matches!(d.delivery_status, DeliveryStatus::Delivered | DeliveryStatus::Cancelled);
    let Some(driver) = d.location.filter(|_| p.order.status == Status::OutForDelivery && !done) else {
        return html! {};
    };
    let home = p.order.delivery_address.as_ref().and_then(|a| Some(LatLng { lat: a.lat?, lng: a.lng? }));
    let age = p.order.tracking.located_at.map(|at| delivery::position_age(at, now));
    html! {
        <section class="card where-now" id="where-now" aria-labelledby="where-title">
            <h2 id="where-title">{ "On the way to you" }</h2>
            <DeliveryMapCard driver={driver} home={home} />
            <p class="map-legend" aria-hidden="true">
                <span class="swatch marker-driver"></span>{ "Driver" }
                if home.is_some() { <span class="swatch marker-home"></span>{ "Your address" } }
            </p>
            if let Some(distance) = delivery::distance_left(Some(driver), home) {
                <p id="distance-left">{ distance }</p>
            }
            if let Some(age) = age {
                <p id="last-seen" class={classes!((age.freshness == Freshness::Stale).then_some("warning"))}
                   data-freshness={if age.freshness == Freshness::Stale { "stale" } else { "fresh" }}>{ age.text }</p>
            }
        </section>
    }
}

#[derive(Properties, PartialEq)]
struct MapCardProps {
    driver: LatLng,
    home: Option<LatLng>,
}

/// The map, once the tile source in Settings is known.
#[function_component(DeliveryMapCard)]
fn delivery_map_card(p: &MapCardProps) -> Html {
    let source = use_state(|| None::<TileSource>);
    {
        let source = source.clone();
        use_effect_with((), move |_| {
            wasm_bindgen_futures::spawn_local(async move {
                if let Ok(s) = api::call::<shell::GetSettings>(&()).await {
                    source.set(Some(s.tile_source()));
                }
            });
        });
    }
    let Some(source) = (*source).clone() else { return html! {} };
    let label = match delivery::distance_left(Some(p.driver), p.home) {
        Some(d) => format!("Map of the delivery: the driver is {d}."),
        None => "Map of the delivery: where the driver is.".to_owned(),
    };
    html! { <DeliveryMap driver={p.driver} home={p.home} source={source} label={label} /> }
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
