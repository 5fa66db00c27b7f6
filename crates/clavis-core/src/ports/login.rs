//! Ports of Universal Login and the account lifecycle: one-time tickets, password history,
//! consents, the email outbox and templates, attack-protection counters and lockouts,
//! branding and organization email domains.

use async_trait::async_trait;
use clavis_types::{ClientId, EmailId, OrgId, SessionId, TenantId, Timestamp, UserId};

use super::StoreResult;
use crate::model::{
    Branding, Consent, EmailTemplate, Lockout, OrgDomain, OutboxEmail, Page, TicketKind, UserTicket,
};

/// One-time tickets (verification, password reset, unlock).
#[async_trait]
pub trait TicketRepo {
    async fn ticket_insert(&mut self, t: &UserTicket) -> StoreResult<()>;
    /// The ticket with this digest (consumed and expired ones included).
    async fn ticket_get(&mut self, t: &TenantId, digest: &[u8]) -> StoreResult<Option<UserTicket>>;
    /// The newest ticket of a kind for a user that is neither consumed nor expired at `now`.
    async fn ticket_latest_open(
        &mut self,
        t: &TenantId,
        user: &UserId,
        kind: TicketKind,
        now: Timestamp,
    ) -> StoreResult<Option<UserTicket>>;
    /// Mark the ticket consumed if it is neither consumed nor expired at `now`; `false`
    /// otherwise (so of two concurrent uses exactly one succeeds).
    async fn ticket_consume(
        &mut self,
        t: &TenantId,
        digest: &[u8],
        now: Timestamp,
    ) -> StoreResult<bool>;
    /// Count one more wrong code against the ticket; returns the attempts after counting.
    async fn ticket_add_attempt(&mut self, t: &TenantId, digest: &[u8]) -> StoreResult<i64>;
    /// Consume every open ticket of a kind for a user; returns how many were open.
    async fn ticket_consume_all(
        &mut self,
        t: &TenantId,
        user: &UserId,
        kind: TicketKind,
        now: Timestamp,
    ) -> StoreResult<u64>;
    /// Tickets of a kind created for a user at or after `since` (resend throttling).
    async fn ticket_count_since(
        &mut self,
        t: &TenantId,
        user: &UserId,
        kind: TicketKind,
        since: Timestamp,
    ) -> StoreResult<i64>;
}

/// Previous password hashes of users, and what the lifecycle needs of sessions.
#[async_trait]
pub trait PasswordHistoryRepo {
    async fn password_history_add(
        &mut self,
        t: &TenantId,
        user: &UserId,
        hash: &str,
        at: Timestamp,
    ) -> StoreResult<()>;
    /// Newest first, at most `limit`.
    async fn password_history_recent(
        &mut self,
        t: &TenantId,
        user: &UserId,
        limit: i64,
    ) -> StoreResult<Vec<String>>;
    /// Keep only the newest `keep` hashes of the user.
    async fn password_history_trim(
        &mut self,
        t: &TenantId,
        user: &UserId,
        keep: i64,
    ) -> StoreResult<()>;
    /// Revoke every live session of the user except `keep`; returns how many were revoked.
    async fn session_revoke_all(
        &mut self,
        t: &TenantId,
        user: &UserId,
        keep: Option<&SessionId>,
        now: Timestamp,
    ) -> StoreResult<u64>;
    /// Whether the user had a session created at or after `since` with this exact user
    /// agent (new-device notifications).
    async fn session_seen_agent(
        &mut self,
        t: &TenantId,
        user: &UserId,
        user_agent: &str,
        since: Timestamp,
    ) -> StoreResult<bool>;
}

/// Consents given by users to (third-party) applications.
#[async_trait]
pub trait ConsentRepo {
    async fn consent_get(
        &mut self,
        t: &TenantId,
        user: &UserId,
        client: &ClientId,
        audience: &str,
    ) -> StoreResult<Option<Consent>>;
    /// Insert, or replace the scopes and `updated_at` of an existing consent.
    async fn consent_upsert(&mut self, c: &Consent) -> StoreResult<()>;
    async fn consent_list_for_user(
        &mut self,
        t: &TenantId,
        user: &UserId,
    ) -> StoreResult<Vec<Consent>>;
    async fn consent_delete(
        &mut self,
        t: &TenantId,
        user: &UserId,
        client: &ClientId,
        audience: &str,
    ) -> StoreResult<bool>;
}

/// The email outbox and the tenants' email templates.
#[async_trait]
pub trait OutboxRepo {
    async fn outbox_insert(&mut self, e: &OutboxEmail) -> StoreResult<()>;
    async fn outbox_get(&mut self, t: &TenantId, id: &EmailId) -> StoreResult<Option<OutboxEmail>>;
    /// Newest first; only messages to `to` (exact, normalised address) when given.
    async fn outbox_list(
        &mut self,
        t: &TenantId,
        to: Option<&str>,
        page: Page,
    ) -> StoreResult<Vec<OutboxEmail>>;
    async fn outbox_count(&mut self, t: &TenantId, to: Option<&str>) -> StoreResult<i64>;
    /// Claim up to `limit` `pending` messages of any tenant whose next attempt is due at
    /// `now`, oldest first: their `next_attempt_at` becomes `lease_until`, so no other node
    /// sends them meanwhile (PostgreSQL: `FOR UPDATE SKIP LOCKED`). Returns them.
    async fn outbox_claim_due(
        &mut self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: i64,
    ) -> StoreResult<Vec<OutboxEmail>>;
    /// Delivered: state `sent`, `sent_at`, attempts + 1, and the bodies emptied (they may
    /// hold one-time links).
    async fn outbox_mark_sent(
        &mut self,
        t: &TenantId,
        id: &EmailId,
        at: Timestamp,
    ) -> StoreResult<()>;
    /// A failed attempt: attempts + 1, `last_error`, and either `pending` with the next
    /// attempt at `next_attempt_at` or, when `give_up`, `failed` with the bodies emptied.
    async fn outbox_mark_failed(
        &mut self,
        t: &TenantId,
        id: &EmailId,
        next_attempt_at: Timestamp,
        error: &str,
        give_up: bool,
    ) -> StoreResult<()>;
    /// Delete messages of every tenant created before `before`; returns how many.
    async fn outbox_purge(&mut self, before: Timestamp) -> StoreResult<u64>;
    async fn email_template_get(
        &mut self,
        t: &TenantId,
        name: &str,
    ) -> StoreResult<Option<EmailTemplate>>;
    async fn email_template_put(&mut self, e: &EmailTemplate) -> StoreResult<()>;
    async fn email_template_list(&mut self, t: &TenantId) -> StoreResult<Vec<EmailTemplate>>;
    async fn email_template_delete(&mut self, t: &TenantId, name: &str) -> StoreResult<bool>;
}

/// Attack-protection counters (fixed windows) and lockouts, shared by every node.
#[async_trait]
pub trait RateRepo {
    /// Count one hit in the window starting at `window_start` and return the hits counted
    /// in it, this one included (one atomic statement: concurrent hits are all counted).
    async fn rate_hit(&mut self, t: &TenantId, bucket: &str, window_start: i64)
    -> StoreResult<i64>;
    /// Hits counted in a window, without counting one.
    async fn rate_get(&mut self, t: &TenantId, bucket: &str, window_start: i64)
    -> StoreResult<i64>;
    /// The start of the newest window of a bucket that started at or after `since`, if any
    /// hits were counted in one (e.g. when the last pretended login code was sent).
    async fn rate_latest_window(
        &mut self,
        t: &TenantId,
        bucket: &str,
        since: i64,
    ) -> StoreResult<Option<i64>>;
    /// Forget every window of a bucket (e.g. failed logins after a successful one).
    async fn rate_clear(&mut self, t: &TenantId, bucket: &str) -> StoreResult<()>;
    /// Delete windows of every tenant that started before `before`; returns how many.
    async fn rate_purge(&mut self, before: i64) -> StoreResult<u64>;
    async fn lockout_get(&mut self, t: &TenantId, subject: &str) -> StoreResult<Option<Lockout>>;
    /// Insert or replace.
    async fn lockout_put(&mut self, l: &Lockout) -> StoreResult<()>;
    async fn lockout_clear(&mut self, t: &TenantId, subject: &str) -> StoreResult<bool>;
}

/// Branding of tenants and organizations, and organizations' email domains.
#[async_trait]
pub trait BrandingRepo {
    /// The tenant's branding (`org` = `None`) or one organization's.
    async fn branding_get(
        &mut self,
        t: &TenantId,
        org: Option<&OrgId>,
    ) -> StoreResult<Option<Branding>>;
    /// Insert or replace (`b.org_id` says which).
    async fn branding_put(&mut self, b: &Branding) -> StoreResult<()>;
    async fn branding_delete(&mut self, t: &TenantId, org: Option<&OrgId>) -> StoreResult<bool>;
    /// Add a domain; `false` when the domain already belongs to an organization of the tenant.
    async fn org_domain_insert(&mut self, d: &OrgDomain) -> StoreResult<bool>;
    async fn org_domain_get(
        &mut self,
        t: &TenantId,
        domain: &str,
    ) -> StoreResult<Option<OrgDomain>>;
    async fn org_domain_list(&mut self, t: &TenantId, org: &OrgId) -> StoreResult<Vec<OrgDomain>>;
    async fn org_domain_delete(
        &mut self,
        t: &TenantId,
        org: &OrgId,
        domain: &str,
    ) -> StoreResult<bool>;
}
