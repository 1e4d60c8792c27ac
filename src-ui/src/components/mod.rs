//! Reusable parts: the connection indicator, the bell and its panel, toasts, status badges, a clock.

pub mod bell;
pub mod clock;
pub mod link;
pub mod status;
pub mod toasts;
