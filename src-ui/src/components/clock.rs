//! A clock that re-renders its user every `period_ms`: countdowns and "next try in" texts.

use chrono::{DateTime, Utc};
use gloo::timers::callback::Interval;
use yew::prelude::*;

#[hook]
pub(crate) fn use_now(period_ms: u32) -> DateTime<Utc> {
    let now = use_state(Utc::now);
    {
        let now = now.clone();
        use_effect_with(period_ms, move |&p| {
            // Fresh at once when the period changes (a countdown appearing after a slow tick).
            now.set(Utc::now());
            let tick = Interval::new(p, move || now.set(Utc::now()));
            move || drop(tick)
        });
    }
    *now
}
