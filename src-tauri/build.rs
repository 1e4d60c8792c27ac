//! tauri-build: reads the root `tauri.conf.json` (beside the manifest) and the capabilities in
//! `src-tauri/capabilities`, and embeds the UI from `src-ui/dist` (built by `cargo xtask build-ui`).

fn main() {
    println!("cargo:rerun-if-changed=src-tauri/capabilities");
    println!("cargo:rerun-if-changed=icons");
    tauri_build::try_build(tauri_build::Attributes::new().capabilities_path_pattern("src-tauri/capabilities/*.json"))
        .expect("tauri-build failed (is src-ui/dist built? run `cargo xtask build-ui`)");
}
