//! The screens.

pub mod dashboard;
pub mod login;
pub mod order;
pub mod orders;
pub mod settings;
