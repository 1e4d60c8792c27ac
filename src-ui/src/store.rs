//! The one store: the engine's view state as the shell sends it (a snapshot, then patches), the session,
//! and the toasts on screen. Components read it through context and change it only by dispatching.

use std::rc::Rc;

use order_protocol::shell::{self, SessionInfo, UpdateState};
use order_protocol::{Patch, ViewState};
use yew::prelude::*;

use crate::api;

/// A short-lived card for a new update.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Toast {
    pub(crate) key: u64,
    pub(crate) title: String,
    pub(crate) message: String,
    pub(crate) order_id: Option<String>,
}

/// At most this many toasts are stacked; older ones give way.
const MAX_TOASTS: usize = 4;

#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Store {
    pub(crate) view: ViewState,
    /// `None` until the shell answered.
    pub(crate) session: Option<SessionInfo>,
    /// Whether the first state arrived (before it, nothing is drawn as "empty").
    pub(crate) loaded: bool,
    pub(crate) toasts: Vec<Toast>,
    next_toast: u64,
    /// Why the last `liveorders://` link was not followed, until dismissed or another link opens.
    pub(crate) link_problem: Option<String>,
    /// The last word on updates from the shell (a check at start or a daily one may find one).
    pub(crate) update: Option<UpdateState>,
}

pub(crate) enum Action {
    Patches(Vec<Patch>),
    Session(SessionInfo),
    DismissToast(u64),
    LinkRefused(String),
    DismissLinkProblem,
    Update(UpdateState),
}

impl Reducible for Store {
    type Action = Action;

    fn reduce(self: Rc<Self>, action: Action) -> Rc<Self> {
        let mut s = (*self).clone();
        match action {
            Action::Patches(patches) => {
                for p in &patches {
                    if let Patch::Notification { item, .. } = p {
                        s.next_toast += 1;
                        s.toasts.push(Toast {
                            key: s.next_toast,
                            title: item.title.clone(),
                            message: item.message.clone(),
                            order_id: item.order_id.clone(),
                        });
                    }
                    if matches!(p, Patch::Reset { .. }) {
                        s.loaded = true;
                    }
                    s.view.patch(p);
                }
                let excess = s.toasts.len().saturating_sub(MAX_TOASTS);
                s.toasts.drain(..excess);
            }
            Action::Session(info) => s.session = Some(info),
            Action::DismissToast(key) => s.toasts.retain(|t| t.key != key),
            Action::LinkRefused(words) => s.link_problem = Some(words),
            Action::DismissLinkProblem => s.link_problem = None,
            Action::Update(update) => s.update = Some(update),
        }
        Rc::new(s)
    }
}

pub(crate) type StoreHandle = UseReducerHandle<Store>;

/// Asks where the app is connected, and for the whole view state, which arrives as a `Reset` among the
/// patches (at start, and after a switch of server).
pub(crate) fn refresh(store: &StoreHandle) {
    let store = store.clone();
    wasm_bindgen_futures::spawn_local(async move {
        if let Ok(info) = api::call::<shell::GetSessionInfo>(&()).await {
            store.dispatch(Action::Session(info));
        }
        if let Err(e) = api::call::<shell::Resync>(&()).await {
            web_sys::console::error_1(&format!("resync: {}", e.message).into());
        }
    });
}

/// The store, from any component under the provider.
#[hook]
pub(crate) fn use_store() -> StoreHandle {
    use_context::<StoreHandle>().expect("the store provider wraps the app")
}
