//! Where the map's tiles come from: an XYZ URL template (Settings, or the one the app was built with), the
//! attribution its provider requires, and the one origin the webview's content security policy lets images
//! come from. The shell puts that origin in the policy, the UI draws from the template, and both read it here.

use std::fmt;

/// The template the app was built with (`LIVE_ORDERS_TILE_URL` at build time), else OpenStreetMap's.
pub const DEFAULT_TEMPLATE: &str = match option_env!("LIVE_ORDERS_TILE_URL") {
    Some(t) => t,
    None => "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
};

/// The attribution of [`DEFAULT_TEMPLATE`]'s provider (`LIVE_ORDERS_TILE_ATTRIBUTION` at build time).
pub const DEFAULT_ATTRIBUTION: &str = match option_env!("LIVE_ORDERS_TILE_ATTRIBUTION") {
    Some(a) => a,
    None => "© OpenStreetMap contributors",
};

/// Longer than any real provider's template, API key included.
const MAX_TEMPLATE: usize = 512;
const MAX_ATTRIBUTION: usize = 200;

/// A tile source the app may use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TileSource {
    /// `https://tile.example.com/{z}/{x}/{y}.png`.
    pub template: String,
    /// `https://tile.example.com`: the only place tiles may come from.
    pub origin: String,
    /// Plain text, shown on the map.
    pub attribution: String,
}

/// Why a template cannot be used, in words for the Settings form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TileProblem {
    NotWeb,
    PlainHttpElsewhere,
    BadHost,
    Placeholders,
    Subdomains,
    BadCharacter(char),
    TooLong,
    NoAttribution,
}

impl fmt::Display for TileProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TileProblem::NotWeb => f.write_str("The map tiles address must start with https://."),
            TileProblem::PlainHttpElsewhere => {
                f.write_str("Map tiles over plain http:// are only allowed from this machine; use https://.")
            }
            TileProblem::BadHost => f.write_str("The map tiles address has no valid server name."),
            TileProblem::Placeholders => {
                f.write_str("The map tiles address must contain {z}, {x} and {y} (for example https://tile.example.com/{z}/{x}/{y}.png).")
            }
            TileProblem::Subdomains => f.write_str(
                "The map tiles address may not use {s}: pick one of the provider's servers, so the app trusts only that one.",
            ),
            TileProblem::BadCharacter(c) => write!(f, "The map tiles address may not contain {c:?}."),
            TileProblem::TooLong => write!(f, "The map tiles address is longer than {MAX_TEMPLATE} characters."),
            TileProblem::NoAttribution => f.write_str(
                "Enter the attribution the tile provider requires (for example © OpenStreetMap contributors).",
            ),
        }
    }
}

/// The tile source chosen in Settings (`None` or blank: the built-in one). A chosen template needs the
/// attribution its provider requires; the built-in one brings its own.
pub fn tile_source(template: Option<&str>, attribution: Option<&str>) -> Result<TileSource, TileProblem> {
    let template = template.map(str::trim).filter(|t| !t.is_empty());
    let attribution = attribution.map(str::trim).filter(|a| !a.is_empty());
    let (template, attribution) = match (template, attribution) {
        (None, a) | (Some(DEFAULT_TEMPLATE), a) => (DEFAULT_TEMPLATE, a.unwrap_or(DEFAULT_ATTRIBUTION)),
        (Some(t), Some(a)) => (t, a),
        (Some(_), None) => return Err(TileProblem::NoAttribution),
    };
    if attribution.chars().count() > MAX_ATTRIBUTION {
        return Err(TileProblem::NoAttribution);
    }
    let origin = origin_of(template)?;
    Ok(TileSource { template: template.to_owned(), origin, attribution: attribution.to_owned() })
}

/// The origin of a template, checked: https (or http on this machine), a plain host, `{z}`, `{x}` and `{y}`,
/// and nothing that could break out of the policy it goes into.
fn origin_of(template: &str) -> Result<String, TileProblem> {
    if template.len() > MAX_TEMPLATE {
        return Err(TileProblem::TooLong);
    }
    if let Some(c) = template.chars().find(|c| !c.is_ascii_graphic() || "\"'`;,<>\\^|".contains(*c)) {
        return Err(TileProblem::BadCharacter(c));
    }
    if template.contains("{s}") {
        return Err(TileProblem::Subdomains);
    }
    let lower = template.to_ascii_lowercase();
    let (scheme, rest) = if let Some(rest) = lower.strip_prefix("https://") {
        ("https", rest)
    } else if let Some(rest) = lower.strip_prefix("http://") {
        ("http", rest)
    } else {
        return Err(TileProblem::NotWeb);
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let (host, port) = split_port(authority).ok_or(TileProblem::BadHost)?;
    let plain_host = !host.is_empty()
        && host
            .split('.')
            .all(|l| !l.is_empty() && l.len() <= 63 && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
    if !(plain_host || host == "[::1]") {
        return Err(TileProblem::BadHost);
    }
    if scheme == "http" && !(host == "localhost" || host == "[::1]" || host.starts_with("127.")) {
        return Err(TileProblem::PlainHttpElsewhere);
    }
    let placeholders: Vec<&str> =
        template.split('{').skip(1).map(|p| p.split('}').next().unwrap_or_default()).collect();
    let known = placeholders.iter().all(|p| ["z", "x", "y", "r"].contains(p));
    if !known || !["z", "x", "y"].iter().all(|p| placeholders.contains(p)) || authority.contains('{') {
        return Err(TileProblem::Placeholders);
    }
    Ok(match port {
        Some(p) => format!("{scheme}://{host}:{p}"),
        None => format!("{scheme}://{host}"),
    })
}

/// `host[:port]`, the port all digits; `None` when it is not.
fn split_port(authority: &str) -> Option<(&str, Option<&str>)> {
    if authority.contains('@') {
        return None;
    }
    let (host, port) = match authority.rfind(':') {
        Some(i) if !authority[i..].contains(']') => (&authority[..i], Some(&authority[i + 1..])),
        _ => (authority, None),
    };
    match port {
        Some(p) if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) => None,
        _ => Some((host, port)),
    }
}

/// The page's content security policy with `origin` added to where images may come from, and nothing else.
pub fn csp_with_tiles(csp: &str, origin: &str) -> String {
    let mut found = false;
    let mut parts: Vec<String> = csp
        .split(';')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| {
            if d.split_whitespace().next() == Some("img-src") {
                found = true;
                format!("{d} {origin}")
            } else {
                d.to_owned()
            }
        })
        .collect();
    if !found {
        parts.push(format!("img-src 'self' data: {origin}"));
    }
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_source_needs_nothing_and_a_chosen_one_its_attribution() {
        let built_in = tile_source(None, None).expect("the default is valid");
        assert_eq!(built_in.template, DEFAULT_TEMPLATE);
        assert_eq!(built_in.attribution, DEFAULT_ATTRIBUTION);
        assert_eq!(tile_source(Some("  "), None), Ok(built_in.clone()));
        let t = "https://tiles.example.com/osm/{z}/{x}/{y}{r}.png?key=abc123";
        assert_eq!(tile_source(Some(t), None), Err(TileProblem::NoAttribution));
        let s = tile_source(Some(t), Some(" © Example ")).expect("valid");
        assert_eq!((s.origin.as_str(), s.attribution.as_str()), ("https://tiles.example.com", "© Example"));
        let local = tile_source(Some("http://127.0.0.1:8123/{z}/{x}/{y}.png"), Some("test tiles")).expect("valid");
        assert_eq!(local.origin, "http://127.0.0.1:8123");
        let local = tile_source(Some("HTTP://LocalHost:80/{z}/{x}/{y}.png"), Some("t")).expect("valid");
        assert_eq!(local.origin, "http://localhost:80");
    }

    #[test]
    fn a_template_that_could_widen_the_policy_or_leak_is_refused_in_words() {
        let refused = |t: &str| tile_source(Some(t), Some("a")).expect_err(t);
        assert_eq!(refused("ftp://x.org/{z}/{x}/{y}.png"), TileProblem::NotWeb);
        assert_eq!(refused("tile.example.com/{z}/{x}/{y}.png"), TileProblem::NotWeb);
        assert_eq!(refused("http://tiles.example.com/{z}/{x}/{y}.png"), TileProblem::PlainHttpElsewhere);
        assert_eq!(refused("http://192.168.1.2/{z}/{x}/{y}.png"), TileProblem::PlainHttpElsewhere);
        assert_eq!(refused("https://{s}.tile.example.com/{z}/{x}/{y}.png"), TileProblem::Subdomains);
        assert_eq!(refused("https://a.example.com/{z}/{x}.png"), TileProblem::Placeholders);
        assert_eq!(refused("https://a.example.com/{z}/{x}/{y}/{foo}.png"), TileProblem::Placeholders);
        assert_eq!(refused("https://user:pw@a.example.com/{z}/{x}/{y}.png"), TileProblem::BadHost);
        assert_eq!(refused("https://a.example.com:99999999/{z}/{x}/{y}.png"), TileProblem::BadHost);
        assert_eq!(refused("https://a..com/{z}/{x}/{y}.png"), TileProblem::BadHost);
        assert_eq!(refused("https://*.example.com/{z}/{x}/{y}.png"), TileProblem::BadHost);
        assert_eq!(refused("https://a.com script-src */{z}/{x}/{y}"), TileProblem::BadCharacter(' '));
        assert_eq!(refused("https://a.com;/{z}/{x}/{y}"), TileProblem::BadCharacter(';'));
        assert_eq!(refused("https://a.com,https://b.com/{z}/{x}/{y}"), TileProblem::BadCharacter(','));
        assert_eq!(refused("https://a.com/{z}/{x}/{y}.png'"), TileProblem::BadCharacter('\''));
        assert_eq!(refused("https://bücher.de/{z}/{x}/{y}"), TileProblem::BadCharacter('ü'));
        assert_eq!(refused(&format!("https://a.com/{}/{{z}}/{{x}}/{{y}}", "p".repeat(600))), TileProblem::TooLong);
        assert_eq!(
            tile_source(Some("https://a.com/{z}/{x}/{y}"), Some(&"a".repeat(201))),
            Err(TileProblem::NoAttribution)
        );
        for p in [
            TileProblem::NotWeb,
            TileProblem::PlainHttpElsewhere,
            TileProblem::BadHost,
            TileProblem::Placeholders,
            TileProblem::Subdomains,
            TileProblem::BadCharacter(';'),
            TileProblem::TooLong,
            TileProblem::NoAttribution,
        ] {
            let words = p.to_string();
            assert!(words.ends_with('.') || words.ends_with(").") && words.len() > 20, "{words}");
        }
    }

    #[test]
    fn the_policy_gains_exactly_the_tile_origin_for_images() {
        let csp = "default-src 'self'; img-src 'self' data:; connect-src 'self' ipc:";
        assert_eq!(
            csp_with_tiles(csp, "https://tile.example.com"),
            "default-src 'self'; img-src 'self' data: https://tile.example.com; connect-src 'self' ipc:"
        );
        assert_eq!(
            csp_with_tiles("default-src 'self';", "http://127.0.0.1:9"),
            "default-src 'self'; img-src 'self' data: http://127.0.0.1:9"
        );
    }
}
