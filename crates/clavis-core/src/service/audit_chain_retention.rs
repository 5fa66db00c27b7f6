//! Retention purge and legal holds of the audit log.
//!
//! A purge cuts a **prefix** of a tenant's chain: the events up to the newest one older
//! than `audit_retention_days` ([`crate::model::TenantSettings`]), but never an event at or
//! after the oldest remaining event of an organization under an active legal hold, nor an
//! event an enabled streaming sink has not delivered yet (beyond its `cursor`), so the
//! remaining chain stays contiguous and no sink misses an event. The prefix is verified
//! before it is deleted (a broken chain is refused, keeping the evidence), and the cut point
//! becomes an anchor carrying a signed statement of the purge (JWS `typ`
//! `audit-anchor+jwt`, [`crate::chain_verify::AnchorClaims`]: through which `seq`, its
//! hash, how many events, the retention cut-off): verification starts there, and the first
//! remaining event links to it. The anchor, the deletion and an `audit.purged` event are
//! one transaction.
//!
//! Purges, hold changes and sink changes all append their audit event first, which takes
//! the chain's head lock: a hold placed (or a sink created) while a purge runs either
//! commits before the purge re-checks the holds and sinks, or waits until the purge has
//! committed. A sink that is disabled does not hold the purge back; enabled again later,
//! it continues after the anchor.

use clavis_types::{OrgId, TenantId, encode_id};
use serde::Serialize;
use serde_json::json;

use super::audit_chain::{tenant_keys, walk_chain};
use super::{Core, RequestMeta};
use crate::CoreError;
use crate::chain::GENESIS;
use crate::chain_verify::{ANCHOR_TYP, AnchorClaims};
use crate::model::{AuditActor, AuditAnchor, AuditOrganization, JsonMap, LegalHold, Page, Tenant};
use crate::ports::Tx;

/// Longest accepted legal hold reason, in characters.
const MAX_REASON_CHARS: usize = 1000;

/// What a retention purge did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PurgeReport {
    pub tenant_id: TenantId,
    pub retention_days: i64,
    /// Events older than this (RFC 3339) were due.
    pub cutoff: String,
    pub events_purged: i64,
    /// The new anchor: events up to this `seq` are gone (`None` when nothing was purged).
    pub through_seq: Option<i64>,
    pub anchor_hash: Option<String>,
    /// Organizations whose legal hold stopped the purge before the retention cut-off.
    pub held_by: Vec<String>,
    /// Enabled streaming sinks (ids) that had not delivered every due event: the purge
    /// stopped at the lowest of their cursors.
    pub held_by_sinks: Vec<String>,
}

impl Core {
    /// Delete the tenant's events older than its retention, except from the oldest event
    /// of an organization under legal hold on, and except events an enabled sink has not
    /// delivered yet (see the module documentation). Refused (`Conflict`) when the prefix
    /// does not verify, or when another purge, a new legal hold or a sink change raced
    /// with this one (retrying is then safe).
    pub async fn audit_purge_expired(
        &self,
        tenant: &Tenant,
        meta: &RequestMeta,
    ) -> Result<PurgeReport, CoreError> {
        let days = tenant.settings.audit_retention_days;
        if days < 1 {
            return Err(CoreError::invalid(
                "audit_retention_days",
                "must be at least 1 day",
            ));
        }
        let now = self.now();
        let cutoff = now.plus_secs(-days.saturating_mul(86_400));
        let t = &tenant.id;
        let mut report = PurgeReport {
            tenant_id: t.clone(),
            retention_days: days,
            cutoff: cutoff.to_rfc3339(),
            events_purged: 0,
            through_seq: None,
            anchor_hash: None,
            held_by: Vec::new(),
            held_by_sinks: Vec::new(),
        };

        // Plan and verify in a read transaction (no write lock while walking).
        let mut tx = self.store.read().await?;
        let (base_seq, base_hash) = tx
            .audit_anchor_latest(t)
            .await?
            .map_or((0, GENESIS.to_owned()), |a| (a.seq, a.hash));
        let due = tx.audit_last_seq_before(t, cutoff).await?.unwrap_or(0);
        if due <= base_seq {
            return Ok(report);
        }
        let (cut, held_by) = hold_limit(&mut *tx, t, due).await?;
        report.held_by = held_by;
        let (cut, held_by_sinks) = sink_limit(&mut *tx, t, cut).await?;
        report.held_by_sinks = held_by_sinks;
        if cut <= base_seq {
            return Ok(report);
        }
        let keys = tenant_keys(&mut *tx, t).await?;
        let w = walk_chain(&mut *tx, t, base_seq, &base_hash, cut, Some(&keys)).await?;
        drop(tx);
        if let Some(b) = w.broken {
            return Err(CoreError::Conflict(format!(
                "the audit chain is broken at seq {} ({}: expected {}, found {}); purge refused \
                 so the evidence is kept",
                b.seq, b.kind, b.expected, b.found
            )));
        }
        if w.last_seq != cut {
            return Err(CoreError::Conflict(format!(
                "the audit chain ends at seq {} before the purge point {cut}",
                w.last_seq
            )));
        }
        let purged = cut - base_seq;

        let mut tx = self.store.begin().await?;
        let mut ctx = JsonMap::new();
        ctx.insert("through_seq".into(), json!(cut));
        ctx.insert("events_purged".into(), json!(purged));
        ctx.insert("anchor_hash".into(), json!(w.last_hash));
        ctx.insert("retention_days".into(), json!(days));
        ctx.insert("cutoff".into(), json!(report.cutoff));
        ctx.insert("held_by".into(), json!(report.held_by));
        ctx.insert("held_by_sinks".into(), json!(report.held_by_sinks));
        let event = self.audit_event(t, "audit.purged", AuditActor::default(), None, ctx, meta);
        // First: this takes the head lock, serialising with other purges and holds.
        self.audit_in(&mut *tx, event).await?;
        let anchor_now = tx.audit_anchor_latest(t).await?.map_or(0, |a| a.seq);
        if anchor_now != base_seq {
            return Err(CoreError::Conflict(
                "another retention purge ran at the same time; retry".into(),
            ));
        }
        let (cut_now, _) = hold_limit(&mut *tx, t, cut).await?;
        if cut_now != cut {
            return Err(CoreError::Conflict(
                "a legal hold was placed during the purge; retry".into(),
            ));
        }
        let (cut_now, _) = sink_limit(&mut *tx, t, cut).await?;
        if cut_now != cut {
            return Err(CoreError::Conflict(
                "a streaming sink was added or enabled during the purge; retry".into(),
            ));
        }
        let claims = AnchorClaims {
            tenant_id: t.to_string(),
            purged_through: cut,
            hash: w.last_hash.clone(),
            events_purged: purged,
            retention_cutoff: report.cutoff.clone(),
            iat: now.as_secs(),
        };
        let signer = self.active_signer(&mut *tx, tenant).await?;
        let anchor = AuditAnchor {
            tenant_id: t.clone(),
            seq: cut,
            hash: w.last_hash.clone(),
            events_purged: purged,
            jws: signer.sign_typed(ANCHOR_TYP, &claims, &*self.rng)?,
            purged_at: now,
        };
        let deleted = tx.audit_purge(&anchor).await?;
        if deleted != purged {
            return Err(CoreError::Conflict(format!(
                "the purge would delete {deleted} events where {purged} were verified; refused"
            )));
        }
        tx.commit().await?;
        report.events_purged = purged;
        report.through_seq = Some(cut);
        report.anchor_hash = Some(w.last_hash);
        Ok(report)
    }

    /// [`Core::audit_purge_expired`] for every tenant; returns the reports of tenants where
    /// something was purged. A tenant that fails is logged and skipped.
    pub async fn audit_purge_all(&self, meta: &RequestMeta) -> Result<Vec<PurgeReport>, CoreError> {
        let mut reports = Vec::new();
        let mut page = Page::first();
        loop {
            let tenants = {
                let mut tx = self.store.read().await?;
                tx.tenant_list(page).await?
            };
            for t in &tenants {
                match self.audit_purge_expired(t, meta).await {
                    Ok(r) if r.events_purged > 0 => reports.push(r),
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(tenant = %t.id, error = %e, "audit retention purge failed");
                    }
                }
            }
            if tenants.len() < page.limit() as usize {
                return Ok(reports);
            }
            page = page.next();
        }
    }

    /// Place a legal hold on an organization's audit events (the organization may have
    /// been deleted since: its events remain). Appends `audit.legal_hold.created` in the
    /// same transaction.
    pub async fn audit_hold_create(
        &self,
        tenant: &Tenant,
        org_id: &str,
        reason: &str,
        meta: &RequestMeta,
    ) -> Result<LegalHold, CoreError> {
        let org = OrgId::parse(org_id)?;
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > MAX_REASON_CHARS {
            return Err(CoreError::invalid(
                "reason",
                format!("must be 1 to {MAX_REASON_CHARS} characters"),
            ));
        }
        let now = self.now();
        let hold = LegalHold {
            tenant_id: tenant.id.clone(),
            id: format!("hold_{}", encode_id(now, &*self.rng)),
            org_id: org.as_str().to_owned(),
            reason: reason.to_owned(),
            created_at: now,
            released_at: None,
        };
        let mut tx = self.store.begin().await?;
        let name = tx.org_get(&tenant.id, &org).await?.map(|o| o.display_name);
        let event = self.hold_event(tenant, "audit.legal_hold.created", &hold, name, meta);
        // The event first: it takes the head lock a concurrent purge also takes.
        self.audit_in(&mut *tx, event).await?;
        tx.legal_hold_insert(&hold).await?;
        tx.commit().await?;
        Ok(hold)
    }

    /// Release an active legal hold; false when there is no such active hold. Appends
    /// `audit.legal_hold.released` in the same transaction.
    pub async fn audit_hold_release(
        &self,
        tenant: &Tenant,
        id: &str,
        meta: &RequestMeta,
    ) -> Result<bool, CoreError> {
        let mut tx = self.store.begin().await?;
        let Some(hold) = tx
            .legal_hold_list(&tenant.id, true)
            .await?
            .into_iter()
            .find(|h| h.id == id)
        else {
            return Ok(false);
        };
        let name = match OrgId::parse(&hold.org_id) {
            Ok(org) => tx.org_get(&tenant.id, &org).await?.map(|o| o.display_name),
            Err(_) => None,
        };
        let event = self.hold_event(tenant, "audit.legal_hold.released", &hold, name, meta);
        self.audit_in(&mut *tx, event).await?;
        if !tx.legal_hold_release(&tenant.id, id, self.now()).await? {
            return Ok(false);
        }
        tx.commit().await?;
        Ok(true)
    }

    /// The tenant's legal holds, newest first (only active ones when `active_only`).
    pub async fn audit_holds(
        &self,
        tenant: &Tenant,
        active_only: bool,
    ) -> Result<Vec<LegalHold>, CoreError> {
        let mut tx = self.store.read().await?;
        Ok(tx.legal_hold_list(&tenant.id, active_only).await?)
    }

    fn hold_event(
        &self,
        tenant: &Tenant,
        event_type: &str,
        hold: &LegalHold,
        org_name: Option<String>,
        meta: &RequestMeta,
    ) -> crate::model::AuditEvent {
        let mut ctx = JsonMap::new();
        ctx.insert("hold_id".into(), json!(hold.id));
        ctx.insert("reason".into(), json!(hold.reason));
        self.audit_event(
            &tenant.id,
            event_type,
            AuditActor::default(),
            Some(AuditOrganization {
                org_id: hold.org_id.clone(),
                name: org_name,
            }),
            ctx,
            meta,
        )
    }
}

/// The purge point allowed by the active legal holds: `cut`, or lower so that the oldest
/// remaining event of every held organization is kept; with the organizations that
/// lowered it.
async fn hold_limit(
    tx: &mut dyn Tx,
    t: &TenantId,
    cut: i64,
) -> Result<(i64, Vec<String>), CoreError> {
    // Every held organization, however many holds there are.
    let mut orgs = tx.legal_hold_active_orgs(t).await?;
    orgs.sort();
    let mut limit = cut;
    let mut held_by = Vec::new();
    for org in orgs {
        if let Some(first) = tx
            .audit_first_seq_of_orgs(t, std::slice::from_ref(&org))
            .await?
            && first <= cut
        {
            limit = limit.min(first - 1);
            held_by.push(org);
        }
    }
    Ok((limit, held_by))
}

/// The purge point allowed by the tenant's enabled streaming sinks: `cut`, or lower so that
/// no event a sink has not delivered yet (after its `cursor`) is purged; with the sinks
/// that lowered it.
async fn sink_limit(
    tx: &mut dyn Tx,
    t: &TenantId,
    cut: i64,
) -> Result<(i64, Vec<String>), CoreError> {
    let mut limit = cut;
    let mut held_by = Vec::new();
    for sink in tx.sink_list(t).await? {
        if sink.enabled && sink.cursor < cut {
            limit = limit.min(sink.cursor);
            held_by.push(sink.id);
        }
    }
    Ok((limit, held_by))
}
