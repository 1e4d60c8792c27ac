//! The screens.

pub(crate) mod dashboard;
pub(crate) mod login;
pub(crate) mod order;
pub(crate) mod orders;
pub(crate) mod settings;
