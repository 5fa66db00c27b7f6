//! Human-facing identifiers: slugs and email addresses.

use crate::ParseError;

/// A URL-safe name: 1–63 characters of `a-z`, `0-9`, `-`, `_`, starting with a letter or
/// digit. Tenant slugs appear in issuer URLs; organization slugs in `organization=`.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct Slug(String);

impl Slug {
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let ok_len = (1..=63).contains(&s.len());
        let ok_first = s
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        let ok_chars = s
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if ok_len && ok_first && ok_chars {
            Ok(Self(s.to_owned()))
        } else {
            Err(ParseError::new(
                "slug",
                format!(
                    "`{}` must be 1-63 characters of a-z, 0-9, `-` or `_`, starting with a letter or digit",
                    s.chars().take(80).collect::<String>()
                ),
            ))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Slug {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl TryFrom<String> for Slug {
    type Error = ParseError;
    fn try_from(s: String) -> Result<Self, ParseError> {
        Self::parse(&s)
    }
}
impl From<Slug> for String {
    fn from(s: Slug) -> String {
        s.0
    }
}

/// An email address, stored with its domain lower-cased and its local part lower-cased
/// too (Clavis treats addresses case-insensitively, as Auth0 does).
///
/// Accepts the RFC 5322 `addr-spec` dot-atom form: `local@domain` where the local part is
/// atext characters separated by single dots, and the domain is dot-separated labels of
/// letters, digits and hyphens (no leading/trailing hyphen), at most 254 octets in all.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

fn is_atext(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~".contains(&b)
}

impl Email {
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let err = |why: &str| ParseError::new("email", why.to_owned());
        let s = s.trim();
        if s.len() > 254 {
            return Err(err("is longer than 254 characters"));
        }
        let (local, domain) = s.rsplit_once('@').ok_or_else(|| err("must contain `@`"))?;
        if local.is_empty() || local.len() > 64 {
            return Err(err("the part before `@` must be 1-64 characters"));
        }
        if local
            .split('.')
            .any(|atom| atom.is_empty() || !atom.bytes().all(is_atext))
        {
            return Err(err(
                "the part before `@` contains a character or dot that is not allowed",
            ));
        }
        let labels: Vec<&str> = domain.split('.').collect();
        if labels.len() < 2 {
            return Err(err("the domain must contain a dot"));
        }
        for label in &labels {
            let ok = (1..=63).contains(&label.len())
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-');
            if !ok {
                return Err(err("the domain is not a valid host name"));
            }
        }
        Ok(Self(s.to_ascii_lowercase()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map(|(_, d)| d).unwrap_or("")
    }
}

impl std::fmt::Display for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl TryFrom<String> for Email {
    type Error = ParseError;
    fn try_from(s: String) -> Result<Self, ParseError> {
        Self::parse(&s)
    }
}
impl From<Email> for String {
    fn from(e: Email) -> String {
        e.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert_eq!(
            Email::parse("Alice@Example.COM").map(|e| e.0),
            Ok("alice@example.com".into())
        );
        assert!(Email::parse("o'brien+tag@sub.example.org").is_ok());
        for bad in [
            "",
            "a",
            "a@b",
            "@x.com",
            "a..b@x.com",
            ".a@x.com",
            "a@-x.com",
            "a b@x.com",
            "a@x_y.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn slugs() {
        assert!(Slug::parse("acme-corp_2").is_ok());
        for bad in ["", "Acme", "-acme", "a/b", "a.b", &"x".repeat(64)] {
            assert!(Slug::parse(bad).is_err(), "{bad} accepted");
        }
    }
}
