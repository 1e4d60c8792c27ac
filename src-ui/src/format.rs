//! How times and money read on screen: the user's local time zone, relative times (an ETA's countdown is
//! `order_protocol::delivery`'s).

use chrono::{DateTime, Local, Utc};

/// `14:05` today, `Mon 14:05` this week, else `25 Nov 14:05`.
pub(crate) fn time(t: DateTime<Utc>) -> String {
    let local = t.with_timezone(&Local);
    let now = Local::now();
    let days = (now.date_naive() - local.date_naive()).num_days();
    match days {
        0 => local.format("%H:%M").to_string(),
        1..=6 => local.format("%a %H:%M").to_string(),
        _ => local.format("%-d %b %H:%M").to_string(),
    }
}

/// `just now`, `5 min ago`, `2 h ago`, `3 d ago`.
pub(crate) fn ago(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (now - t).num_seconds().max(0);
    match secs {
        0..=44 => "just now".to_owned(),
        45..=3599 => format!("{} min ago", (secs + 30) / 60),
        3600..=86_399 => format!("{} h ago", secs / 3600),
        _ => format!("{} d ago", secs / 86_400),
    }
}

/// Orders are priced in US dollars by the reference backend; the contract carries no currency.
pub(crate) fn money(amount: f64) -> String {
    format!("${amount:.2}")
}
