//! `liveorders://` links: what a link from a store's e-mail or web page may open. A link is text anyone can
//! write, so it is read strictly: one shape (`liveorders://orders/<id>`), an order id of a few safe
//! characters, nothing that could turn into another path or a request of the link author's choosing.

use std::fmt;

/// The URL scheme the app registers with the OS.
pub const SCHEME: &str = "liveorders";

/// The longest order id a link may carry (ids on the wire are short: 24 hex characters, or a number).
const MAX_ID: usize = 64;

/// Where a link asks the app to go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkTarget {
    /// The page of this order (of the signed-in customer, if it is theirs).
    Order(String),
}

/// Why a link is not followed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkError {
    /// Not a `liveorders://` link at all.
    NotOurs,
    /// A `liveorders://` link to something the app does not have.
    Unknown,
    /// `liveorders://orders/…` with something that cannot be an order id.
    BadOrderId,
}

impl fmt::Display for LinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LinkError::NotOurs => "This link is not a Live Orders link, so the app cannot open it.",
            LinkError::Unknown => {
                "This Live Orders link does not lead to an order. Links to an order look like liveorders://orders/…; \
                 ask the store for a new one."
            }
            LinkError::BadOrderId => {
                "This link's order number is damaged, so the app cannot open it. Ask the store for a new link."
            }
        })
    }
}

impl std::error::Error for LinkError {}

/// The link a launch was given: on Linux and Windows the OS starts the app with the link as an argument; a
/// launcher may add flags of its own, so it is the one argument that looks like a link, if there is one.
pub fn link_in_args(args: &[String]) -> Option<&str> {
    let mut links = args.iter().filter(|a| a.contains("://"));
    let link = links.next()?;
    links.next().is_none().then_some(link.as_str())
}

/// Reads a link. A query or fragment (tracking tags mail programs add) is ignored; a trailing `/` is allowed.
pub fn parse(link: &str) -> Result<LinkTarget, LinkError> {
    let link = link.trim();
    let Some((scheme, rest)) = link.split_once("://") else { return Err(LinkError::NotOurs) };
    if !scheme.eq_ignore_ascii_case(SCHEME) {
        return Err(LinkError::NotOurs);
    }
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let Some(id) = rest.strip_prefix("orders/").or((rest == "orders").then_some("")) else {
        return Err(LinkError::Unknown);
    };
    let safe = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    if id.is_empty() || id.len() > MAX_ID || !id.chars().all(safe) {
        return Err(LinkError::BadOrderId);
    }
    Ok(LinkTarget::Order(id.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_order_link_of_our_scheme_with_a_plain_id_is_followed() {
        let order = |id: &str| Ok(LinkTarget::Order(id.to_owned()));
        let long = format!("liveorders://orders/{}", "a".repeat(65));
        let cases: &[(&str, Result<LinkTarget, LinkError>)] = &[
            ("liveorders://orders/64b0a01", order("64b0a01")),
            ("LiveOrders://orders/64b0a01/", order("64b0a01")),
            ("liveorders://orders/1001?utm_source=mail#top", order("1001")),
            ("  liveorders://orders/ord_42-b \n", order("ord_42-b")),
            ("https://orders/64b0a01", Err(LinkError::NotOurs)),
            ("liveorders:orders/1", Err(LinkError::NotOurs)),
            ("javascript://orders/1", Err(LinkError::NotOurs)),
            ("", Err(LinkError::NotOurs)),
            ("liveorders://settings", Err(LinkError::Unknown)),
            ("liveorders://", Err(LinkError::Unknown)),
            ("liveorders://order/1", Err(LinkError::Unknown)),
            ("liveorders://orders/", Err(LinkError::BadOrderId)),
            ("liveorders://orders/../../api/users", Err(LinkError::BadOrderId)),
            ("liveorders://orders/1/cancel", Err(LinkError::BadOrderId)),
            ("liveorders://orders/%2e%2e", Err(LinkError::BadOrderId)),
            ("liveorders://orders/a b", Err(LinkError::BadOrderId)),
            ("liveorders://orders/é", Err(LinkError::BadOrderId)),
            (&long, Err(LinkError::BadOrderId)),
        ];
        for (link, want) in cases {
            assert_eq!(&parse(link), want, "{link:?}");
        }
    }

    #[test]
    fn a_launch_carries_a_link_when_one_argument_looks_like_one() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(link_in_args(&args(&["liveorders://orders/1"])), Some("liveorders://orders/1"));
        assert_eq!(link_in_args(&args(&["--automation", "liveorders://orders/1"])), Some("liveorders://orders/1"));
        assert_eq!(link_in_args(&args(&["x://a", "liveorders://orders/1"])), None, "which one?");
        assert_eq!(link_in_args(&args(&["--hidden"])), None);
        assert_eq!(link_in_args(&[]), None);
    }

    #[test]
    fn refusals_say_what_to_do_in_words() {
        for e in [LinkError::NotOurs, LinkError::Unknown, LinkError::BadOrderId] {
            let words = e.to_string();
            assert!(words.ends_with('.') && words.len() > 30, "{words}");
        }
    }
}
