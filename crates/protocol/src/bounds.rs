//! How much any peer may send in one message: checked before a REST body or a socket event is parsed, so a
//! backend (ours with a bug, or anyone's) cannot make the app hold a megabyte order number, a list of millions
//! or a nesting that exhausts the stack. The figures sit far above anything the contract produces (a customer's
//! whole history, a replay of 10,000 changes) and far below what would hurt.

use std::fmt;

/// The longest one JSON string may be, in bytes as written.
pub const MAX_TEXT: usize = 64 * 1024;
/// The most elements one JSON array may hold.
pub const MAX_ITEMS: usize = 100_000;
/// The deepest JSON may nest.
pub const MAX_DEPTH: usize = 32;

/// What went past a bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TooBig {
    Text,
    Items,
    Depth,
}

impl fmt::Display for TooBig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TooBig::Text => write!(f, "a text longer than {} KiB", MAX_TEXT / 1024),
            TooBig::Items => write!(f, "a list of more than {MAX_ITEMS} entries"),
            TooBig::Depth => write!(f, "nesting deeper than {MAX_DEPTH} levels"),
        }
    }
}

impl std::error::Error for TooBig {}

/// Checks raw JSON against the bounds in one pass, without parsing it. Malformed JSON passes here; the parser
/// after it says what is wrong.
pub fn check_json(bytes: &[u8]) -> Result<(), TooBig> {
    // Per open bracket: the elements counted so far in it (`None` for an object).
    let mut open: Vec<Option<usize>> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                // To the closing quote, jumping from one quote or backslash to the next (most of a body is text).
                let start = i + 1;
                i = start;
                loop {
                    match bytes.get(i..).and_then(|rest| memchr::memchr2(b'"', b'\\', rest)) {
                        Some(at) if bytes[i + at] == b'"' => {
                            i += at;
                            break;
                        }
                        Some(at) => i += at + 2,
                        None => {
                            i = bytes.len();
                            break;
                        }
                    }
                }
                if i - start > MAX_TEXT {
                    return Err(TooBig::Text);
                }
            }
            b'[' | b'{' => {
                if open.len() == MAX_DEPTH {
                    return Err(TooBig::Depth);
                }
                let array = bytes[i] == b'[';
                // An array holds one element as soon as anything but `]` follows.
                let next = bytes[i + 1..].iter().find(|b| !b.is_ascii_whitespace());
                open.push(array.then_some(usize::from(next != Some(&b']'))));
            }
            b']' | b'}' => {
                open.pop();
            }
            b',' => {
                if let Some(Some(n)) = open.last_mut() {
                    *n += 1;
                    if *n > MAX_ITEMS {
                        return Err(TooBig::Items);
                    }
                }
            }
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

/// The same bounds over a parsed value (a socket event arrives parsed).
pub fn check_value(v: &serde_json::Value) -> Result<(), TooBig> {
    fn walk(v: &serde_json::Value, depth: usize) -> Result<(), TooBig> {
        use serde_json::Value;
        match v {
            Value::String(s) if s.len() > MAX_TEXT => Err(TooBig::Text),
            Value::Array(_) | Value::Object(_) if depth == MAX_DEPTH => Err(TooBig::Depth),
            Value::Array(a) if a.len() > MAX_ITEMS => Err(TooBig::Items),
            Value::Array(a) => a.iter().try_for_each(|v| walk(v, depth + 1)),
            Value::Object(o) => o.iter().try_for_each(|(k, v)| {
                if k.len() > MAX_TEXT {
                    return Err(TooBig::Text);
                }
                walk(v, depth + 1)
            }),
            _ => Ok(()),
        }
    }
    walk(v, 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn both(v: serde_json::Value) -> (Result<(), TooBig>, Result<(), TooBig>) {
        (check_json(&serde_json::to_vec(&v).unwrap()), check_value(&v))
    }

    #[test]
    fn what_the_contract_sends_passes_and_past_a_bound_is_named() {
        let ok = json!({"orderNumber": "ORD-1", "items": [{"name": "Pizza \"big\" \\ slice"}], "e": [], "s": "]}["});
        assert_eq!(both(ok), (Ok(()), Ok(())));
        let items: Vec<u32> = vec![0; MAX_ITEMS];
        assert_eq!(both(json!({ "changes": items })), (Ok(()), Ok(())), "exactly at the bound");
        let items: Vec<u32> = vec![0; MAX_ITEMS + 1];
        assert_eq!(both(json!({ "changes": items })), (Err(TooBig::Items), Err(TooBig::Items)));
        let text = "x".repeat(MAX_TEXT + 1);
        assert_eq!(both(json!({ "orderNumber": text })), (Err(TooBig::Text), Err(TooBig::Text)));
        let mut deep = json!(1);
        for _ in 0..MAX_DEPTH + 1 {
            deep = json!([deep]);
        }
        assert_eq!(both(deep), (Err(TooBig::Depth), Err(TooBig::Depth)));
        assert_eq!(TooBig::Items.to_string(), "a list of more than 100000 entries");
        for cut_short in [&b"\"abc\\"[..], b"[\"", b"{\"a\":\"\\", b"[", b"\\"] {
            assert_eq!(check_json(cut_short), Ok(()), "malformed is the parser's to report: {cut_short:?}");
        }
    }
}
