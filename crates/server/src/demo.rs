//! The `--demo` simulator: moves open orders along every few seconds, dispatches drivers, moves them towards
//! the customer and updates their ETA, and now and then places a new order, all through the store's normal
//! mutations, so what a user sees in demo mode is exactly what a real store would produce.

use std::time::Duration;

use order_protocol::{Address, DeliveryPatch, DeliveryStatus, Driver, Item, LatLng, Order, Status};
use rand::seq::IndexedRandom;
use rand::Rng;
use tokio::sync::watch;

use crate::store::{now, OrderInput, Result, Store};

const DRIVERS: [(&str, &str); 3] =
    [("Sam Rivera", "+1 555 0100"), ("Priya Nair", "+1 555 0101"), ("Lucas Moreau", "+1 555 0102")];
const MENU: [(&str, f64); 6] = [
    ("Margherita pizza", 12.5),
    ("Pad thai", 11.0),
    ("Sushi set", 24.0),
    ("Burger", 8.5),
    ("Fries", 3.5),
    ("Lemonade", 3.0),
];

pub async fn run(store: Store, every: Duration, mut stop: watch::Receiver<bool>) {
    tracing::info!(every_ms = every.as_millis() as u64, "demo simulator running");
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        if let Err(e) = step(&store).await {
            tracing::warn!(error = %e, "demo step failed");
        }
    }
}

/// One simulator step: move a driver, advance an order, or place a new one.
pub async fn step(store: &Store) -> Result<()> {
    let orders = store.orders(None).await?;
    let open: Vec<&Order> = orders.iter().filter(|o| !o.status.is_final()).collect();
    let roll: f64 = rand::rng().random();
    let in_transit: Vec<&Order> = open.iter().copied().filter(|o| o.status == Status::OutForDelivery).collect();
    if open.len() < 3 || roll < 0.15 {
        return place_random(store).await;
    }
    let driving = in_transit.choose(&mut rand::rng()).copied();
    if let (true, Some(order)) = (roll < 0.45, driving) {
        return drive(store, order).await;
    }
    let Some(order) = open.choose(&mut rand::rng()).copied() else { return Ok(()) };
    let Some(next) = order.status.next() else { return Ok(()) };
    if next == Status::OutForDelivery {
        let (name, phone) = DRIVERS[rand::rng().random_range(0..DRIVERS.len())];
        let start = destination(order).map(|p| LatLng { lat: p.lat + 0.02, lng: p.lng + 0.02 });
        let patch = DeliveryPatch {
            driver: Some(Driver { name: name.into(), phone: phone.into() }),
            location: start,
            estimated_delivery: Some(now() + chrono::Duration::minutes(15)),
            delivery_status: None,
        };
        store.patch_delivery(&order.id, patch).await?;
    }
    store.set_status(&order.id, next).await?;
    Ok(())
}

fn destination(order: &Order) -> Option<LatLng> {
    let a = order.delivery_address.as_ref()?;
    Some(LatLng { lat: a.lat?, lng: a.lng? })
}

/// Moves the driver halfway to the customer and brings the ETA closer.
async fn drive(store: &Store, order: &Order) -> Result<()> {
    let delivery = order.delivery.clone().unwrap_or_default();
    if delivery.delivery_status != DeliveryStatus::InTransit {
        return Ok(());
    }
    let (Some(to), Some(at)) = (destination(order), delivery.location) else { return Ok(()) };
    let location = LatLng { lat: (at.lat + to.lat) / 2.0, lng: (at.lng + to.lng) / 2.0 };
    let eta = delivery.estimated_delivery.map(|t| {
        let left = (t - now()) / 2;
        now() + left.max(chrono::Duration::minutes(1))
    });
    let patch = DeliveryPatch { location: Some(location), estimated_delivery: eta, ..Default::default() };
    store.patch_delivery(&order.id, patch).await?;
    Ok(())
}

async fn place_random(store: &Store) -> Result<()> {
    let customers = store.customers().await?;
    if customers.is_empty() {
        return Ok(());
    }
    // The thread-local generator is not Send: use it before the next await only.
    let (customer, input) = {
        let mut rng = rand::rng();
        let customer = &customers[rng.random_range(0..customers.len())];
        let n = rng.random_range(1..=3);
        let picked: Vec<_> = MENU.choose_multiple(&mut rng, n).collect();
        let items = picked
            .into_iter()
            .map(|(name, price)| Item { name: (*name).into(), quantity: rng.random_range(1..=2), price: *price })
            .collect();
        let delivery_address = Address {
            street: format!("{} Maple Road", rng.random_range(1..200)),
            city: "Springfield".into(),
            lat: Some(40.72 + rng.random_range(-0.02..0.02)),
            lng: Some(-74.0 + rng.random_range(-0.02..0.02)),
        };
        (customer, OrderInput { items, delivery_address })
    };
    store.place_order(customer, input).await?;
    Ok(())
}
