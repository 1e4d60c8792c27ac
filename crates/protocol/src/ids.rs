//! Ids are opaque strings on the wire, but some backends send numbers; both become a `String`.

use serde::{Deserialize, Deserializer};

#[derive(Deserialize)]
#[serde(untagged)]
enum StringOrNumber {
    S(String),
    I(i64),
    U(u64),
    F(f64),
}

impl From<StringOrNumber> for String {
    fn from(v: StringOrNumber) -> Self {
        match v {
            StringOrNumber::S(s) => s,
            StringOrNumber::I(i) => i.to_string(),
            StringOrNumber::U(u) => u.to_string(),
            StringOrNumber::F(f) => f.to_string(),
        }
    }
}

pub(crate) fn opt_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<StringOrNumber>::deserialize(d)?.map(String::from))
}

pub(crate) fn id<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(StringOrNumber::deserialize(d)?.into())
}

/// Picks `_id`, else `id`; the error names the object so a skipped payload can be explained.
pub(crate) fn pick(underscore: Option<String>, plain: Option<String>, what: &str) -> Result<String, String> {
    underscore.or(plain).ok_or_else(|| format!("{what} has neither `_id` nor `id`"))
}
