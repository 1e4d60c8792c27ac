//! The app's icons, drawn as inline SVG in the text's colour: nothing depends on an emoji font, which many
//! Linux desktops lack (an emoji there shows as an empty box). Each is decorative (`aria-hidden`): the text
//! beside it says the same.

use order_protocol::Status;
use yew::prelude::*;

/// A 24×24 line drawing of `paths` at `size` px.
fn icon(class: &'static str, size: u32, paths: Html) -> Html {
    html! {
        <svg class={classes!("icon", class)} aria-hidden="true" width={size.to_string()} height={size.to_string()}
             viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round"
             stroke-linejoin="round">
            { paths }
        </svg>
    }
}

pub(crate) fn bell() -> Html {
    icon(
        "icon-bell",
        22,
        html! {<>
            <path d="M6 16V11a6 6 0 0 1 12 0v5l2 2H4z" />
            <path d="M10 20a2 2 0 0 0 4 0" />
        </>},
    )
}

/// The connection: live (a signal), connecting (a turning arrow), offline (a crossed circle).
pub(crate) fn link(state: &str) -> Html {
    let paths = match state {
        "live" => html! {<>
            <circle cx="12" cy="12" r="2" />
            <path d="M8 8a6 6 0 0 0 0 8M16 8a6 6 0 0 1 0 8M5 5a10 10 0 0 0 0 14M19 5a10 10 0 0 1 0 14" />
        </>},
        "connecting" => html! {<>
            <path d="M20 12a8 8 0 1 1-2.3-5.7" />
            <path d="M20 4v5h-5" />
        </>},
        _ => html! {<>
            <circle cx="12" cy="12" r="8" />
            <path d="M6.5 6.5l11 11" />
        </>},
    };
    icon("icon-link", 16, paths)
}

/// A status: a clock, a tick, a pan, a bag, a van, a house, a cross.
pub(crate) fn status(status: Status) -> Html {
    let paths = match status {
        Status::Pending => html! {<><circle cx="12" cy="12" r="8" /><path d="M12 8v4l3 2" /></>},
        Status::Confirmed => html! {<path d="M5 12l5 5 9-10" />},
        Status::Preparing => {
            html! {<><path d="M4 11h13v4a4 4 0 0 1-4 4H8a4 4 0 0 1-4-4z" /><path d="M17 12h3M9 4v3M13 4v3" /></>}
        }
        Status::Ready => html! {<><path d="M5 8h14l-1 12H6z" /><path d="M9 8a3 3 0 0 1 6 0" /></>},
        Status::OutForDelivery => html! {<>
            <path d="M3 7h11v9H3zM14 10h4l3 3v3h-7z" />
            <circle cx="7" cy="18" r="1.5" /><circle cx="17" cy="18" r="1.5" />
        </>},
        Status::Delivered => html! {<><path d="M4 11l8-7 8 7v9H4z" /><path d="M9 15l2 2 4-4" /></>},
        Status::Cancelled => html! {<path d="M6 6l12 12M18 6L6 18" />},
        Status::Unknown => html! {<><circle cx="12" cy="12" r="8" /><path d="M12 16h.01" /></>},
    };
    icon("icon-status", 14, paths)
}
