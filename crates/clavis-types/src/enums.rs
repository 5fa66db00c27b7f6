//! Closed sets of values in the core model. Each parses from and prints to the exact
//! lowercase string used in the API, configuration files and the database.

use crate::ParseError;

macro_rules! string_enum {
    ($(#[$doc:meta])* $name:ident, $what:literal, { $($variant:ident => $s:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(try_from = "String", into = "&'static str")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $s),+ }
            }
            pub fn parse(s: &str) -> Result<Self, ParseError> {
                match s {
                    $($s => Ok($name::$variant),)+
                    _ => Err(ParseError::new($what, format!(
                        "`{}` is not one of: {}",
                        s.chars().take(40).collect::<String>(),
                        [$($s),+].join(", ")
                    ))),
                }
            }
        }
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl TryFrom<String> for $name {
            type Error = ParseError;
            fn try_from(s: String) -> Result<Self, ParseError> { Self::parse(&s) }
        }
        impl From<$name> for &'static str {
            fn from(v: $name) -> &'static str { v.as_str() }
        }
    };
}

string_enum!(/// The kind of OAuth client.
    AppType, "application type", {
    Spa => "spa", Native => "native", Web => "web", M2m => "m2m",
});

string_enum!(/// Whether an application's users log in to an organization.
    OrganizationUsage, "organization usage", {
    Deny => "deny", Allow => "allow", Require => "require",
});

string_enum!(/// JWS algorithm of a signing key. The algorithm belongs to the key, never to a token.
    SigningAlg, "signing algorithm", {
    Rs256 => "RS256", Es256 => "ES256", EdDsa => "EdDSA",
});

string_enum!(/// Life-cycle state of a signing key.
    KeyState, "key state", {
    Next => "next", Active => "active", Retired => "retired", Revoked => "revoked",
});

string_enum!(/// Where identities of a connection come from.
    ConnectionStrategy, "connection strategy", {
    Database => "database", Email => "email",
});

string_enum!(/// Whether a custom domain's ownership has been proven (only `ready` domains serve).
    CustomDomainStatus, "custom domain status", {
    PendingVerification => "pending_verification", Ready => "ready",
});

impl AppType {
    /// Confidential clients hold a secret; public ones (`spa`, `native`) cannot.
    pub fn is_confidential(self) -> bool {
        matches!(self, AppType::Web | AppType::M2m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn round_trip_and_refuse() {
        for a in SigningAlg::ALL {
            assert_eq!(SigningAlg::parse(a.as_str()), Ok(*a));
        }
        assert!(SigningAlg::parse("none").is_err());
        assert!(SigningAlg::parse("HS256").is_err());
        assert!(AppType::parse("SPA").is_err());
    }
}
