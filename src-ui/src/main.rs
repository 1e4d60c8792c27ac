//! The Live Orders UI: a Yew app shown in the Tauri webview.
//!
//! Components draw state and send actions; every decision is made in the engine behind the shell, reached
//! through Tauri commands (`ipc`). The UI never sees the customer's token.

mod app;
mod ipc;

fn main() {
    yew::Renderer::<app::App>::new().render();
}
