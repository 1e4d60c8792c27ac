//! The bell with its unread badge, and the notification center it opens: categories, mark read, mark all
//! read, relative times; clicking a notification opens its order.

use std::sync::Arc;

use order_protocol::shell::{self, MarkReadArgs};
use order_protocol::{Category, InboxItem};
use yew::prelude::*;
use yew_router::prelude::*;

use crate::api;
use crate::components::clock::use_now;
use crate::components::icons;
use crate::format;
use crate::route::Route;
use crate::store::use_store;

#[derive(Clone, Copy, PartialEq)]
enum Tab {
    All,
    Only(Category),
}

#[function_component(Bell)]
pub(crate) fn bell() -> Html {
    let store = use_store();
    let open = use_state(|| false);
    let tab = use_state(|| Tab::All);
    let now = use_now(30_000);
    let inbox = &store.view.inbox;
    let unread = inbox.unread;
    let toggle = {
        let open = open.clone();
        Callback::from(move |_| open.set(!*open))
    };
    let label = format!("Notifications, {unread} unread");
    let items: Vec<&Arc<InboxItem>> = inbox
        .items
        .iter()
        .filter(|i| match *tab {
            Tab::All => true,
            Tab::Only(c) => i.category == c,
        })
        .collect();
    let tab_button = |t: Tab, name: &str, count: usize| {
        let tab = tab.clone();
        let selected = *tab == t;
        html! {
            <button role="tab" aria-selected={selected.to_string()} class={classes!("tab", selected.then_some("on"))}
                    onclick={Callback::from(move |_| tab.set(t))}>
                { name }{ if count > 0 { format!(" ({count})") } else { String::new() } }
            </button>
        }
    };
    html! {
        <div class="bell-wrap">
            <button id="bell" class="bell" data-unread={unread.to_string()} aria-label={label}
                    aria-expanded={open.to_string()} onclick={toggle}>
                { icons::bell() }
                if unread > 0 { <span class="count" aria-hidden="true">{ unread }</span> }
            </button>
            if *open {
                <section class="panel" id="notification-center" aria-label="Notification center">
                    <div class="panel-head">
                        <h2>{ "Notifications" }</h2>
                        <button class="link-button" id="mark-all-read" disabled={unread == 0}
                                onclick={Callback::from(|_| api::fire::<shell::MarkAllRead>(()))}>
                            { "Mark all read" }
                        </button>
                    </div>
                    <div role="tablist" class="tabs">
                        { tab_button(Tab::All, "All", unread) }
                        { tab_button(Tab::Only(Category::OrderUpdates), "Order updates", inbox.unread_in(Category::OrderUpdates)) }
                        { tab_button(Tab::Only(Category::Delivery), "Delivery", inbox.unread_in(Category::Delivery)) }
                    </div>
                    <ul class="notes">
                        if items.is_empty() { <li class="muted">{ "Nothing here yet." }</li> }
                        { for items.into_iter().map(|i| html! { <Note key={i.id.clone()} item={i.clone()} now={now} open={open.clone()} /> }) }
                    </ul>
                </section>
            }
        </div>
    }
}

#[derive(Properties, PartialEq)]
struct NoteProps {
    item: Arc<InboxItem>,
    now: chrono::DateTime<chrono::Utc>,
    open: UseStateHandle<bool>,
}

#[function_component(Note)]
fn note(p: &NoteProps) -> Html {
    let navigator = use_navigator();
    let item = &p.item;
    let onclick = {
        let (id, order_id, read, open) = (item.id.clone(), item.order_id.clone(), item.read, p.open.clone());
        Callback::from(move |_| {
            if !read {
                api::fire::<shell::MarkRead>(MarkReadArgs { id: id.clone() });
            }
            if let (Some(order), Some(nav)) = (order_id.clone(), navigator.clone()) {
                nav.push(&Route::Order { id: order });
                open.set(false);
            }
        })
    };
    html! {
        <li>
            <button class={classes!("note", (!item.read).then_some("unread"))} data-notification-id={item.id.clone()}
                    data-order-id={item.order_id.clone().unwrap_or_default()} {onclick}>
                <strong>{ &item.title }</strong>
                <span>{ &item.message }</span>
                <time datetime={item.created_at.to_rfc3339()}>{ format::ago(item.created_at, p.now) }</time>
            </button>
        </li>
    }
}
