//! The one store: the engine's view state as the shell sends it (a snapshot, then patches), the session,
//! and the toasts on screen. Components read it through context and change it only by dispatching.

use std::rc::Rc;

use order_protocol::shell::SessionInfo;
use order_protocol::{Patch, ViewState};
use yew::prelude::*;

/// A short-lived card for a new update.
#[derive(Clone, Debug, PartialEq)]
pub struct Toast {
    pub key: u64,
    pub title: String,
    pub message: String,
    pub order_id: Option<String>,
}

/// At most this many toasts are stacked; older ones give way.
const MAX_TOASTS: usize = 4;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Store {
    pub view: ViewState,
    /// `None` until the shell answered.
    pub session: Option<SessionInfo>,
    /// Whether the first state arrived (before it, nothing is drawn as "empty").
    pub loaded: bool,
    pub toasts: Vec<Toast>,
    next_toast: u64,
}

pub enum Action {
    Patches(Vec<Patch>),
    Session(SessionInfo),
    DismissToast(u64),
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
        }
        Rc::new(s)
    }
}

pub type StoreHandle = UseReducerHandle<Store>;

/// The store, from any component under the provider.
#[hook]
pub fn use_store() -> StoreHandle {
    use_context::<StoreHandle>().expect("the store provider wraps the app")
}
