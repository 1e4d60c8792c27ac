//! Watching an `order-client` engine from a test: every [`ClientEvent`] it emits is recorded with its time, and
//! a test waits for a condition over the record (never a fixed sleep), with generous limits for a loaded
//! machine.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use order_client::ClientEvent;
use order_protocol::{LinkState, OrderView, Patch, Status};
use tokio::sync::mpsc::UnboundedReceiver;

/// Logs of the code under test on the test's output, filtered by `RUST_LOG` (off by default).
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "off".into()))
        .with_test_writer()
        .try_init();
}

/// The recorded events of one engine.
#[derive(Clone, Default)]
pub struct EventLog {
    events: Arc<Mutex<Vec<(Instant, ClientEvent)>>>,
}

impl EventLog {
    /// Records everything `rx` delivers from now on.
    pub fn record(mut rx: UnboundedReceiver<ClientEvent>) -> EventLog {
        init_tracing();
        let log = EventLog::default();
        let events = log.events.clone();
        tokio::spawn(async move {
            while let Some(e) = rx.recv().await {
                events.lock().unwrap_or_else(|p| p.into_inner()).push((Instant::now(), e));
            }
        });
        log
    }

    pub fn all(&self) -> Vec<(Instant, ClientEvent)> {
        self.events.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn len(&self) -> usize {
        self.events.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Waits until `cond` holds over the events recorded so far.
    pub async fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        mut cond: impl FnMut(&[(Instant, ClientEvent)]) -> bool,
    ) -> Result<Instant> {
        let deadline = Instant::now() + timeout;
        loop {
            if cond(&self.all()) {
                return Ok(Instant::now());
            }
            if Instant::now() > deadline {
                bail!("timed out after {timeout:?} waiting for {what}; events: {:#?}", self.summary());
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Waits for a link state (by name: `live`, `connecting`, `offline`, `logged_out`) recorded at index `from`
    /// or later; returns its index.
    pub async fn wait_link(&self, state: &str, from: usize, timeout: Duration) -> Result<usize> {
        let mut found = 0;
        self.wait_for(&format!("link {state}"), timeout, |ev| {
            match ev.iter().enumerate().skip(from).find(|(_, (_, e))| link_of(e).is_some_and(|l| l.name() == state)) {
                Some((i, _)) => {
                    found = i;
                    true
                }
                None => false,
            }
        })
        .await?;
        Ok(found)
    }

    /// Every `seq` applied to an order, with the order and the status drawn, in order.
    pub fn seqs(&self) -> Vec<(u64, String, Status)> {
        self.all()
            .into_iter()
            .filter_map(|(_, e)| match e {
                ClientEvent::Update { patch: Patch::Order { order, .. }, seq: Some(s) } => {
                    Some((s, order.id, order.status))
                }
                _ => None,
            })
            .collect()
    }

    /// The order patches, in order.
    pub fn orders(&self) -> Vec<OrderView> {
        self.all()
            .into_iter()
            .filter_map(|(_, e)| match e {
                ClientEvent::Update { patch: Patch::Order { order, .. }, .. } => Some(*order),
                _ => None,
            })
            .collect()
    }

    /// The statuses one order went through, as applied.
    pub fn statuses_of(&self, order_id: &str) -> Vec<Status> {
        self.orders().into_iter().filter(|o| o.id == order_id).map(|o| o.status).collect()
    }

    /// The native notifications shown, by order id.
    pub fn notifications_for(&self, order_id: &str) -> usize {
        self.all()
            .iter()
            .filter(|(_, e)| matches!(e, ClientEvent::Notify(n) if n.order_id.as_deref() == Some(order_id)))
            .count()
    }

    /// The notification center's entries about one order at the end (its ids): the last full inbox, and each
    /// notification filed after it.
    pub fn inbox_for(&self, order_id: &str) -> std::collections::BTreeSet<String> {
        let mut ids = std::collections::BTreeSet::new();
        for (_, e) in self.all() {
            match e {
                ClientEvent::Update { patch: Patch::Inbox { inbox }, .. } => {
                    ids = inbox
                        .items
                        .iter()
                        .filter(|i| i.order_id.as_deref() == Some(order_id))
                        .map(|i| i.id.clone())
                        .collect();
                }
                ClientEvent::Update { patch: Patch::Notification { item, .. }, .. }
                    if item.order_id.as_deref() == Some(order_id) =>
                {
                    ids.insert(item.id);
                }
                _ => {}
            }
        }
        ids
    }

    /// The link states in order.
    pub fn links(&self) -> Vec<LinkState> {
        self.all().iter().filter_map(|(_, e)| link_of(e).cloned()).collect()
    }

    /// One short line per event, for failure messages.
    pub fn summary(&self) -> Vec<String> {
        self.all()
            .iter()
            .map(|(_, e)| match e {
                ClientEvent::Update { patch: Patch::Order { order, source }, seq } => {
                    format!("order {} {} {:?} {seq:?}", order.order_number, order.status, source)
                }
                ClientEvent::Update { patch: Patch::Link { link, .. }, .. } => format!("link {link:?}"),
                ClientEvent::Update { patch, .. } => {
                    let s = format!("{patch:?}");
                    s.chars().take(100).collect()
                }
                other => format!("{other:?}").chars().take(100).collect(),
            })
            .collect()
    }
}

pub fn link_of(e: &ClientEvent) -> Option<&LinkState> {
    match e {
        ClientEvent::Update { patch: Patch::Link { link, .. }, .. } => Some(link),
        _ => None,
    }
}

/// Whether a status sequence never goes backwards along the flow (cancelled may follow anything).
pub fn monotonic(statuses: &[Status]) -> bool {
    let rank = |s: Status| Status::ALL.iter().position(|x| *x == s).unwrap_or(0);
    statuses.windows(2).all(|w| w[1] == Status::Cancelled || (w[0] != Status::Cancelled && rank(w[1]) > rank(w[0])))
}
