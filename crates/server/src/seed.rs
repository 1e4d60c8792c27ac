//! The demo data `--seed` creates if absent: two customers, a store owner, and a few orders of each customer in
//! several statuses. Orders are made through the store's normal mutations, so the change log tells their story.

use order_protocol::{Address, DeliveryPatch, Driver, Item, LatLng, Role, Status, User};

use crate::store::{OrderInput, Result, Store};

/// The seeded accounts: (name, email, password, role).
pub const USERS: [(&str, &str, &str, Role); 3] = [
    ("Alice Martin", "alice@example.com", "alice-pass", Role::Customer),
    ("Bob Chen", "bob@example.com", "bob-pass", Role::Customer),
    ("Olivia Owner", "owner@example.com", "owner-pass", Role::StoreOwner),
];

fn item(name: &str, quantity: u32, price: f64) -> Item {
    Item { name: name.into(), quantity, price }
}

fn address(street: &str, lat: f64, lng: f64) -> Address {
    Address { street: street.into(), city: "Springfield".into(), lat: Some(lat), lng: Some(lng) }
}

/// Creates the users, then the orders of any seeded customer who has none yet.
pub async fn seed(store: &Store) -> Result<()> {
    let mut users: Vec<User> = Vec::new();
    for (name, email, password, role) in USERS {
        users.push(store.ensure_user(name, email, role, password).await?);
    }
    let alice = &users[0];
    let bob = &users[1];
    if store.orders(Some(&alice.id)).await?.is_empty() {
        let home = address("12 Elm Street", 40.7128, -74.0060);
        place(
            store,
            alice,
            vec![item("Margherita pizza", 1, 12.5), item("Lemonade", 2, 3.0)],
            &home,
            Status::Delivered,
        )
        .await?;
        place(store, alice, vec![item("Pad thai", 1, 11.0)], &home, Status::Preparing).await?;
        place(store, alice, vec![item("Caesar salad", 1, 9.5), item("Brownie", 1, 4.0)], &home, Status::Pending)
            .await?;
    }
    if store.orders(Some(&bob.id)).await?.is_empty() {
        let home = address("48 Oak Avenue", 40.7306, -73.9866);
        place(store, bob, vec![item("Sushi set", 1, 24.0)], &home, Status::OutForDelivery).await?;
        place(store, bob, vec![item("Burger", 2, 8.5), item("Fries", 1, 3.5)], &home, Status::Confirmed).await?;
        place(store, bob, vec![item("Ramen", 1, 13.0)], &home, Status::Cancelled).await?;
    }
    Ok(())
}

/// Places an order and walks it along the normal flow to `target` (cancelling directly for `Cancelled`).
async fn place(store: &Store, customer: &User, items: Vec<Item>, at: &Address, target: Status) -> Result<()> {
    let order = store.place_order(customer, OrderInput { items, delivery_address: at.clone() }).await?.order;
    if target == Status::Cancelled {
        store.set_status(&order.id, Status::Cancelled).await?;
        return Ok(());
    }
    let mut status = Status::Pending;
    while status != target {
        let Some(next) = status.next() else { break };
        if next == Status::OutForDelivery {
            let patch = DeliveryPatch {
                driver: Some(Driver { name: "Sam Rivera".into(), phone: "+1 555 0100".into() }),
                location: Some(LatLng { lat: at.lat.unwrap_or_default() + 0.01, lng: at.lng.unwrap_or_default() }),
                estimated_delivery: Some(crate::store::now() + chrono::Duration::minutes(20)),
                delivery_status: None,
            };
            store.patch_delivery(&order.id, patch).await?;
        }
        store.set_status(&order.id, next).await?;
        status = next;
    }
    Ok(())
}
