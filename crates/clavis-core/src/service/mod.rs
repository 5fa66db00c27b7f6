//! Core services. [`Core`] carries the injected dependencies (store, clock, RNG, key ring)
//! and every service is a method on it, so handlers stay thin and nothing is global.

mod audit;
mod audit_chain;
mod audit_chain_retention;
mod audit_export;
mod audit_reports;
pub mod audit_sinks;
mod audit_subjects;
mod audit_views;
mod audit_writer;
mod bootstrap;
mod cache;
mod keyring;
mod keys;
pub mod lifecycle;
pub mod management;
mod protection;
mod rate_counters;
mod tenants;

pub use audit::RequestMeta;
pub use audit_chain::{BreakKind, BrokenLink, CheckpointInfo, VerifyReport};
pub use audit_chain_retention::PurgeReport;
pub use audit_export::{ExportFormat, ExportSummary};
pub use audit_reports::{
    ComplianceReport, Figure, Granularity, MAX_ROWS, Point, ReportKind, ReportOrganization,
    ReportTenant, Section, Series, Table,
};
pub use audit_subjects::{
    AUDIT_SUBJECT_CACHE_SECS, PERSONAL_ACTOR_FIELDS, PERSONAL_CONTEXT_KEYS, SubjectState,
    UNREADABLE,
};
pub use audit_views::{
    AuditCursor, AuditPage, AuditView, SEARCH_MAX_LIMIT, SEARCH_SCAN_BUDGET, parse_audit_cursor,
};
pub use audit_writer::AuditWriter;
pub use bootstrap::{BOOTSTRAP_TOKEN_LIFETIME_SECS, BootstrapAdmin};
pub use cache::{CONFIG_CACHE_SECS, Caches, TtlCache};
pub use keyring::Keyring;
pub use keys::{JWKS_MAX_AGE_SECS, Rotation};
pub use protection::{
    LOCK_MEMORY_SECS, NEW_DEVICE_SECS, Throttle, UNLOCK_TICKET_SECS, lock_duration,
};
pub use rate_counters::RateFallbacks;
pub use tenants::{DEFAULT_CONNECTION, DEFAULT_TENANT};

use clavis_crypto::MasterKey;
use clavis_types::{Clock, Rng, Timestamp};
use std::sync::Arc;

use crate::ports::Store;

/// The dependencies every service uses, passed explicitly.
#[derive(Debug, Clone)]
pub struct Core {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub rng: Arc<dyn Rng>,
    pub keyring: Arc<Keyring>,
    /// Cached signers and verifiers per tenant.
    pub keys: Arc<crate::oauth::KeyCache>,
    /// Bounds concurrent password hashing on the blocking pool.
    pub hash_permits: Arc<tokio::sync::Semaphore>,
    /// Short-lived configuration caches for the token hot path.
    pub caches: Arc<Caches>,
    /// Group commit for audit events that accompany no other write.
    pub audit_writer: Option<AuditWriter>,
    /// Effective permissions and role graphs, valid per authorization version.
    pub authz: Arc<crate::authz::AuthzCache>,
    /// The server's public URL, once known (tenants' issuers and built-in Apis depend on
    /// it); set once at start with [`Core::set_public_url`].
    pub public_url: Arc<std::sync::OnceLock<String>>,
    /// Extension points of the login flow (`pre-user-registration`, `post-login`).
    pub hooks: Arc<dyn lifecycle::LoginHooks>,
    /// Whether an SMTP server delivers email; without one, messages are kept in the
    /// development outbox (state `stored`). Set at start with [`Core::set_smtp_enabled`].
    pub smtp_enabled: Arc<std::sync::atomic::AtomicBool>,
    /// The attack-protection request counters: the database's by default, a shared store
    /// (Redis) when set with [`Core::with_rate_counters`].
    pub rate_counters: Arc<dyn crate::ports::RateCounters>,
    /// How often the shared counters failed and the database's counted instead.
    pub rate_fallbacks: Arc<RateFallbacks>,
    /// Looks up the TXT records that prove ownership of custom domains.
    pub dns: Arc<dyn crate::ports::TxtResolver>,
}

impl Core {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        rng: Arc<dyn Rng>,
        master_key: MasterKey,
    ) -> Self {
        Self {
            audit_writer: AuditWriter::spawn(store.clone()),
            caches: Arc::new(Caches::default()),
            authz: Arc::new(crate::authz::AuthzCache::default()),
            public_url: Arc::new(std::sync::OnceLock::new()),
            hooks: Arc::new(lifecycle::NoHooks),
            smtp_enabled: Arc::new(std::sync::atomic::AtomicBool::new(false)),
            rate_counters: Arc::new(crate::ports::DatabaseCounters::new(store.clone())),
            rate_fallbacks: Arc::new(RateFallbacks::default()),
            dns: Arc::new(crate::ports::NoResolver),
            store,
            clock,
            rng,
            keyring: Arc::new(Keyring::new(master_key)),
            keys: Arc::new(crate::oauth::KeyCache::default()),
            hash_permits: Arc::new(tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(2, usize::from),
            )),
        }
    }

    /// Record the server's public URL (without a trailing `/`); the first value wins.
    pub fn set_public_url(&self, url: &str) {
        let _ = self.public_url.set(url.trim_end_matches('/').to_owned());
    }

    /// Install the login extension points (the Actions engine; tests).
    pub fn with_hooks(mut self, hooks: Arc<dyn lifecycle::LoginHooks>) -> Self {
        self.hooks = hooks;
        self
    }

    /// Install the DNS resolver used to verify custom domains.
    pub fn with_dns(mut self, dns: Arc<dyn crate::ports::TxtResolver>) -> Self {
        self.dns = dns;
        self
    }

    /// Record whether an SMTP server delivers email (else the development outbox keeps it).
    pub fn set_smtp_enabled(&self, on: bool) {
        self.smtp_enabled
            .store(on, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }
}
