//! Repositories of the tamper-evident audit log: the chain itself, its checkpoints and
//! purge anchors, the per-user keys that seal personal data in it, legal holds, and the
//! streaming sinks that deliver it.
//!
//! Events are only ever appended; the one path that deletes them is
//! [`AuditRepo::audit_purge`], which leaves an anchor.

use async_trait::async_trait;
use clavis_types::{TenantId, Timestamp};

use super::StoreResult;
use crate::model::{
    AuditAnchor, AuditCheckpoint, AuditEvent, AuditQuery, AuditSink, ChainHead, ChainedEvent,
    LegalHold, SubjectKey,
};

#[async_trait]
pub trait AuditRepo: Send {
    /// Append events of one tenant in order: assigns gap-free sequence numbers, writes each
    /// event's canonical body chained to the previous hash ([`crate::chain`]), moves the
    /// tenant's head, and returns the last sequence number. Concurrent appends to one
    /// tenant serialise on the head row.
    async fn audit_append(&mut self, t: &TenantId, events: &mut [AuditEvent]) -> StoreResult<i64>;
    /// Events with `seq > after`, oldest first, at most `limit`, decoded from their bodies
    /// (personal data still sealed).
    async fn audit_list(
        &mut self,
        t: &TenantId,
        after: i64,
        limit: u32,
    ) -> StoreResult<Vec<AuditEvent>>;
    /// The chain's head (seq 0 and the genesis hash for an empty log).
    async fn audit_head(&mut self, t: &TenantId) -> StoreResult<ChainHead>;
    /// Stored events with `after < seq <= until` (`until` `None` = no bound), oldest first,
    /// at most `limit`.
    async fn audit_range(
        &mut self,
        t: &TenantId,
        after: i64,
        until: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<ChainedEvent>>;
    /// One stored event by id.
    async fn audit_get(
        &mut self,
        t: &TenantId,
        event_id: &str,
    ) -> StoreResult<Option<ChainedEvent>>;
    /// A search page: at most `limit` events matching every filter of `q`.
    async fn audit_search(
        &mut self,
        t: &TenantId,
        q: &AuditQuery,
        limit: u32,
    ) -> StoreResult<Vec<ChainedEvent>>;
    /// Sequence number of the newest event with `timestamp < before`, if any.
    async fn audit_last_seq_before(
        &mut self,
        t: &TenantId,
        before: Timestamp,
    ) -> StoreResult<Option<i64>>;
    /// Sequence number of the oldest remaining event of any of `orgs`, if any.
    async fn audit_first_seq_of_orgs(
        &mut self,
        t: &TenantId,
        orgs: &[String],
    ) -> StoreResult<Option<i64>>;
    /// Delete the events with `seq <= anchor.seq` (all must be older than what the
    /// caller's retention allows) and record `anchor`; returns how many were deleted.
    async fn audit_purge(&mut self, anchor: &AuditAnchor) -> StoreResult<i64>;
    /// The newest purge anchor, if the log was ever purged.
    async fn audit_anchor_latest(&mut self, t: &TenantId) -> StoreResult<Option<AuditAnchor>>;
    /// Record a checkpoint (a second one at the same `seq` is ignored).
    async fn audit_checkpoint_insert(&mut self, c: &AuditCheckpoint) -> StoreResult<()>;
    /// The checkpoint with the smallest `seq >= at_least`, if any.
    async fn audit_checkpoint_covering(
        &mut self,
        t: &TenantId,
        at_least: i64,
    ) -> StoreResult<Option<AuditCheckpoint>>;
    /// The newest checkpoint, if any.
    async fn audit_checkpoint_latest(
        &mut self,
        t: &TenantId,
    ) -> StoreResult<Option<AuditCheckpoint>>;
    /// Checkpoints with `seq < before_seq` (`None` = all), newest first, at most `limit`.
    async fn audit_checkpoint_list(
        &mut self,
        t: &TenantId,
        before_seq: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<AuditCheckpoint>>;
    /// The user's audit key record, if one was ever created.
    async fn audit_subject_key(
        &mut self,
        t: &TenantId,
        user_id: &str,
    ) -> StoreResult<Option<SubjectKey>>;
    /// Insert a key unless the user already has a record; returns false when one existed
    /// (the caller then reads and uses that one).
    async fn audit_subject_key_insert(&mut self, k: &SubjectKey) -> StoreResult<bool>;
    /// Destroy the user's key (keeping the record, marked erased); false when the user
    /// has no record. Creating a record that is erased from the start is done by
    /// inserting one with `sealed_key: None`.
    async fn audit_subject_erase(
        &mut self,
        t: &TenantId,
        user_id: &str,
        now: Timestamp,
    ) -> StoreResult<bool>;
    async fn legal_hold_insert(&mut self, h: &LegalHold) -> StoreResult<()>;
    /// Release an active hold; false when there is no such active hold.
    async fn legal_hold_release(
        &mut self,
        t: &TenantId,
        id: &str,
        now: Timestamp,
    ) -> StoreResult<bool>;
    /// Holds of the tenant, newest first (only active ones when `active_only`), at most 1000.
    async fn legal_hold_list(
        &mut self,
        t: &TenantId,
        active_only: bool,
    ) -> StoreResult<Vec<LegalHold>>;
    /// The distinct organization ids of the tenant's active holds, in no particular order,
    /// all of them (not bounded like [`AuditRepo::legal_hold_list`]): what retention purge
    /// obeys.
    async fn legal_hold_active_orgs(&mut self, t: &TenantId) -> StoreResult<Vec<String>>;
}

#[async_trait]
pub trait AuditSinkRepo: Send {
    /// Insert a sink; a duplicate name is `StoreError::Conflict`.
    async fn sink_insert(&mut self, s: &AuditSink) -> StoreResult<()>;
    async fn sink_get(&mut self, t: &TenantId, id: &str) -> StoreResult<Option<AuditSink>>;
    /// The tenant's sinks by name, at most 100.
    async fn sink_list(&mut self, t: &TenantId) -> StoreResult<Vec<AuditSink>>;
    /// Replace name, endpoint, secret, options and enabled; false when absent.
    async fn sink_update_config(&mut self, s: &AuditSink) -> StoreResult<bool>;
    async fn sink_delete(&mut self, t: &TenantId, id: &str) -> StoreResult<bool>;
    /// Claim up to `limit` enabled sinks of any tenant that are due
    /// (`next_attempt_at <= now`) and not leased by another owner, leasing them to `owner`
    /// until `lease_until`. Several nodes may call this concurrently; each sink is handed
    /// to one of them.
    async fn sink_claim_due(
        &mut self,
        owner: &str,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<AuditSink>>;
    /// Record a delivery outcome from the lease owner (cursor, status, error, attempts,
    /// next attempt, totals) and drop the lease; false when `owner` no longer holds it.
    async fn sink_record(&mut self, s: &AuditSink, owner: &str) -> StoreResult<bool>;
}
