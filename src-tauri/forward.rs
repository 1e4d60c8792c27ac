//! Carries the engine's events out: view patches to the UI, coalesced to at most ~30 emits a second so a
//! burst of updates costs one render per frame; native notifications when `attention::should_notify` says
//! so; the unread count to the tray; and the end of a session (with its reason) to the login screen.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use order_client::attention;
use order_client::ClientEvent;
use order_protocol::{LinkState, Patch};
use tauri::{AppHandle, Emitter, Manager, Runtime};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::Instant;

use crate::state::{Forwarding, Session};
use crate::{AppState, PATCHES_EVENT};

/// The shortest time between two emits to the UI: about 30 per second.
const FRAME: Duration = Duration::from_millis(33);

pub async fn run<R: Runtime>(
    app: AppHandle<R>,
    mut events: UnboundedReceiver<ClientEvent>,
    session: Arc<Mutex<Session>>,
    forwarding: Forwarding,
) {
    let mut batch: Vec<Patch> = Vec::new();
    let mut last_emit = Instant::now() - FRAME;
    let take = |app: &AppHandle<R>, ev, batch: &mut Vec<Patch>| {
        // An engine whose backend was left says nothing more to the UI, the OS or the session.
        if forwarding.is_current() {
            handle(app, ev, batch, &session);
        }
    };
    while let Some(first) = events.recv().await {
        take(&app, first, &mut batch);
        // Collect whatever else arrives until a frame has passed since the last emit.
        let due = last_emit + FRAME;
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(due) => break,
                next = events.recv() => match next {
                    Some(ev) => take(&app, ev, &mut batch),
                    None => break,
                },
            }
        }
        if !batch.is_empty() {
            // A batch gathered before this engine's backend was left is not the new backend's news.
            if forwarding.is_current() {
                if let Err(e) = app.emit(PATCHES_EVENT, &batch) {
                    tracing::warn!("could not send updates to the window: {e}");
                }
            }
            batch.clear();
        }
        last_emit = Instant::now();
    }
}

fn handle<R: Runtime>(app: &AppHandle<R>, event: ClientEvent, batch: &mut Vec<Patch>, session: &Arc<Mutex<Session>>) {
    match event {
        ClientEvent::Update { patch, .. } => {
            note_session_end(&patch, session);
            #[cfg(desktop)]
            crate::tray::follow(app, &patch);
            batch.push(patch);
        }
        ClientEvent::Notify(n) => {
            let Some(state) = app.try_state::<AppState>() else { return };
            let window = crate::state::window_state(app);
            let show = attention::should_notify(&state.settings(), window, n.category);
            tracing::debug!(?window, show, category = ?n.category, "native notification for {}", n.id);
            if show {
                crate::notify::show(app, n);
            }
        }
        ClientEvent::Warning(w) => tracing::warn!("{w}"),
        ClientEvent::SessionStarted { email, name, .. } => {
            let Ok(mut s) = session.lock() else { return };
            // The login reply names the user; a token alone carries only the email.
            s.user_email = Some(email.unwrap_or_default());
            if name.is_some() {
                s.user_name = name;
            }
        }
    }
}

/// A session that ended (for whatever reason: the view's link says which) leaves nobody signed in.
fn note_session_end(patch: &Patch, session: &Arc<Mutex<Session>>) {
    let link = match patch {
        Patch::Link { link, .. } => link,
        Patch::Reset { state } => &state.link,
        _ => return,
    };
    if let (LinkState::LoggedOut { .. }, Ok(mut s)) = (link, session.lock()) {
        s.user_name = None;
        s.user_email = None;
    }
}
