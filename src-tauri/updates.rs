//! Updates of the app (desktop): the update server is asked at start and daily, and on the customer's
//! "Check for updates"; a newer version is offered in Settings with its notes and installed only on the
//! customer's "Install". Tauri's updater downloads it and checks its signature against the public key built
//! into the app (`plugins.updater.pubkey` in tauri.conf.json) before anything is installed; the rules (which
//! server, which version, the words of each failure) are `order_client::updates`'.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use order_client::updates::{self, Offer, UpdateProblem};
use order_protocol::shell::{UpdateChanged, UpdateState, UpdateStatus};
use tauri::utils::config::BundleType;
use tauri::{AppHandle, Manager, Runtime};
use tauri_plugin_updater::{Update, UpdaterExt};

use crate::settings::SettingsStore;

/// Progress is told to the UI at most this often.
const PROGRESS_EVERY: Duration = Duration::from_millis(250);

/// What is known about updates, and the offered one, kept until installed or replaced by a newer check.
#[derive(Default)]
pub(crate) struct Updates {
    status: Mutex<UpdateStatus>,
    offer: Mutex<Option<Update>>,
    /// One check or install at a time.
    turn: tokio::sync::Mutex<()>,
}

pub(crate) fn state<R: Runtime>(app: &AppHandle<R>) -> UpdateState {
    let status = app.try_state::<Updates>().map(|u| u.status.lock().expect("not poisoned").clone()).unwrap_or_default();
    UpdateState { current: app.package_info().version.to_string(), status }
}

fn set<R: Runtime>(app: &AppHandle<R>, status: UpdateStatus) {
    if let Some(u) = app.try_state::<Updates>() {
        *u.status.lock().expect("not poisoned") = status;
    }
    if let Err(e) = crate::ui::emit::<_, UpdateChanged>(app, &state(app)) {
        tracing::debug!("could not tell the UI about the update: {e}");
    }
}

/// Asks at start (after `FIRST_CHECK_AFTER`) and then every `CHECK_EVERY`, when an update server is set.
pub(crate) fn start<R: Runtime>(app: &AppHandle<R>) {
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        tokio::time::sleep(updates::FIRST_CHECK_AFTER).await;
        loop {
            if server(&app).is_ok() {
                check(&app).await;
            }
            tokio::time::sleep(updates::CHECK_EVERY).await;
        }
    });
}

/// The update server in use: the one in Settings, else the one the app was built with.
fn server<R: Runtime>(app: &AppHandle<R>) -> Result<String, UpdateProblem> {
    let chosen = app.try_state::<SettingsStore>().and_then(|s| s.get().update_url).filter(|u| !u.trim().is_empty());
    let built_in = || {
        let plugin = app.config().plugins.0.get("updater")?;
        plugin.get("endpoints")?.get(0)?.as_str().map(str::to_owned)
    };
    updates::update_url(&chosen.or_else(built_in).ok_or(UpdateProblem::NoServer)?)
}

/// Asks the update server; a newer version is kept as the offer.
pub(crate) async fn check<R: Runtime>(app: &AppHandle<R>) -> UpdateState {
    let Some(u) = app.try_state::<Updates>() else { return state(app) };
    let _turn = u.turn.lock().await;
    set(app, UpdateStatus::Checking);
    let found = find(app).await;
    // What was offered before is offered only as long as the server still offers it.
    let mut offer = u.offer.lock().expect("not poisoned");
    *offer = None;
    let status = match found {
        Ok(Some(update)) => {
            let status = UpdateStatus::Available { version: update.version.clone(), notes: update.body.clone() };
            *offer = Some(update);
            status
        }
        Ok(None) => UpdateStatus::UpToDate,
        Err(problem) => {
            tracing::warn!("update check: {problem}");
            UpdateStatus::Failed { message: problem.to_string() }
        }
    };
    drop(offer);
    set(app, status);
    state(app)
}

async fn find<R: Runtime>(app: &AppHandle<R>) -> Result<Option<Update>, UpdateProblem> {
    let url = server(app)?;
    let endpoint = url.parse().map_err(|_| UpdateProblem::BadServer(url.clone()))?;
    // The updater only says "no update"; an older version on offer is worth saying in words.
    let older = Arc::new(Mutex::new(None::<String>));
    let seen = older.clone();
    let updater = app
        .updater_builder()
        .endpoints(vec![endpoint])
        .map_err(|e| classify(e, None))?
        .timeout(updates::TIMEOUT)
        .version_comparator(move |current, release| match updates::judge(&current, &release.version) {
            Offer::Newer => true,
            Offer::Same => false,
            Offer::Older => {
                *seen.lock().expect("not poisoned") = Some(release.version.to_string());
                false
            }
        })
        .build()
        .map_err(|e| classify(e, None))?;
    let found = updater.check().await.map_err(|e| classify(e, None))?;
    if found.is_none() {
        if let Some(offered) = older.lock().expect("not poisoned").take() {
            return Err(UpdateProblem::Older { offered, current: app.package_info().version.to_string() });
        }
    }
    Ok(found)
}

/// Downloads the offered version, checks its signature, and installs it where this copy can be replaced.
pub(crate) async fn install<R: Runtime>(app: &AppHandle<R>) -> UpdateState {
    let Some(u) = app.try_state::<Updates>() else { return state(app) };
    let _turn = u.turn.lock().await;
    let Some(update) = u.offer.lock().expect("not poisoned").clone() else { return state(app) };
    let version = update.version.clone();
    set(app, UpdateStatus::Downloading { version: version.clone(), received: 0, total: None });
    let (mut received, mut told) = (0u64, Instant::now());
    let downloaded = update
        .download(
            |chunk, total| {
                received += chunk as u64;
                if told.elapsed() >= PROGRESS_EVERY {
                    told = Instant::now();
                    set(app, UpdateStatus::Downloading { version: version.clone(), received, total });
                }
            },
            || {},
        )
        .await;
    let outcome = match downloaded {
        Err(e) => Err(classify(e, Some(&version))),
        Ok(bytes) => match installable(tauri::utils::platform::bundle_type()) {
            false => Err(UpdateProblem::NotFromPackage { version: version.clone() }),
            // The system's installer runs (and may ask for a password): off the async threads.
            true => tauri::async_runtime::spawn_blocking(move || update.install(bytes))
                .await
                .map_err(|e| UpdateProblem::InstallFailed(e.to_string()))
                .and_then(|r| r.map_err(|e| classify(e, Some(&version)))),
        },
    };
    let status = match outcome {
        Ok(()) => {
            u.offer.lock().expect("not poisoned").take();
            UpdateStatus::Installed { version }
        }
        Err(problem) => {
            tracing::warn!("update to {version}: {problem}");
            // A download refused for its signature is not offered again until a new check.
            if matches!(problem, UpdateProblem::BadSignature { .. } | UpdateProblem::SignedForAnother { .. }) {
                u.offer.lock().expect("not poisoned").take();
            }
            UpdateStatus::Failed { message: problem.to_string() }
        }
    };
    set(app, status);
    state(app)
}

/// Whether this copy came from a package the updater knows how to replace. A binary run from a build folder
/// is not: the updater would write an AppImage over it.
fn installable(bundle: Option<BundleType>) -> bool {
    matches!(
        bundle,
        Some(
            BundleType::Deb
                | BundleType::Rpm
                | BundleType::AppImage
                | BundleType::Msi
                | BundleType::Nsis
                | BundleType::App
        )
    )
}

/// What an updater error means for the customer.
fn classify(e: tauri_plugin_updater::Error, version: Option<&str>) -> UpdateProblem {
    use tauri_plugin_updater::Error as E;
    let version = version.unwrap_or("offered").to_owned();
    match e {
        E::EmptyEndpoints => UpdateProblem::NoServer,
        E::InsecureTransportProtocol => UpdateProblem::Insecure("the update server".into()),
        E::Reqwest(e) if e.is_decode() => UpdateProblem::BadManifest(e.to_string()),
        E::Reqwest(e) => UpdateProblem::Unreachable(e.to_string()),
        E::Network(detail) => UpdateProblem::Unreachable(detail),
        E::ReleaseNotFound => UpdateProblem::Unreachable("it answered without an update manifest".into()),
        e @ (E::Serialization(_) | E::Semver(_) | E::UrlParse(_)) => UpdateProblem::BadManifest(e.to_string()),
        e @ (E::TargetNotFound(_) | E::TargetsNotFound(_) | E::UnsupportedOs | E::UnsupportedArch) => {
            UpdateProblem::NoBuildHere(e.to_string())
        }
        E::SignedVersionMismatch { signed, announced } => UpdateProblem::SignedForAnother { signed, announced },
        E::Minisign(_) | E::Base64(_) | E::SignatureUtf8(_) | E::MissingSignedVersion => {
            UpdateProblem::BadSignature { version }
        }
        e => UpdateProblem::InstallFailed(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_packaged_copy_replaces_itself() {
        assert!(!installable(None), "a binary from a build folder");
        for b in [BundleType::Deb, BundleType::Rpm, BundleType::AppImage, BundleType::Msi, BundleType::Nsis] {
            assert!(installable(Some(b)));
        }
    }

    #[test]
    fn updater_errors_read_as_the_customer_should_hear_them() {
        use tauri_plugin_updater::Error as E;
        let bad_json = serde_json::from_str::<serde_json::Value>("{").expect_err("broken");
        assert!(matches!(classify(E::Serialization(bad_json), None), UpdateProblem::BadManifest(_)));
        assert!(matches!(classify(E::TargetNotFound("linux-x86_64".into()), None), UpdateProblem::NoBuildHere(_)));
        assert_eq!(
            classify(E::SignatureUtf8("x".into()), Some("0.2.0")),
            UpdateProblem::BadSignature { version: "0.2.0".into() }
        );
        assert!(matches!(classify(E::Network("503".into()), None), UpdateProblem::Unreachable(_)));
        assert_eq!(classify(E::EmptyEndpoints, None), UpdateProblem::NoServer);
    }
}
