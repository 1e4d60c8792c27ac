//! How a status looks: a badge and a progress bar, both readable without colour.

use order_protocol::Status;
use yew::prelude::*;

use crate::components::icons;

#[derive(Properties, PartialEq)]
pub(crate) struct StatusProps {
    pub(crate) status: Status,
}

#[function_component(StatusBadge)]
pub(crate) fn status_badge(p: &StatusProps) -> Html {
    html! {
        <span class={classes!("badge", format!("st-{}", p.status.as_str()))} data-status={p.status.as_str()}>
            { icons::status(p.status) }{ p.status.display() }
        </span>
    }
}

#[derive(Properties, PartialEq)]
pub(crate) struct ProgressProps {
    pub(crate) status: Status,
    pub(crate) progress: u8,
}

#[function_component(ProgressBar)]
pub(crate) fn progress_bar(p: &ProgressProps) -> Html {
    let label = format!("Order progress: {} %, {}", p.progress, p.status.display());
    html! {
        <div class={classes!("progress", (p.status == Status::Cancelled).then_some("cancelled"))}
             role="progressbar" aria-valuemin="0" aria-valuemax="100"
             aria-valuenow={p.progress.to_string()} aria-label={label}>
            <div class="bar" style={format!("width: {}%", p.progress)}></div>
            <span class="pct">{ format!("{} %", p.progress) }</span>
        </div>
    }
}
