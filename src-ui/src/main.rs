//! The Live Orders UI: a Yew app shown in the Tauri webview.
//!
//! Components draw state and send actions; every decision is made in the engine behind the shell, reached
//! through the shell's commands (`api`). One store (`store`) holds the view state the shell sends; the UI never
//! sees the customer's token and keeps nothing in web storage.
//!
//! Layers, each using only those below it: `app` → `pages` → `components` → `store` → `api`, `route`,
//! `format`, `perf`.

#![warn(unreachable_pub)]

mod api;
mod app;
mod components;
mod format;
mod leaflet;
mod pages;
mod perf;
mod route;
mod store;

fn main() {
    yew::Renderer::<app::App>::new().render();
}
