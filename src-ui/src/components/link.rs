//! The connection indicator shown on every screen: green Live, amber Reconnecting (attempt n, next try in
//! s), red Offline with the reason, with a button to try again at once; and the time of the last update.

use order_protocol::shell;
use order_protocol::LinkState;
use yew::prelude::*;

use crate::api;
use crate::components::clock::use_now;
use crate::components::icons;
use crate::format;
use crate::store::use_store;

#[function_component(LinkIndicator)]
pub(crate) fn link_indicator() -> Html {
    let store = use_store();
    // Every second only while a "next try in" countdown is on screen; otherwise the minute-grained "last
    // update" text needs no more than a tick every 15 s, and an idle window stays idle.
    let counting_down = matches!(
        &store.view.link,
        LinkState::Connecting { next_retry_at: Some(_), .. } | LinkState::Offline { next_retry_at: Some(_), .. }
    );
    let now = use_now(if counting_down { 1000 } else { 15_000 });
    let next_in = |at: &Option<chrono::DateTime<chrono::Utc>>| {
        at.map(|t| (t - now).num_seconds().max(0)).map(|s| format!(", next try in {s} s")).unwrap_or_default()
    };
    let (state, dot, text) = match &store.view.link {
        LinkState::Live { .. } => ("live", "live", "Live".to_owned()),
        LinkState::Connecting { attempt, next_retry_at, .. } if *attempt <= 1 && next_retry_at.is_none() => {
            ("connecting", "connecting", "Connecting…".to_owned())
        }
        LinkState::Connecting { attempt, next_retry_at, reason } => {
            let why = reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default();
            ("connecting", "connecting", format!("Reconnecting{why} (attempt {attempt}{})", next_in(next_retry_at)))
        }
        LinkState::Offline { reason, attempt, next_retry_at } => {
            ("offline", "offline", format!("Offline: {reason} (attempt {attempt}{})", next_in(next_retry_at)))
        }
        LinkState::LoggedOut { .. } => ("logged_out", "offline", "Signed out".to_owned()),
    };
    let last = store
        .view
        .last_update_at
        .map(|t| format!("Last update {}", format::ago(t, now)))
        .unwrap_or_else(|| "No update yet".to_owned());
    html! {
        <div id="link-indicator" class="link" data-state={state} role="status" aria-live="polite" title={last.clone()}>
            <span class={classes!("dot", dot)}>{ icons::link(dot) }</span>
            <span class="link-text">{ text }</span>
            <span class="link-last">{ last }</span>
            if counting_down {
                <button id="retry-now" class="link-button" onclick={Callback::from(|_| api::fire::<shell::RetryNow>(()))}>
                    { "Try now" }
                </button>
            }
        </div>
    }
}
