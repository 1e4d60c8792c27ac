//! The baseline of `cargo xtask bench app`: a Tauri window showing an empty page, built the same way as the
//! app (the same package, so the same tauri version, features and profile) but with nothing of the app in it:
//! no plugins, no engine, no UI. The app's memory is compared with this one's, so the ratio measures what the
//! app adds to the webview every Tauri app pays for.
//! Its config is `examples/blank/tauri.conf.json` (tauri's macro accepts only that file name), its page
//! `examples/blank/dist/index.html`. Cargo finds this example by itself (`examples/*.rs`).

fn main() {
    tauri::Builder::default()
        .run(tauri::generate_context!("examples/blank/tauri.conf.json"))
        .expect("the blank window failed");
}
