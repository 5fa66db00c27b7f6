//! The persisted core model. Plain data: behaviour lives in `service`, persistence behind
//! `ports`. Every tenant-scoped record carries its `tenant_id`.

mod access;
mod audit;
mod directory;
mod keys;
mod login;
mod management;
mod oauth;

pub use access::{Api, Application, Permission, RefreshPolicy, Role, RolePermission};
pub use audit::{
    AuditActor, AuditAnchor, AuditCheckpoint, AuditEvent, AuditOrganization, AuditQuery, AuditSink,
    ChainHead, ChainedEvent, LegalHold, SinkKind, SinkStatus, SubjectKey,
};
pub use directory::{
    Connection, Identity, OrgMetadata, Organization, Team, Tenant, TenantSettings, User,
    UserProfile,
};
pub use keys::SigningKey;
pub use login::{
    AttackProtection, Branding, BrandingSettings, Consent, EmailState, EmailTemplate, Lockout,
    Logo, OrgDomain, OutboxEmail, PasswordPolicy, TicketKind, UniversalLogin, UserTicket,
};
pub use management::{ApiKey, CustomDomain, DomainRoute, Invitation, OrgConnection};
pub use oauth::{AuthorizationCode, ClientGrant, RefreshToken, Session, TokenFamily};

/// A JSON object (`user_metadata`, `app_metadata`, connection options…).
pub type JsonMap = serde_json::Map<String, serde_json::Value>;

/// One page of a list: a bounded window, never the whole table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    offset: u32,
    limit: u32,
}

impl Page {
    /// The hard upper bound on one page, as in Auth0's Management API.
    pub const MAX_PER_PAGE: u32 = 100;

    /// `page` counts from 0; `per_page` is clamped to 1..=100.
    pub fn new(page: u32, per_page: u32) -> Self {
        let limit = per_page.clamp(1, Self::MAX_PER_PAGE);
        Self {
            offset: page.saturating_mul(limit),
            limit,
        }
    }
    pub fn first() -> Self {
        Self::new(0, Self::MAX_PER_PAGE)
    }
    pub fn offset(self) -> u32 {
        self.offset
    }
    pub fn limit(self) -> u32 {
        self.limit
    }
    /// This page of a list held in memory, and the list's length (for short lists such as
    /// one user's roles).
    pub fn window<T>(self, items: Vec<T>) -> (Vec<T>, i64) {
        let total = i64::try_from(items.len()).unwrap_or(i64::MAX);
        let skip = usize::try_from(self.offset).unwrap_or(usize::MAX);
        let take = usize::try_from(self.limit).unwrap_or(usize::MAX);
        (items.into_iter().skip(skip).take(take).collect(), total)
    }
    /// The page after this one.
    pub fn next(self) -> Self {
        Self {
            offset: self.offset.saturating_add(self.limit),
            limit: self.limit,
        }
    }
}
