//! Reusable parts: the connection indicator, the bell and its panel, toasts, status badges, a clock, the offer
//! to open at login, the delivery map.

pub(crate) mod bell;
pub(crate) mod clock;
pub(crate) mod icons;
pub(crate) mod link;
pub(crate) mod map;
pub(crate) mod open_at_login;
pub(crate) mod status;
pub(crate) mod toasts;
