//! Orders: reads, and the three mutations (place, set status, patch delivery), each one transaction that also
//! appends to the change log.

use chrono::{DateTime, Utc};
use order_protocol::{Address, Delivery, DeliveryPatch, DeliveryStatus, Item, Order, Stats, Status, StatusEntry, User};

use super::{new_id, now, EventRow, Result, Store, StoreError};
use crate::events::{self, Context, NewNotification};

/// What a customer sends to place an order.
#[derive(Clone, Debug)]
pub struct OrderInput {
    pub items: Vec<Item>,
    pub delivery_address: Address,
}

/// The result of a mutation: the order as it is now, and the change's `seq` (`None` when nothing changed).
#[derive(Clone, Debug)]
pub struct Applied {
    pub order: Order,
    pub seq: Option<u64>,
}

const MAX_ITEMS: usize = 50;
const MAX_TEXT: usize = 200;

fn validate(input: &OrderInput) -> Result<()> {
    let bad = |m: String| Err(StoreError::Invalid(m));
    if input.items.is_empty() {
        return bad("an order needs at least one item".into());
    }
    if input.items.len() > MAX_ITEMS {
        return bad(format!("an order can hold at most {MAX_ITEMS} items"));
    }
    for item in &input.items {
        if item.name.trim().is_empty() || item.name.len() > MAX_TEXT {
            return bad(format!("an item name must be 1 to {MAX_TEXT} characters"));
        }
        if item.quantity == 0 || item.quantity > 1000 {
            return bad(format!("the quantity of `{}` must be between 1 and 1000", item.name));
        }
        if !item.price.is_finite() || item.price < 0.0 || item.price > 100_000.0 {
            return bad(format!("the price of `{}` must be between 0 and 100000", item.name));
        }
    }
    let a = &input.delivery_address;
    if a.street.len() > MAX_TEXT || a.city.len() > MAX_TEXT {
        return bad(format!("address fields are limited to {MAX_TEXT} characters"));
    }
    if a.lat.is_some_and(|v| !(-90.0..=90.0).contains(&v)) || a.lng.is_some_and(|v| !(-180.0..=180.0).contains(&v)) {
        return bad("the delivery address has an invalid position".into());
    }
    Ok(())
}

/// Whether the store may move an order from `from` to `to`: forward along the flow, or cancel a live order.
pub fn check_transition(order: &Order, to: Status) -> Result<()> {
    let from = order.status;
    if to == Status::Unknown {
        return Err(StoreError::Invalid("unknown status".into()));
    }
    if from.is_final() {
        return Err(StoreError::Conflict(format!(
            "order {} is {} and can no longer change",
            order.order_number,
            from.as_str()
        )));
    }
    if to != Status::Cancelled && to.rank() < from.rank() {
        return Err(StoreError::Conflict(format!(
            "order {} cannot go back from {} to {}",
            order.order_number,
            from.as_str(),
            to.as_str()
        )));
    }
    Ok(())
}

fn parse_doc(doc: &str) -> Result<Order> {
    Ok(serde_json::from_str(doc)?)
}

/// The statements a change of an order needs inside the writer's transaction, on either database (SQLite's
/// through rusqlite on the writer thread, whose futures are ready at once; PostgreSQL's through sqlx, gathering
/// the log's rows for one write per batch). The rules of a change (`apply`, `log_change`) are written once over
/// it, and refuse a change (not found, invalid, a conflict) before its first write.
pub(super) trait WriteTx {
    /// The number of the next order (`ORD-<n>`).
    async fn next_order_number(&mut self) -> Result<i64>;
    async fn insert_order(&mut self, num: i64, order: &Order, doc: &str) -> Result<()>;
    /// An order's stored JSON and its customer's name.
    async fn order_and_name(&mut self, id: &str) -> Result<Option<(String, Option<String>)>>;
    async fn update_order(&mut self, order: &Order, doc: &str) -> Result<()>;
    /// Appends a `changes` row and returns its `seq`: the next number, in commit order.
    async fn insert_change(&mut self, order: &Order, kind: &str, at: &str) -> Result<u64>;
    /// Adds `delta` to the kept count of `scope`'s orders in `status`.
    async fn add_count(&mut self, scope: &str, status: &str, delta: i64) -> Result<()>;
    /// The kept counts of `scope`, as (status, count).
    async fn counts(&mut self, scope: &str) -> Result<Vec<(String, i64)>>;
    async fn insert_event(&mut self, seq: u64, idx: u32, event: &str, audience: u8, payload: &str) -> Result<()>;
    async fn insert_notification(&mut self, n: &NewNotification, seq: u64) -> Result<()>;
}

/// How a mutation changes an order, given the time of the change.
pub(super) type Change = Box<dyn FnOnce(&mut Order, DateTime<Utc>) -> Result<()> + Send>;

/// One change of the orders, as the writer queues it.
pub(super) enum Mutation {
    Place { customer: User, input: OrderInput },
    Change { order_id: String, kind: &'static str, change: Change },
}

/// Runs one mutation in the writer's transaction, appending the events it commits to `events`.
pub(super) async fn apply(tx: &mut impl WriteTx, mutation: Mutation, events: &mut Vec<EventRow>) -> Result<Applied> {
    match mutation {
        Mutation::Place { customer, input } => {
            let num = tx.next_order_number().await?;
            let t = now();
            let total = input.items.iter().map(|i| i.price * f64::from(i.quantity)).sum::<f64>();
            let order = Order {
                id: new_id(),
                order_number: format!("ORD-{num}"),
                customer: customer.id.clone(),
                total_amount: (total * 100.0).round() / 100.0,
                items: input.items,
                status: Status::Pending,
                status_history: vec![StatusEntry { status: Status::Pending, timestamp: t }],
                delivery_address: Some(input.delivery_address),
                delivery: Some(Delivery::default()),
                created_at: t,
                updated_at: t,
            };
            tx.insert_order(num, &order, &serde_json::to_string(&order)?).await?;
            let seq = log_change(tx, events, None, &order, "placed", &customer.name).await?;
            Ok(Applied { order, seq: Some(seq) })
        }
        Mutation::Change { order_id, kind, change } => {
            let Some((doc, name)) = tx.order_and_name(&order_id).await? else {
                return Err(StoreError::NotFound(format!("order {order_id}")));
            };
            let before = parse_doc(&doc)?;
            let mut order = before.clone();
            let t = now();
            change(&mut order, t)?;
            if order == before {
                return Ok(Applied { order, seq: None });
            }
            order.updated_at = t.max(before.updated_at);
            tx.update_order(&order, &serde_json::to_string(&order)?).await?;
            let name = name.unwrap_or_else(|| String::from("a customer"));
            let seq = log_change(tx, events, Some(&before), &order, kind, &name).await?;
            Ok(Applied { order, seq: Some(seq) })
        }
    }
}

/// Order counts by status: the customer's, or every order's (`None`), from the counts every change keeps.
async fn stats(tx: &mut impl WriteTx, customer: Option<&str>) -> Result<Stats> {
    let mut s = Stats::default();
    for (status, n) in tx.counts(customer.unwrap_or(ALL_ORDERS)).await? {
        s.count(Status::parse(&status).unwrap_or(Status::Unknown), n.max(0) as u64);
    }
    Ok(s)
}

/// The `order_counts` scope of every order.
const ALL_ORDERS: &str = "*";

/// Moves one order from `before`'s status (none: a new order) to `after`'s in the kept counts.
async fn count_change(tx: &mut impl WriteTx, before: Option<&Order>, after: &Order) -> Result<()> {
    if before.is_some_and(|b| b.status == after.status) {
        return Ok(());
    }
    for scope in [after.customer.as_str(), ALL_ORDERS] {
        if let Some(b) = before {
            tx.add_count(scope, b.status.as_str(), -1).await?;
        }
        tx.add_count(scope, after.status.as_str(), 1).await?;
    }
    Ok(())
}

impl Store {
    /// All orders of a customer, or every order (`None`, for store owners); newest first.
    pub async fn orders(&self, customer: Option<&str>) -> Result<Vec<Order>> {
        let rows: Vec<(String,)> = match customer {
            Some(c) => {
                sqlx::query_as("SELECT doc FROM orders WHERE customer_id = $1 ORDER BY num DESC")
                    .bind(c)
                    .fetch_all(&self.pool)
                    .await?
            }
            None => sqlx::query_as("SELECT doc FROM orders ORDER BY num DESC").fetch_all(&self.pool).await?,
        };
        rows.iter().map(|(d,)| parse_doc(d)).collect()
    }

    pub async fn order(&self, id: &str) -> Result<Option<Order>> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT doc FROM orders WHERE id = $1").bind(id).fetch_optional(&self.pool).await?;
        row.map(|(d,)| parse_doc(&d)).transpose()
    }

    /// Places a new order for `customer` (status `pending`).
    pub async fn place_order(&self, customer: &User, input: OrderInput) -> Result<Applied> {
        validate(&input)?;
        self.writer.write(Mutation::Place { customer: customer.clone(), input }).await
    }

    /// Moves an order to `status`. Setting the status it already has changes nothing and logs nothing.
    pub async fn set_status(&self, order_id: &str, status: Status) -> Result<Applied> {
        self.mutate(order_id, "status", move |order, t| {
            if order.status == status {
                return Ok(());
            }
            check_transition(order, status)?;
            order.status = status;
            order.status_history.push(StatusEntry { status, timestamp: t });
            let delivery = order.delivery.get_or_insert_with(Delivery::default);
            match status {
                Status::OutForDelivery => delivery.delivery_status = DeliveryStatus::InTransit,
                Status::Delivered => {
                    delivery.delivery_status = DeliveryStatus::Delivered;
                    delivery.estimated_delivery = None;
                }
                Status::Cancelled => delivery.delivery_status = DeliveryStatus::Cancelled,
                _ => {}
            }
            Ok(())
        })
        .await
    }

    /// Changes delivery fields; absent fields stay as they are.
    pub async fn patch_delivery(&self, order_id: &str, patch: DeliveryPatch) -> Result<Applied> {
        if let Some(l) = patch.location {
            if !(-90.0..=90.0).contains(&l.lat) || !(-180.0..=180.0).contains(&l.lng) {
                return Err(StoreError::Invalid("the location is not a valid position".into()));
            }
        }
        if patch.driver.as_ref().is_some_and(|d| d.name.len() > MAX_TEXT || d.phone.len() > MAX_TEXT) {
            return Err(StoreError::Invalid(format!("driver fields are limited to {MAX_TEXT} characters")));
        }
        if patch.delivery_status == Some(DeliveryStatus::Unknown) {
            return Err(StoreError::Invalid("unknown deliveryStatus".into()));
        }
        self.mutate(order_id, "delivery", move |order, _| {
            if order.status.is_final() {
                return Err(StoreError::Conflict(format!(
                    "order {} is {} and its delivery can no longer change",
                    order.order_number,
                    order.status.as_str()
                )));
            }
            let d = order.delivery.get_or_insert_with(Delivery::default);
            if let Some(v) = patch.driver {
                d.driver = Some(v);
            }
            if let Some(v) = patch.location {
                d.location = Some(v);
            }
            if let Some(v) = patch.estimated_delivery {
                d.estimated_delivery = Some(v);
            }
            if let Some(v) = patch.delivery_status {
                d.delivery_status = v;
            }
            Ok(())
        })
        .await
    }

    /// Read, change, write and log one order in one transaction (on the writer).
    async fn mutate(
        &self,
        order_id: &str,
        kind: &'static str,
        change: impl FnOnce(&mut Order, DateTime<Utc>) -> Result<()> + Send + 'static,
    ) -> Result<Applied> {
        self.writer.write(Mutation::Change { order_id: order_id.to_owned(), kind, change: Box::new(change) }).await
    }
}

/// Appends the change and its events (and notifications) to the log, inside the writer's transaction, and
/// the events to `events` for the dispatcher.
async fn log_change(
    tx: &mut impl WriteTx,
    events: &mut Vec<EventRow>,
    before: Option<&Order>,
    after: &Order,
    kind: &str,
    customer_name: &str,
) -> Result<u64> {
    let t = now();
    let seq = tx.insert_change(after, kind, &t.to_rfc3339()).await?;
    count_change(tx, before, after).await?;
    let (customer_stats, store_stats) = if events::status_changed(before, after) {
        (stats(tx, Some(&after.customer)).await?, stats(tx, None).await?)
    } else {
        (Stats::default(), Stats::default())
    };
    let mut ids = new_id;
    let planned = events::plan(
        before,
        after,
        Context { seq, now: t, customer_name, customer_stats, store_stats, new_id: &mut ids },
    );
    for (idx, e) in planned.events.into_iter().enumerate() {
        tx.insert_event(seq, idx as u32, e.event, e.audience.0, e.payload.get()).await?;
        events.push(EventRow {
            seq,
            idx: idx as u32,
            event: e.event.to_owned(),
            audience: e.audience,
            payload: Some(e.payload),
            order_id: after.id.clone(),
            customer_id: after.customer.clone(),
        });
    }
    for n in &planned.notifications {
        tx.insert_notification(n, seq).await?;
    }
    Ok(seq)
}
