//! Where the data lives, as `--db` (or `DATABASE_URL`) names it: a SQLite file path, or a `postgres://` URL.

use std::path::PathBuf;

/// A SQLite file (the embedded default) or a PostgreSQL database that several instances can share. Shown
/// (`Display`, `Debug`) without a password.
#[derive(Clone, PartialEq, Eq)]
pub enum DbLocation {
    Sqlite(PathBuf),
    Postgres(String),
}

impl DbLocation {
    /// Reads `--db`: `postgres://` or `postgresql://` is PostgreSQL; `sqlite://PATH` or `sqlite:PATH` is that
    /// file; any other `scheme://` is refused in words (rather than taken as a folder named `scheme:`); the
    /// rest is a file path.
    pub fn parse(text: &str) -> Result<DbLocation, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("--db is empty: give a SQLite file path or a postgres:// URL".into());
        }
        if let Some((scheme, rest)) = text.split_once("://").filter(|(s, _)| is_scheme(s)) {
            return match scheme.to_ascii_lowercase().as_str() {
                "postgres" | "postgresql" => Ok(DbLocation::Postgres(text.to_owned())),
                "sqlite" if !rest.is_empty() => Ok(DbLocation::Sqlite(PathBuf::from(rest))),
                other => Err(format!(
                    "--db {}: `{other}://` is not a database order-server runs on; give a SQLite file path \
                     (e.g. ./orders.db) or a PostgreSQL URL (postgres://user@host/dbname)",
                    redact(text)
                )),
            };
        }
        Ok(DbLocation::Sqlite(PathBuf::from(text.strip_prefix("sqlite:").unwrap_or(text))))
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, DbLocation::Postgres(_))
    }
}

/// A URL scheme as RFC 3986 spells it: a letter, then letters, digits, `+`, `-`, `.`.
fn is_scheme(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// The URL with its password (if any) replaced by `***`, for messages and logs.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

impl std::fmt::Display for DbLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DbLocation::Sqlite(path) => write!(f, "{}", path.display()),
            DbLocation::Postgres(url) => f.write_str(&redact(url)),
        }
    }
}

impl std::fmt::Debug for DbLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DbLocation({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_or_a_postgres_url_and_nothing_else() {
        let sqlite = |p: &str| Ok(DbLocation::Sqlite(PathBuf::from(p)));
        assert_eq!(DbLocation::parse("orders.db"), sqlite("orders.db"));
        assert_eq!(DbLocation::parse("/var/lib/x/orders.db"), sqlite("/var/lib/x/orders.db"));
        assert_eq!(DbLocation::parse("sqlite:///tmp/o.db"), sqlite("/tmp/o.db"));
        assert_eq!(DbLocation::parse("sqlite:o.db"), sqlite("o.db"));
        // A Windows path is a path, not a scheme.
        assert_eq!(DbLocation::parse(r"C:\data\orders.db"), sqlite(r"C:\data\orders.db"));
        for url in ["postgres://u@h/orders", "postgresql://u:p@h:5433/orders?sslmode=disable", "POSTGRES://h/db"] {
            assert_eq!(DbLocation::parse(url), Ok(DbLocation::Postgres(url.into())), "{url}");
        }
        for bad in ["mysql://u@h/orders", "redis://h", "http://h/db", "", "  "] {
            assert!(DbLocation::parse(bad).is_err(), "{bad:?} must be refused");
        }
        let err = DbLocation::parse("mysql://root:hunter2@h/orders").unwrap_err();
        assert!(err.contains("`mysql://`") && err.contains("postgres://") && !err.contains("hunter2"), "{err}");
    }

    #[test]
    fn a_password_is_never_shown() {
        let db = DbLocation::parse("postgres://live:s3cret@db.example:5432/orders").unwrap();
        assert_eq!(db.to_string(), "postgres://live:***@db.example:5432/orders");
        assert!(!format!("{db:?}").contains("s3cret"));
        let plain = DbLocation::parse("postgres://live@db/orders").unwrap();
        assert_eq!(plain.to_string(), "postgres://live@db/orders");
    }
}
