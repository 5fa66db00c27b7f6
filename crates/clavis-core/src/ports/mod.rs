//! The ports storage adapters implement.
//!
//! A [`Store`] hands out transactions ([`Tx`]); a transaction implements every repository
//! trait, so one unit of work can change several resources (and, later, append the audit
//! event describing the change) atomically. Dropping a `Tx` without `commit` rolls back.
//! After any storage error the transaction is unusable on every backend (PostgreSQL aborts
//! it; the SQLite adapter refuses further statements): drop it and start a new one.
//!
//! Every tenant-scoped method takes the [`TenantId`](clavis_types::TenantId) explicitly and
//! must never return, change or count a row of another tenant.

mod access;
mod audit;
mod counters;
mod directory;
mod dns;
mod keys;
mod login;
mod management;
mod oauth;

pub use access::{ApiRepo, AppRepo, RoleRepo};
pub use audit::{AuditRepo, AuditSinkRepo};
pub use counters::{DATABASE_COUNTERS, DatabaseCounters, RateCounters};
pub use directory::{ConnectionRepo, OrgRepo, TeamRepo, TenantRepo, UserRepo};
pub use dns::{DnsError, NoResolver, TxtResolver};
pub use keys::{AdminRepo, KeyRepo};
pub use login::{BrandingRepo, ConsentRepo, OutboxRepo, PasswordHistoryRepo, RateRepo, TicketRepo};
pub use management::{ApiKeyRepo, CustomDomainRepo, InvitationRepo, MarkReady, OrgConnectionRepo};
pub use oauth::{GrantRepo, SessionRepo, TokenRepo, USER_FAMILIES_REVOKED};

use crate::StoreError;

/// Result of a storage call.
pub type StoreResult<T> = Result<T, StoreError>;

/// Where the schema of the database stands relative to this binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchemaStatus {
    /// Highest migration applied to the database.
    pub applied: i64,
    /// Highest migration this binary knows.
    pub latest: i64,
}

impl SchemaStatus {
    pub fn is_current(self) -> bool {
        self.applied == self.latest
    }
}

/// A database holding Clavis state.
#[async_trait::async_trait]
pub trait Store: Send + Sync + std::fmt::Debug + 'static {
    /// Start a read-write transaction.
    async fn begin(&self) -> StoreResult<Box<dyn Tx>>;
    /// Start a read-only transaction (may use a separate reader pool).
    async fn read(&self) -> StoreResult<Box<dyn Tx>>;
    /// Round-trip to the database and report the schema version.
    async fn schema_status(&self) -> StoreResult<SchemaStatus>;
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;
    /// Finish outstanding work and close connections (checkpoint the WAL on SQLite).
    async fn close(&self);
}

/// One unit of work.
#[async_trait::async_trait]
pub trait Tx:
    TenantRepo
    + OrgRepo
    + TeamRepo
    + UserRepo
    + ConnectionRepo
    + AppRepo
    + ApiRepo
    + RoleRepo
    + KeyRepo
    + AdminRepo
    + GrantRepo
    + SessionRepo
    + TokenRepo
    + AuditRepo
    + AuditSinkRepo
    + OrgConnectionRepo
    + InvitationRepo
    + ApiKeyRepo
    + TicketRepo
    + PasswordHistoryRepo
    + ConsentRepo
    + OutboxRepo
    + RateRepo
    + BrandingRepo
    + CustomDomainRepo
    + Send
{
    async fn commit(self: Box<Self>) -> StoreResult<()>;
}
