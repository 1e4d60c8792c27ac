//! Carries the engine's events out: view patches to the UI, coalesced to at most ~30 emits a second so a
//! burst of updates costs one render per frame; native notifications when `attention::should_notify` says
//! so; and the unread count of the same view to the tray.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use order_client::attention;
use order_client::ClientEvent;
use order_protocol::shell::ViewPatches;
use order_protocol::{Patch, ViewState};
use tauri::{AppHandle, Manager, Runtime};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::Instant;

use crate::settings::SettingsStore;

/// The shortest time between two emits to the UI: about 30 per second.
const FRAME: Duration = Duration::from_millis(33);

/// Whether one engine's events are still the ones the app follows: an engine whose backend was left says
/// nothing more to the UI, the tray or the OS.
#[derive(Clone)]
pub(crate) struct Forwarding {
    current: Arc<AtomicU64>,
    mine: u64,
}

impl Forwarding {
    /// Makes a new engine the one followed: from now on every earlier engine's events are dropped.
    pub(crate) fn next(current: &Arc<AtomicU64>) -> Forwarding {
        let mine = current.fetch_add(1, Ordering::SeqCst) + 1;
        Forwarding { current: current.clone(), mine }
    }

    fn is_current(&self) -> bool {
        self.current.load(Ordering::SeqCst) == self.mine
    }
}

pub(crate) async fn run<R: Runtime>(
    app: AppHandle<R>,
    mut events: UnboundedReceiver<ClientEvent>,
    forwarding: Forwarding,
) {
    // The view as the UI has it, patch by patch: the tray's count is read from it.
    let mut view = ViewState::default();
    let mut batch: Vec<Patch> = Vec::new();
    let mut last_emit = Instant::now() - FRAME;
    while let Some(first) = events.recv().await {
        take(&app, first, &mut batch, &forwarding);
        // Collect whatever else arrives until a frame has passed since the last emit.
        let due = last_emit + FRAME;
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(due) => break,
                next = events.recv() => match next {
                    Some(ev) => take(&app, ev, &mut batch, &forwarding),
                    None => break,
                },
            }
        }
        // A batch gathered before this engine's backend was left is not the new backend's news.
        if !batch.is_empty() && forwarding.is_current() {
            let signed_in_before = view.user.is_some();
            for p in &batch {
                view.patch(p);
            }
            if !signed_in_before && view.user.is_some() {
                crate::notify::ask_permission(&app);
            }
            #[cfg(desktop)]
            crate::tray::show_unread(&app, view.inbox.unread);
            if let Err(e) = crate::ui::emit::<_, ViewPatches>(&app, &batch) {
                tracing::warn!("could not send updates to the window: {e}");
            }
        }
        batch.clear();
        last_emit = Instant::now();
    }
}

fn take<R: Runtime>(app: &AppHandle<R>, event: ClientEvent, batch: &mut Vec<Patch>, forwarding: &Forwarding) {
    if !forwarding.is_current() {
        return;
    }
    match event {
        ClientEvent::Update { patch, .. } => batch.push(patch),
        ClientEvent::Notify(n) => {
            let Some(settings) = app.try_state::<SettingsStore>() else { return };
            let window = crate::window::presence(app);
            let show = attention::should_notify(&settings.get(), window, n.category);
            tracing::debug!(?window, show, category = ?n.category, "native notification for {}", n.id);
            if show {
                crate::notify::show(app, n);
            }
        }
        ClientEvent::Warning(w) => tracing::warn!("{w}"),
    }
}
