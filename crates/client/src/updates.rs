//! Updates of the app itself: which update server may be asked, whether an offered version is one to take,
//! and how each way an update can fail reads for the customer. The shell asks the server, downloads and
//! installs (Tauri's updater, which checks the download's signature against the public key the app was
//! built with); the decisions and the words are here.

use std::cmp::Ordering;
use std::fmt;
use std::time::Duration;

/// The first check waits this long after start, so it never competes with signing in and the first screen.
pub const FIRST_CHECK_AFTER: Duration = Duration::from_secs(20);
/// Then the app asks again this often while it runs.
pub const CHECK_EVERY: Duration = Duration::from_secs(24 * 60 * 60);
/// A check or a download that takes longer than this has failed.
pub const TIMEOUT: Duration = Duration::from_secs(120);

/// An update server address, checked: `https://`, or plain `http://` only on this machine (where nobody sits
/// on the way). The download is signed either way; the manifest is not, so it must not cross a network in
/// clear.
pub fn update_url(url: &str) -> Result<String, UpdateProblem> {
    let url = url.trim();
    let parsed = reqwest::Url::parse(url).map_err(|_| UpdateProblem::BadServer(url.to_owned()))?;
    match parsed.scheme() {
        "https" if parsed.host_str().is_some() => Ok(url.to_owned()),
        "http" if parsed.host_str().is_some() && !crate::is_cleartext_remote(url) => Ok(url.to_owned()),
        "http" => Err(UpdateProblem::Insecure(url.to_owned())),
        _ => Err(UpdateProblem::BadServer(url.to_owned())),
    }
}

/// How an offered version stands to the one running.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Offer {
    Newer,
    Same,
    /// Never installed: an older build, even validly signed, may have the flaws its successors fixed.
    Older,
}

/// Compares versions as semver does (`1.2.10` after `1.2.9`, `1.0.0-beta` before `1.0.0`).
pub fn judge(current: &semver::Version, offered: &semver::Version) -> Offer {
    match offered.cmp_precedence(current) {
        Ordering::Greater => Offer::Newer,
        Ordering::Equal => Offer::Same,
        Ordering::Less => Offer::Older,
    }
}

/// Why no update was found or installed. Whatever it is, the running app is left as it was.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UpdateProblem {
    /// No update server is set (a build without one, and none in Settings).
    NoServer,
    /// The address is not a web address.
    BadServer(String),
    /// Plain `http://` to another machine.
    Insecure(String),
    /// The server could not be reached or answered with an error.
    Unreachable(String),
    /// The server's answer is not an update manifest the app can read.
    BadManifest(String),
    /// The manifest has no build for this system.
    NoBuildHere(String),
    /// The server offers an older version than the one running.
    Older { offered: String, current: String },
    /// The download does not match its signature, or was signed with another key than the app trusts.
    BadSignature { version: String },
    /// Validly signed, but for another version than the server announces: an old release passed off as new.
    SignedForAnother { signed: String, announced: String },
    /// Downloaded and verified, but this copy was not installed from a package the updater can replace.
    NotFromPackage { version: String },
    /// The system's installer refused or failed.
    InstallFailed(String),
}

impl fmt::Display for UpdateProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UpdateProblem::NoServer => write!(f, "No update server is set. Enter one in Settings to look for updates."),
            UpdateProblem::BadServer(url) => {
                write!(f, "The update server address {url:?} is not a web address; it should start with https://.")
            }
            UpdateProblem::Insecure(url) => write!(
                f,
                "The update server {url} is not encrypted (http://), so the update information could be changed on \
                 the way. Use the server's https:// address."
            ),
            UpdateProblem::Unreachable(detail) => {
                write!(f, "The update server cannot be reached right now; the app will ask again later. ({detail})")
            }
            UpdateProblem::BadManifest(detail) => {
                write!(f, "The update server's answer could not be read, so nothing was installed. ({detail})")
            }
            UpdateProblem::NoBuildHere(detail) => {
                write!(f, "The update server has no version for this system yet. ({detail})")
            }
            UpdateProblem::Older { offered, current } => write!(
                f,
                "The update server offers version {offered}, older than the {current} you have; it was not installed."
            ),
            UpdateProblem::BadSignature { version } => write!(
                f,
                "The download of version {version} does not carry the publisher's valid signature (it was changed \
                 on the way, or signed by someone else), so it was not installed."
            ),
            UpdateProblem::SignedForAnother { signed, announced } => write!(
                f,
                "The update server announces version {announced}, but the download is the publisher's version \
                 {signed}: an older release passed off as a new one is never installed."
            ),
            UpdateProblem::NotFromPackage { version } => write!(
                f,
                "Version {version} was downloaded and its signature checked, but this copy of Live Orders was not \
                 installed from a package (.deb, .rpm, AppImage or installer), so it cannot replace itself. Install \
                 the new version from where you got the app."
            ),
            UpdateProblem::InstallFailed(detail) => {
                write!(f, "The update could not be installed; the app you have is unchanged. ({detail})")
            }
        }
    }
}

impl std::error::Error for UpdateProblem {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_or_this_machine_may_serve_updates() {
        assert_eq!(
            update_url(" https://updates.example.com/latest.json "),
            Ok("https://updates.example.com/latest.json".into())
        );
        assert!(update_url("http://127.0.0.1:8080/latest.json").is_ok());
        assert!(update_url("http://localhost/latest.json").is_ok());
        assert!(update_url("http://[::1]:9/x").is_ok());
        assert_eq!(
            update_url("http://updates.example.com/latest.json"),
            Err(UpdateProblem::Insecure("http://updates.example.com/latest.json".into()))
        );
        for bad in ["", "updates.example.com", "file:///etc/passwd", "ftp://x/y", "https://"] {
            assert!(matches!(update_url(bad), Err(UpdateProblem::BadServer(_))), "{bad:?}");
        }
    }

    #[test]
    fn only_a_newer_version_is_an_update() {
        let v = |s: &str| semver::Version::parse(s).expect("a version");
        assert_eq!(judge(&v("0.1.0"), &v("0.2.0")), Offer::Newer);
        assert_eq!(judge(&v("1.2.9"), &v("1.2.10")), Offer::Newer);
        assert_eq!(judge(&v("1.0.0-beta.2"), &v("1.0.0")), Offer::Newer);
        assert_eq!(judge(&v("0.1.0"), &v("0.1.0+build.7")), Offer::Same);
        assert_eq!(judge(&v("0.2.0"), &v("0.1.9")), Offer::Older);
        assert_eq!(judge(&v("1.0.0"), &v("1.0.0-rc.1")), Offer::Older);
    }

    #[test]
    fn every_problem_reads_as_a_sentence_that_keeps_the_app_as_it_is() {
        let all = [
            UpdateProblem::NoServer,
            UpdateProblem::BadServer("x".into()),
            UpdateProblem::Insecure("http://a/b".into()),
            UpdateProblem::Unreachable("connection refused".into()),
            UpdateProblem::BadManifest("missing field `version`".into()),
            UpdateProblem::NoBuildHere("linux-x86_64".into()),
            UpdateProblem::Older { offered: "0.0.9".into(), current: "0.1.0".into() },
            UpdateProblem::BadSignature { version: "0.2.0".into() },
            UpdateProblem::SignedForAnother { signed: "0.0.9".into(), announced: "0.2.0".into() },
            UpdateProblem::NotFromPackage { version: "0.2.0".into() },
            UpdateProblem::InstallFailed("dpkg: error".into()),
        ];
        for p in all {
            let words = p.to_string();
            assert!(words.starts_with(char::is_uppercase) && (words.ends_with('.') || words.ends_with(')')), "{words}");
        }
    }
}
