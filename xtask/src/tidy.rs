//! The repository's tidy checks, as plain tests (`cargo test -p xtask`).

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use crate::util::project_root;

fn tracked_files() -> Vec<String> {
    let out = Command::new("git").arg("ls-files").current_dir(project_root()).output().expect("git ls-files");
    String::from_utf8_lossy(&out.stdout).lines().map(str::to_owned).collect()
}

fn read(path: &str) -> String {
    std::fs::read_to_string(project_root().join(path)).unwrap_or_default()
}

#[test]
fn readme_and_ci_give_the_two_commands() {
    let readme = read("README.md");
    assert!(readme.contains("cargo xtask run"), "README.md must give the run command");
    assert!(readme.contains("cargo xtask test"), "README.md must give the test command");
    assert!(read(".ci/run").contains("cargo xtask test"), ".ci/run must run the README's test command");
}

#[test]
fn every_rust_source_says_what_it_is_for() {
    let missing: Vec<String> = tracked_files()
        .into_iter()
        .filter(|f| f.ends_with(".rs") && !f.contains("/tests/") && !f.starts_with("tests/tests/"))
        .filter(|f| !f.ends_with("main.rs") || f.starts_with("src-ui") || f.starts_with("xtask"))
        .filter(|f| {
            let text = read(f);
            let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or_default();
            !first.starts_with("//!")
        })
        .collect();
    assert!(missing.is_empty(), "these files lack a `//!` header saying what they are for: {missing:?}");
}

#[test]
fn no_token_is_committed() {
    // A JWT is three base64url parts, the first two starting with `eyJ` (`{"`).
    let looks_like_jwt = |s: &str| {
        s.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')).any(|w| {
            let parts: Vec<&str> = w.split('.').collect();
            parts.len() == 3 && parts[0].starts_with("eyJ") && parts[1].starts_with("eyJ") && parts[1].len() > 10
        })
    };
    let offenders: Vec<String> = tracked_files()
        .into_iter()
        .filter(|f| !f.ends_with(".lock") && !f.ends_with("package-lock.json"))
        .filter(|f| looks_like_jwt(&read(f)))
        .collect();
    assert!(offenders.is_empty(), "JWT-shaped strings are committed in {offenders:?}; mint tokens at run time");
}

#[test]
fn no_update_signing_key_is_committed_and_the_app_trusts_a_public_one() {
    use base64::Engine as _;
    // Tauri's signer writes minisign secret keys, base64 of "untrusted comment: rsign/minisign … secret key".
    let secret = |text: &str| {
        text.contains("secret key")
            || [
                "dW50cnVzdGVkIGNvbW1lbnQ6IHJzaWdu",
                "dW50cnVzdGVkIGNvbW1lbnQ6IG1pbmlzaWduIGVu",
                "dW50cnVzdGVkIGNvbW1lbnQ6IG1pbmlzaWduIHNl",
            ]
            .iter()
            .any(|b64| text.contains(b64))
    };
    let offenders: Vec<String> = tracked_files()
        .into_iter()
        .filter(|f| {
            !f.ends_with(".rs") && !f.ends_with(".md") && !f.ends_with(".lock") && !f.ends_with("package-lock.json")
        })
        .filter(|f| secret(&read(f)))
        .collect();
    assert!(offenders.is_empty(), "an update signing key is committed in {offenders:?}; keep it with the publisher");
    let conf: serde_json::Value = serde_json::from_str(&read("tauri.conf.json")).expect("JSON");
    let pubkey = conf["plugins"]["updater"]["pubkey"].as_str().expect("plugins.updater.pubkey");
    let text =
        String::from_utf8(base64::engine::general_purpose::STANDARD.decode(pubkey).expect("base64")).expect("text");
    assert!(text.starts_with("untrusted comment: minisign public key"), "not a public key: {text}");
    assert_eq!(conf["plugins"]["updater"]["requireSignedVersion"], true, "an old release could pass for a new one");
}

#[test]
fn the_shell_never_blocks_on_the_async_runtime() {
    // From an async command (or any task on Tauri's runtime) `block_on` panics, "Cannot start a runtime from
    // within a runtime", or deadlocks; the shell starts and awaits things on a runtime handle instead.
    let offenders: Vec<String> = tracked_files()
        .into_iter()
        .filter(|f| f.starts_with("src-tauri/") && f.ends_with(".rs"))
        .filter(|f| read(f).contains("block_on"))
        .collect();
    assert!(offenders.is_empty(), "src-tauri calls block_on in {offenders:?}: take a runtime handle instead");
}

#[test]
fn nothing_points_outside_the_repository() {
    // A user who clones the project has only what is in it: no file may send the reader to a folder beside it.
    // The folder's name is put together here, so this file does not name it itself.
    let folder = ["sha", "red"].concat();
    let mut outside = vec![format!("../{folder}")];
    outside.extend(["CONTRACT", "DESIGN", "STYLE", "toolchain"].map(|f| format!("{folder}/{f}")));
    let offenders: Vec<String> = tracked_files()
        .into_iter()
        .filter(|f| !f.ends_with(".lock") && !f.ends_with("package-lock.json"))
        .filter(|f| {
            let text = read(f);
            outside.iter().any(|o| text.contains(o.as_str()))
        })
        .collect();
    assert!(offenders.is_empty(), "these files point outside the repository: {offenders:?}");
}

/// The modules a source uses through `crate::` paths (`crate::a::b`, `use crate::{a, b::c}`): their first
/// segments.
fn crate_paths(text: &str) -> BTreeSet<String> {
    let ident = |s: &str| s.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect::<String>();
    let mut used = BTreeSet::new();
    for (at, _) in text.match_indices("crate::") {
        let rest = &text[at + "crate::".len()..];
        match rest.strip_prefix('{') {
            Some(list) => {
                let list = &list[..list.find('}').unwrap_or(list.len())];
                used.extend(list.split(',').map(|p| ident(p.trim())).filter(|p| !p.is_empty()));
            }
            None => {
                used.insert(ident(rest));
            }
        }
    }
    used.retain(|m| !m.is_empty());
    used
}

/// The module graph of the crate whose sources are under `dir` with root file `root`: each top-level module
/// (a file or folder under `dir`; the root as `crate`) and the top-level modules its code uses. Test modules
/// (`tests.rs`, `*_tests.rs`) may reach anything and are left out.
fn module_graph(dir: &str, root: &str) -> BTreeMap<String, BTreeSet<String>> {
    let files: Vec<String> = tracked_files()
        .into_iter()
        .filter(|f| f.starts_with(&format!("{dir}/")) && f.ends_with(".rs"))
        .filter(|f| !f.ends_with("tests.rs") && !f.contains("/tests/"))
        .collect();
    let module_of = |f: &str| -> String {
        let rel = &f[dir.len() + 1..];
        if rel == root {
            return "crate".to_owned();
        }
        let first = rel.split('/').next().unwrap_or(rel);
        first.trim_end_matches(".rs").to_owned()
    };
    let modules: BTreeSet<String> = files.iter().map(|f| module_of(f)).collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in &files {
        let from = module_of(f);
        let uses = crate_paths(&read(f))
            .into_iter()
            .map(|m| if modules.contains(&m) { m } else { "crate".to_owned() })
            .filter(|m| *m != from)
            .collect::<Vec<_>>();
        graph.entry(from).or_default().extend(uses);
    }
    graph
}

/// A cycle in `graph`, if there is one, as the modules along it.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|p| p == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph.keys().find_map(|n| visit(n, graph, &mut Vec::new(), &mut done))
}

#[test]
fn the_shell_and_the_ui_have_no_import_cycle() {
    for (dir, root) in [("src-tauri", "lib.rs"), ("src-ui/src", "main.rs")] {
        let graph = module_graph(dir, root);
        assert!(graph.len() > 4, "{dir}: the modules were read: {graph:?}");
        if let Some(cycle) = find_cycle(&graph) {
            panic!("{dir}: modules use each other in a cycle: {}", cycle.join(" → "));
        }
    }
}

#[test]
fn crate_paths_and_cycles_are_found() {
    let text = "use crate::a::X;\nuse crate::{b, c::D};\nfn f() { crate::d::g(); }";
    assert_eq!(crate_paths(text), ["a", "b", "c", "d"].map(String::from).into());
    let graph = |edges: &[(&str, &str)]| {
        let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (a, b) in edges {
            g.entry(a.to_string()).or_default().insert(b.to_string());
        }
        g
    };
    assert_eq!(find_cycle(&graph(&[("a", "b"), ("b", "c"), ("a", "c")])), None);
    assert_eq!(
        find_cycle(&graph(&[("a", "b"), ("b", "c"), ("c", "a")])),
        Some(["a", "b", "c", "a"].map(String::from).to_vec())
    );
}

#[test]
fn the_phone_projects_agree_with_tauri_conf() {
    let json = |path: &str| -> serde_json::Value {
        serde_json::from_str(&read(path)).unwrap_or_else(|e| panic!("{path} is not JSON: {e}"))
    };
    let conf = json("tauri.conf.json");
    let (id, name) =
        (conf["identifier"].as_str().expect("an identifier"), conf["productName"].as_str().expect("a name"));
    for overlay in ["tauri.android.conf.json", "tauri.ios.conf.json"] {
        let o = json(overlay);
        assert_eq!(o["identifier"].as_str().unwrap_or(id), id, "{overlay} names another app");
        assert!(o.get("version").is_none() && o.get("productName").is_none(), "{overlay}: one version, one name");
    }
    let gradle = read("gen/android/app/build.gradle.kts");
    for line in [format!("applicationId = \"{id}\""), format!("namespace = \"{id}\"")] {
        assert!(gradle.contains(&line), "gen/android/app/build.gradle.kts lacks `{line}`");
    }
    // The version is tauri.conf.json's, written into tauri.properties at each build.
    assert!(gradle.contains("tauri.android.versionName"), "the Android version comes from tauri.conf.json");
    let strings = read("gen/android/app/src/main/res/values/strings.xml");
    assert!(strings.contains(&format!("<string name=\"app_name\">\"{name}\"</string>")), "the app's name: {strings}");
    let activity = format!("gen/android/app/src/main/java/{}/MainActivity.kt", id.replace('.', "/"));
    assert!(project_root().join(&activity).exists(), "{activity} is missing");
    let manifest = read("gen/android/app/src/main/AndroidManifest.xml");
    for permission in ["android.permission.INTERNET", "android.permission.POST_NOTIFICATIONS"] {
        assert!(manifest.contains(permission), "the manifest asks for {permission}");
    }
    // `liveorders://` links open the app on every platform: desktop entries, both phone overlays, the manifest.
    assert_eq!(conf["plugins"]["deep-link"]["desktop"]["schemes"][0], "liveorders");
    for overlay in ["tauri.android.conf.json", "tauri.ios.conf.json"] {
        let schemes = &json(overlay)["plugins"]["deep-link"]["mobile"][0]["scheme"];
        assert_eq!(schemes[0], "liveorders", "{overlay} does not register the link scheme");
    }
    assert!(manifest.contains(r#"<data android:scheme="liveorders" />"#), "the manifest does not take the links");
    let task = format!("gen/android/buildSrc/src/main/java/{}/kotlin/BuildTask.kt", id.replace('.', "/"));
    let task = read(&task);
    assert!(
        task.contains("\"\"\"cargo\"\"\"") && task.contains("\"xtask\", \"tauri\""),
        "the Gradle build calls the project's own build (`cargo xtask tauri`)"
    );
}
