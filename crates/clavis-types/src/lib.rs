//! Clavis domain newtypes: identifiers, slugs, emails, enums of the core model, and the
//! `Clock` and `Rng` ports through which time and randomness are injected.
//!
//! Everything here is pure data with parse constructors ("parse, don't validate"): an
//! untrusted string becomes one of these types once, at the edge. This crate performs no
//! I/O and depends on no other Clavis crate.

mod enums;
mod ids;
mod text;
mod time_port;

pub use enums::{
    AppType, ConnectionStrategy, CustomDomainStatus, KeyState, OrganizationUsage, SigningAlg,
};
pub use ids::{
    ApiId, ApiKeyId, ClientGrantId, ClientId, ConnectionId, CustomDomainId, EmailId, FamilyId,
    InvitationId, Kid, OrgId, RoleId, SessionId, TeamId, TenantId, UserId, encode_id,
    random_base32,
};
pub use text::{Email, Slug};
pub use time_port::{Clock, ManualClock, Rng, SystemClock, Timestamp};

/// A value that failed to parse into one of the domain types.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what}: {reason}")]
pub struct ParseError {
    /// What was being parsed (`"email"`, `"organization slug"`, …).
    pub what: &'static str,
    /// Why it was refused, phrased for a person.
    pub reason: String,
}

impl ParseError {
    pub fn new(what: &'static str, reason: impl Into<String>) -> Self {
        Self {
            what,
            reason: reason.into(),
        }
    }
}
