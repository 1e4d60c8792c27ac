//! tauri-build: reads the root `tauri.conf.json` (beside the manifest) and the capabilities in
//! `src-tauri/capabilities`, and embeds the UI from `src-ui/dist` (built by `cargo xtask build-ui`).

fn main() {
    // `cfg(keychain)`: the platforms whose keychain the app uses (see src-tauri/keychain.rs).
    println!("cargo::rustc-check-cfg=cfg(keychain)");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if ["linux", "macos", "windows", "android", "ios"].contains(&os.as_str()) {
        println!("cargo:rustc-cfg=keychain");
    }
    println!("cargo:rerun-if-changed=src-tauri/capabilities");
    println!("cargo:rerun-if-changed=icons");
    tauri_build::try_build(tauri_build::Attributes::new().capabilities_path_pattern("src-tauri/capabilities/*.json"))
        .expect("tauri-build failed (is src-ui/dist built? run `cargo xtask build-ui`)");
}
