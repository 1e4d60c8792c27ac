//! The Live Orders UI: a Yew app shown in the Tauri webview.
//!
//! Components draw state and send actions; every decision is made in the engine behind the shell, reached
//! through Tauri commands (`ipc`). One store (`store`) holds the view state the shell sends; the UI never
//! sees the customer's token and keeps nothing in web storage.

mod app;
mod components;
mod format;
mod ipc;
mod pages;
mod perf;
mod store;

fn main() {
    yew::Renderer::<app::App>::new().render();
}
