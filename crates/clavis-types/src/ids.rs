//! Prefixed, time-ordered identifiers (`org_01jd…`), one newtype per resource.
//!
//! An id is `prefix_` followed by 26 Crockford base32 characters encoding 48 bits of
//! millisecond time and 80 random bits, so ids sort by creation time (stable pagination)
//! and cannot be guessed.

use crate::{ParseError, Rng, Timestamp};

const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// Encode 16 bytes (48-bit time + 80 random bits) as 26 lowercase Crockford base32 chars.
pub fn encode_id(now: Timestamp, rng: &dyn Rng) -> String {
    let mut bytes = [0u8; 16];
    let ms = u64::try_from(now.as_millis()).unwrap_or(0);
    bytes[..6].copy_from_slice(&ms.to_be_bytes()[2..]);
    rng.fill(&mut bytes[6..]);
    let value = u128::from_be_bytes(bytes);
    let mut out = String::with_capacity(26);
    for i in (0..26).rev() {
        let idx = ((value >> (i * 5)) & 0x1f) as usize;
        out.push(char::from(ALPHABET[idx]));
    }
    out
}

/// `n` random lowercase Crockford base32 characters (5 bits each).
pub fn random_base32(rng: &dyn Rng, n: usize) -> String {
    let mut bytes = vec![0u8; n];
    rng.fill(&mut bytes);
    bytes
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(b & 0x1f)]))
        .collect()
}

fn valid_tail(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

macro_rules! prefixed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// The prefix every id of this kind starts with.
            pub const PREFIX: &'static str = $prefix;

            /// A new random, time-ordered id.
            pub fn generate(now: Timestamp, rng: &dyn Rng) -> Self {
                Self(format!("{}{}", $prefix, encode_id(now, rng)))
            }

            /// Parse an id received from outside.
            pub fn parse(s: &str) -> Result<Self, ParseError> {
                match s.strip_prefix($prefix) {
                    Some(tail) if valid_tail(tail) => Ok(Self(s.to_owned())),
                    _ => Err(ParseError::new(
                        $what,
                        format!("expected an id starting with `{}`", $prefix),
                    )),
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl TryFrom<String> for $name {
            type Error = ParseError;
            fn try_from(s: String) -> Result<Self, ParseError> {
                Self::parse(&s)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }
    };
}

prefixed_id!(/// A tenant: an isolated issuer.
    TenantId, "ten_", "tenant id");
prefixed_id!(/// An organization (B2B customer) inside a tenant.
    OrgId, "org_", "organization id");
prefixed_id!(/// A team inside an organization.
    TeamId, "team_", "team id");
prefixed_id!(/// A user (root identity) inside a tenant.
    UserId, "usr_", "user id");
prefixed_id!(/// An Api (resource server).
    ApiId, "api_", "api id");
prefixed_id!(/// A role.
    RoleId, "rol_", "role id");
prefixed_id!(/// A connection (identity source).
    ConnectionId, "con_", "connection id");
prefixed_id!(/// A client grant: which permissions of an Api a machine-to-machine client may get.
    ClientGrantId, "cgr_", "client grant id");
prefixed_id!(/// A login session (the `sid` claim).
    SessionId, "ses_", "session id");
prefixed_id!(/// A family of tokens issued from one user grant (one authorization code).
    FamilyId, "tfm_", "token family id");
prefixed_id!(/// An invitation to join an organization.
    InvitationId, "uinv_", "invitation id");
prefixed_id!(/// An API key of the Management API (the id, not the secret key).
    ApiKeyId, "akey_", "API key id");
prefixed_id!(/// A message in the email outbox.
    EmailId, "msg_", "email id");
prefixed_id!(/// A custom domain mapped to a tenant (its issuer host).
    CustomDomainId, "cd_", "custom domain id");

/// An OAuth client id: 32 base32 characters, no prefix (clients paste these into config
/// files and libraries that expect opaque strings, as with Auth0).
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct ClientId(String);

impl ClientId {
    /// 32 random base32 characters (160 bits).
    pub fn generate(rng: &dyn Rng) -> Self {
        Self(random_base32(rng, 32))
    }

    pub fn parse(s: &str) -> Result<Self, ParseError> {
        if valid_tail(s) && s.len() >= 8 {
            Ok(Self(s.to_owned()))
        } else {
            Err(ParseError::new(
                "client id",
                "expected 8 to 64 letters, digits, `-` or `_`",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ClientId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl TryFrom<String> for ClientId {
    type Error = ParseError;
    fn try_from(s: String) -> Result<Self, ParseError> {
        Self::parse(&s)
    }
}
impl From<ClientId> for String {
    fn from(id: ClientId) -> String {
        id.0
    }
}

/// A signing key id (`kid`), unique within a tenant.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct Kid(String);

impl Kid {
    pub fn generate(now: Timestamp, rng: &dyn Rng) -> Self {
        Self(encode_id(now, rng))
    }
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        if valid_tail(s) {
            Ok(Self(s.to_owned()))
        } else {
            Err(ParseError::new(
                "key id",
                "expected 1 to 64 letters or digits",
            ))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
impl std::fmt::Display for Kid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl TryFrom<String> for Kid {
    type Error = ParseError;
    fn try_from(s: String) -> Result<Self, ParseError> {
        Self::parse(&s)
    }
}
impl From<Kid> for String {
    fn from(id: Kid) -> String {
        id.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time_port::tests::CountingRng;

    #[test]
    fn ids_sort_by_time_and_round_trip() {
        let rng = CountingRng::default();
        let a = OrgId::generate(Timestamp::from_millis(1_000), &rng);
        let b = OrgId::generate(Timestamp::from_millis(2_000), &rng);
        assert!(a < b);
        assert_eq!(OrgId::parse(a.as_str()), Ok(a.clone()));
        assert!(a.as_str().starts_with("org_"));
        assert_eq!(a.as_str().len(), 4 + 26);
    }

    #[test]
    fn wrong_prefix_and_bad_characters_are_refused() {
        assert!(OrgId::parse("usr_0123").is_err());
        assert!(OrgId::parse("org_").is_err());
        assert!(OrgId::parse("org_a b").is_err());
        assert!(OrgId::parse("org_'; drop table").is_err());
        assert!(ClientId::parse("short").is_err());
    }
}
