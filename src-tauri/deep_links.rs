//! `liveorders://` links: the OS starts the app with the link (a cold start, read by the deep-link plugin),
//! or a second launch's link reaches the running app through the single-instance plugin (Linux, Windows) or
//! the deep-link plugin's event (macOS, phones). Each is read by `order_client::deep_link::parse` and
//! either opens its order or shows why it cannot; none reaches the UI before the UI can show it.

use std::sync::Mutex;

use order_client::deep_link::{self, LinkTarget};
use order_protocol::shell::{LinkRefused, OpenOrder};
use tauri::{AppHandle, Manager, Runtime};
use tauri_plugin_deep_link::DeepLinkExt;

/// Links that came before the UI could show them, and whether it can now.
#[derive(Default)]
pub(crate) struct Links(Mutex<Held>);

#[derive(Default)]
struct Held {
    ui_ready: bool,
    pending: Option<Result<String, String>>,
}

/// Listens for links while the app runs and takes the one it was started with, if any.
pub(crate) fn start<R: Runtime>(app: &AppHandle<R>) {
    let handle = app.clone();
    // macOS and phones hand links to a running app as an event.
    app.deep_link().on_open_url(move |event| {
        for url in event.urls() {
            arrived(&handle, url.as_str());
        }
    });
    // On Linux and Windows the link of a cold start is an argument, read here as the single-instance
    // plugin's callback reads a second launch's (the deep-link plugin would only take it as the only one).
    #[cfg(any(target_os = "linux", windows))]
    if let Some(link) = deep_link::link_in_args(&std::env::args().skip(1).collect::<Vec<_>>()) {
        arrived(app, link);
    }
    // Elsewhere the plugin read it before this listener existed.
    #[cfg(not(any(target_os = "linux", windows)))]
    if let Ok(Some(urls)) = app.deep_link().get_current() {
        for url in urls {
            arrived(app, url.as_str());
        }
    }
}

/// A link to open: shown now if the UI is up, else when it says it is (`ui_ready`).
pub(crate) fn arrived<R: Runtime>(app: &AppHandle<R>, link: &str) {
    let outcome = match deep_link::parse(link) {
        Ok(LinkTarget::Order(id)) => Ok(id),
        Err(e) => {
            tracing::warn!("a link was not followed: {e:?}");
            Err(e.to_string())
        }
    };
    let Some(links) = app.try_state::<Links>() else { return };
    let mut held = links.0.lock().expect("not poisoned");
    if held.ui_ready {
        drop(held);
        deliver(app, outcome);
    } else {
        held.pending = Some(outcome);
    }
}

/// The UI has drawn its first screen: a link that came before is shown now.
pub(crate) fn ui_ready<R: Runtime>(app: &AppHandle<R>) {
    let Some(links) = app.try_state::<Links>() else { return };
    let pending = {
        let mut held = links.0.lock().expect("not poisoned");
        held.ui_ready = true;
        held.pending.take()
    };
    if let Some(outcome) = pending {
        deliver(app, outcome);
    }
}

/// Brings the window up (a link is a request to see the app, even one started hidden) and shows the order,
/// or why the link was not followed.
fn deliver<R: Runtime>(app: &AppHandle<R>, outcome: Result<String, String>) {
    crate::window::show_main_window(app);
    let sent = match &outcome {
        Ok(id) => crate::ui::emit::<_, OpenOrder>(app, id),
        Err(words) => crate::ui::emit::<_, LinkRefused>(app, words),
    };
    if let Err(e) = sent {
        tracing::warn!("could not hand a link to the UI: {e}");
    }
}
