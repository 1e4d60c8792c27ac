//! The app's routes (in the URL's hash, so a reload keeps the page).

use yew_router::prelude::*;

#[derive(Clone, Routable, PartialEq)]
pub(crate) enum Route {
    #[at("/")]
    Dashboard,
    #[at("/orders")]
    Orders,
    #[at("/orders/:id")]
    Order { id: String },
    #[at("/settings")]
    Settings,
    #[not_found]
    #[at("/404")]
    NotFound,
}
