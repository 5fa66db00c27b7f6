//! Verification of a tenant's audit chain and its signed checkpoints.
//!
//! [`Core::audit_verify`] re-walks the stored chain from the latest purge anchor (or
//! genesis) to the head: gap-free `seq`, every `prev_hash` link, every hash recomputed from
//! the stored body, the body agreeing with its indexed columns, the head matching the last
//! event, no stored event outside that range (none at or below the anchor, none beyond the
//! head), every stored checkpoint in the range matching the chain's hash at its `seq` with
//! a signature that verifies, and the anchor's signature and claims. It stops at the first
//! break and names its sequence number.
//!
//! [`Core::audit_checkpoint`] signs the head after checking the chain since the previous
//! verifiable checkpoint, so a checkpoint never attests a chain that was already broken.
//!
//! Signatures are verified against every signing key the tenant ever had: keys are never
//! deleted (see [`Core::audit_keys`]). A checkpoint or anchor whose `kid` is not among
//! them, whose signature does not verify, whose JWS is of the other kind (`typ`
//! `audit-checkpoint+jwt` vs `audit-anchor+jwt`) or whose claims disagree with the chain is
//! a break. One signed by a key that has since been **revoked** (presumed compromised)
//! still has to verify, but proves nothing: it is counted in
//! [`VerifyReport::signatures_unverifiable`] rather than trusted.

use clavis_crypto::JwkSet;
use clavis_types::{KeyState, TenantId};
use serde::Serialize;

use super::Core;
use crate::CoreError;
use crate::chain::{GENESIS, LinkError, check_link};
use crate::chain_verify::{
    CHECKPOINT_TYP, CheckpointClaims, CheckpointJwsError, jws_kid, verify_anchor_jws,
    verify_checkpoint_jws,
};
use crate::model::{AuditAnchor, AuditCheckpoint, AuditQuery, Page, Tenant};
use crate::ports::Tx;

/// Events read per query while walking a chain.
pub(super) const PAGE: u32 = 500;

/// How a chain is broken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BreakKind {
    /// An event is missing (deleted): the next stored one has a later `seq`.
    Gap,
    /// `prev_hash` is not the previous event's hash (or the anchor's / genesis).
    Link,
    /// The stored hash is not `SHA-256(prev_hash || body)`: the body or hash was changed.
    Hash,
    /// The body does not decode or disagrees with the indexed columns.
    Body,
    /// The head does not match the last stored event (a truncated tail), or an event is
    /// stored beyond the head.
    Head,
    /// A signed checkpoint does not match the chain, or its signature does not verify
    /// (unknown key included).
    Checkpoint,
    /// The purge anchor's signature or claims do not verify (unknown key included), or an
    /// event is stored at or below it.
    Anchor,
}

impl BreakKind {
    /// `gap`, `link`, `hash`, `body`, `head`, `checkpoint` or `anchor`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Gap => "gap",
            Self::Link => "link",
            Self::Hash => "hash",
            Self::Body => "body",
            Self::Head => "head",
            Self::Checkpoint => "checkpoint",
            Self::Anchor => "anchor",
        }
    }
}

impl std::fmt::Display for BreakKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The first broken sequence number of a chain and what was expected there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BrokenLink {
    pub seq: i64,
    pub kind: BreakKind,
    pub expected: String,
    pub found: String,
}

/// Outcome of [`Core::audit_verify`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    pub tenant_id: TenantId,
    /// First sequence number walked (the anchor's + 1, or 1).
    pub from_seq: i64,
    /// Last sequence number verified good (`from_seq - 1` when none).
    pub to_seq: i64,
    /// The head's sequence number when the walk started.
    pub head_seq: i64,
    pub events_checked: u64,
    /// Where the last retention purge cut the chain, if ever.
    pub anchor_seq: Option<i64>,
    /// Stored checkpoints compared with the chain (signatures included).
    pub checkpoints_checked: u64,
    /// Checkpoint or anchor signatures that verify, but with a key revoked since: they
    /// prove nothing (see the module documentation). Not a break; reported so a person
    /// looks at it.
    pub signatures_unverifiable: u64,
    pub ok: bool,
    pub broken: Option<BrokenLink>,
}

/// A stored checkpoint as listed by the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckpointInfo {
    pub seq: i64,
    pub hash: String,
    pub kid: String,
    pub jws: String,
    pub created_at: String,
}

impl From<&AuditCheckpoint> for CheckpointInfo {
    fn from(c: &AuditCheckpoint) -> Self {
        Self {
            seq: c.seq,
            hash: c.hash.clone(),
            kid: c.kid.clone(),
            jws: c.jws.clone(),
            created_at: c.created_at.to_rfc3339(),
        }
    }
}

/// What a walk over part of a chain found.
#[derive(Debug, Clone)]
pub(super) struct Walk {
    pub last_seq: i64,
    pub last_hash: String,
    pub events: u64,
    pub checkpoints: u64,
    pub unverifiable: u64,
    pub broken: Option<BrokenLink>,
}

/// What a verified signature is worth.
pub(super) enum Signature {
    /// Made with a key of the tenant that is not revoked.
    Verified,
    /// Made with a key the tenant has revoked since: it verifies, but proves nothing.
    Revoked,
}

/// The public keys of every signing key the tenant ever had (keys are never deleted),
/// and which of them are revoked.
pub(super) struct AuditKeys {
    jwks: JwkSet,
    revoked: Vec<String>,
}

impl AuditKeys {
    /// What the verified JWS `jws` is worth, by the key that signed it.
    fn worth(&self, jws: &str) -> Signature {
        match jws_kid(jws) {
            Some(kid) if self.revoked.contains(&kid) => Signature::Revoked,
            _ => Signature::Verified,
        }
    }
}

/// The tenant's keys a checkpoint or anchor may have been signed with.
pub(super) async fn tenant_keys(
    tx: &mut dyn Tx,
    tenant: &TenantId,
) -> Result<AuditKeys, CoreError> {
    let mut keys = AuditKeys {
        jwks: JwkSet { keys: Vec::new() },
        revoked: Vec::new(),
    };
    for k in tx.key_list(tenant).await? {
        if k.state == KeyState::Revoked {
            keys.revoked.push(k.kid.as_str().to_owned());
        }
        keys.jwks.keys.push(k.public_jwk);
    }
    Ok(keys)
}

/// Check a signed checkpoint "`tenant` had `hash` at `seq`" against the chain's `hash`
/// there (already compared with the stored checkpoint's by the caller).
fn check_checkpoint(
    tenant: &TenantId,
    cp: &AuditCheckpoint,
    keys: &AuditKeys,
) -> Result<Signature, BrokenLink> {
    let broken = |expected: String, found: String| BrokenLink {
        seq: cp.seq,
        kind: BreakKind::Checkpoint,
        expected,
        found,
    };
    let c = verify_checkpoint_jws(&cp.jws, &keys.jwks)
        .map_err(|e| broken(signature_expected(&e), e.to_string()))?;
    let expected = CheckpointClaims {
        tenant_id: tenant.to_string(),
        seq: cp.seq,
        hash: cp.hash.clone(),
        iat: c.iat,
    };
    if c != expected {
        return Err(broken(
            format!("signed tenant {tenant} seq {} hash {}", cp.seq, cp.hash),
            format!(
                "signed tenant {} seq {} hash {}",
                c.tenant_id, c.seq, c.hash
            ),
        ));
    }
    Ok(keys.worth(&cp.jws))
}

/// Check the purge anchor's JWS: an anchor (not a checkpoint) of this tenant whose claims
/// are the stored anchor's purge (`purged_through`, hash, `events_purged`).
fn check_anchor(
    tenant: &TenantId,
    a: &AuditAnchor,
    keys: &AuditKeys,
) -> Result<Signature, BrokenLink> {
    let broken = |expected: String, found: String| BrokenLink {
        seq: a.seq,
        kind: BreakKind::Anchor,
        expected,
        found,
    };
    let c = verify_anchor_jws(&a.jws, &keys.jwks)
        .map_err(|e| broken(signature_expected(&e), e.to_string()))?;
    if c.tenant_id != tenant.as_str()
        || c.purged_through != a.seq
        || c.hash != a.hash
        || c.events_purged != a.events_purged
    {
        return Err(broken(
            format!(
                "signed tenant {tenant} purged through seq {} hash {} ({} events)",
                a.seq, a.hash, a.events_purged
            ),
            format!(
                "signed tenant {} purged through seq {} hash {} ({} events)",
                c.tenant_id, c.purged_through, c.hash, c.events_purged
            ),
        ));
    }
    Ok(keys.worth(&a.jws))
}

fn signature_expected(e: &CheckpointJwsError) -> String {
    match e {
        CheckpointJwsError::UnknownKey(_) => "a signature by one of the tenant's keys".into(),
        CheckpointJwsError::Invalid(_) => "a valid signature".into(),
    }
}

/// Walk the stored chain after `(start_seq, start_hash)` up to `until` inclusive, stopping
/// at the first break. With `keys`, stored checkpoints in the range are checked as well.
/// Stopping short of `until` without a break means the stored events end there.
pub(super) async fn walk_chain(
    tx: &mut dyn Tx,
    tenant: &TenantId,
    start_seq: i64,
    start_hash: &str,
    until: i64,
    keys: Option<&AuditKeys>,
) -> Result<Walk, CoreError> {
    let mut w = Walk {
        last_seq: start_seq,
        last_hash: start_hash.to_owned(),
        events: 0,
        checkpoints: 0,
        unverifiable: 0,
        broken: None,
    };
    let mut next_cp = match keys {
        Some(_) => next_checkpoint(tx, tenant, start_seq + 1, until).await?,
        None => None,
    };
    while w.last_seq < until {
        let page = tx
            .audit_range(tenant, w.last_seq, Some(until), PAGE)
            .await?;
        if page.is_empty() {
            break;
        }
        for e in &page {
            let expected = w.last_seq + 1;
            if e.seq != expected {
                w.broken = Some(BrokenLink {
                    seq: expected,
                    kind: BreakKind::Gap,
                    expected: format!("seq {expected}"),
                    found: format!("seq {}", e.seq),
                });
                return Ok(w);
            }
            if let Err(err) = check_link(e, &w.last_hash) {
                let (kind, expected, found) = match err {
                    LinkError::Link { expected, found } => (BreakKind::Link, expected, found),
                    LinkError::Hash { expected, found } => (BreakKind::Hash, expected, found),
                    LinkError::Body(why) => (BreakKind::Body, "a valid body".to_owned(), why),
                };
                w.broken = Some(BrokenLink {
                    seq: e.seq,
                    kind,
                    expected,
                    found,
                });
                return Ok(w);
            }
            w.last_seq = e.seq;
            w.last_hash.clone_from(&e.hash);
            w.events += 1;
            if let (Some(cp), Some(keys)) = (&next_cp, keys)
                && cp.seq == e.seq
            {
                if cp.hash != e.hash {
                    w.broken = Some(BrokenLink {
                        seq: e.seq,
                        kind: BreakKind::Checkpoint,
                        expected: cp.hash.clone(),
                        found: e.hash.clone(),
                    });
                    return Ok(w);
                }
                match check_checkpoint(tenant, cp, keys) {
                    Ok(Signature::Verified) => {}
                    Ok(Signature::Revoked) => w.unverifiable += 1,
                    Err(b) => {
                        w.broken = Some(b);
                        return Ok(w);
                    }
                }
                w.checkpoints += 1;
                next_cp = next_checkpoint(tx, tenant, e.seq + 1, until).await?;
            }
        }
    }
    Ok(w)
}

async fn next_checkpoint(
    tx: &mut dyn Tx,
    tenant: &TenantId,
    at_least: i64,
    until: i64,
) -> Result<Option<AuditCheckpoint>, CoreError> {
    Ok(tx
        .audit_checkpoint_covering(tenant, at_least)
        .await?
        .filter(|c| c.seq <= until))
}

impl Core {
    /// Re-walk the tenant's chain from the latest anchor (or genesis) to the head and
    /// report the first broken link, if any (see the module documentation).
    pub async fn audit_verify(&self, tenant: &TenantId) -> Result<VerifyReport, CoreError> {
        // A purge that commits during the walk removes events the walk has not read yet;
        // such a "gap" is retried from the new anchor.
        let mut attempts = 0;
        loop {
            attempts += 1;
            let (report, anchor_seq) = self.verify_once(tenant).await?;
            if report.ok || attempts >= 3 {
                return Ok(report);
            }
            let mut tx = self.store.read().await?;
            let now_anchor = tx.audit_anchor_latest(tenant).await?.map(|a| a.seq);
            if now_anchor == anchor_seq {
                return Ok(report);
            }
        }
    }

    async fn verify_once(
        &self,
        tenant: &TenantId,
    ) -> Result<(VerifyReport, Option<i64>), CoreError> {
        let mut tx = self.store.read().await?;
        let head = tx.audit_head(tenant).await?;
        let anchor = tx.audit_anchor_latest(tenant).await?;
        let keys = tenant_keys(&mut *tx, tenant).await?;
        let (start_seq, start_hash) = anchor
            .as_ref()
            .map_or((0, GENESIS.to_owned()), |a| (a.seq, a.hash.clone()));
        let anchor_seq = anchor.as_ref().map(|a| a.seq);
        let mut report = VerifyReport {
            tenant_id: tenant.clone(),
            from_seq: start_seq + 1,
            to_seq: start_seq,
            head_seq: head.seq,
            events_checked: 0,
            anchor_seq,
            checkpoints_checked: 0,
            signatures_unverifiable: 0,
            ok: false,
            broken: None,
        };
        let done = |mut r: VerifyReport, broken: Option<BrokenLink>| {
            r.ok = broken.is_none();
            r.broken = broken;
            Ok((r, anchor_seq))
        };
        if let Some(a) = &anchor {
            match check_anchor(tenant, a, &keys) {
                Ok(Signature::Verified) => {}
                Ok(Signature::Revoked) => report.signatures_unverifiable += 1,
                Err(b) => return done(report, Some(b)),
            }
            // The purge deleted these in the transaction that stored the anchor: one here
            // was put back (and would never be walked).
            if let Some(e) = tx.audit_range(tenant, 0, Some(a.seq), 1).await?.pop() {
                let b = BrokenLink {
                    seq: e.seq,
                    kind: BreakKind::Anchor,
                    expected: format!("no event at or below the anchor (seq {})", a.seq),
                    found: format!("event {} at seq {}", e.event_id, e.seq),
                };
                return done(report, Some(b));
            }
        }
        if head.seq < start_seq {
            let b = BrokenLink {
                seq: start_seq,
                kind: BreakKind::Head,
                expected: format!("a head at seq {start_seq} or later (the anchor)"),
                found: format!("seq {} hash {}", head.seq, head.hash),
            };
            return done(report, Some(b));
        }
        let w = walk_chain(
            &mut *tx,
            tenant,
            start_seq,
            &start_hash,
            head.seq,
            Some(&keys),
        )
        .await?;
        report.to_seq = match &w.broken {
            Some(b) => w.last_seq.min(b.seq - 1),
            None => w.last_seq,
        };
        report.events_checked = w.events;
        report.checkpoints_checked = w.checkpoints;
        report.signatures_unverifiable += w.unverifiable;
        if w.broken.is_some() {
            return done(report, w.broken);
        }
        if w.last_seq != head.seq || w.last_hash != head.hash {
            let b = BrokenLink {
                seq: if w.last_seq < head.seq {
                    w.last_seq + 1
                } else {
                    head.seq
                },
                kind: BreakKind::Head,
                expected: format!("seq {} hash {}", head.seq, head.hash),
                found: format!("seq {} hash {}", w.last_seq, w.last_hash),
            };
            return done(report, Some(b));
        }
        // An event stored beyond the head is never walked: it was put there. (An append
        // committed since the head was read moved the head first: the head is read again
        // after the newest event, and covers it then.)
        let newest = AuditQuery {
            newest_first: true,
            ..AuditQuery::default()
        };
        if let Some(last) = tx.audit_search(tenant, &newest, 1).await?.pop()
            && last.seq > head.seq
        {
            let now_head = tx.audit_head(tenant).await?;
            if last.seq > now_head.seq {
                let first = tx
                    .audit_range(tenant, now_head.seq, Some(last.seq), 1)
                    .await?
                    .pop()
                    .unwrap_or(last);
                let b = BrokenLink {
                    seq: first.seq,
                    kind: BreakKind::Head,
                    expected: format!(
                        "no event beyond the head (seq {} hash {})",
                        now_head.seq, now_head.hash
                    ),
                    found: format!("event {} at seq {}", first.event_id, first.seq),
                };
                return done(report, Some(b));
            }
        }
        // A checkpoint beyond the head proves the chain once reached further: the tail was
        // cut and the head rewound. (One made concurrently is below a freshly read head.)
        if let Some(c) = tx.audit_checkpoint_covering(tenant, head.seq + 1).await? {
            drop(tx);
            let mut tx = self.store.read().await?;
            let now_head = tx.audit_head(tenant).await?;
            if c.seq > now_head.seq {
                let b = BrokenLink {
                    seq: w.last_seq + 1,
                    kind: BreakKind::Checkpoint,
                    expected: format!(
                        "events up to seq {} hash {} (signed checkpoint)",
                        c.seq, c.hash
                    ),
                    found: format!("head at seq {} hash {}", now_head.seq, now_head.hash),
                };
                return done(report, Some(b));
            }
        }
        done(report, None)
    }

    /// Sign a checkpoint of the tenant's current head and store it; at a `seq` that already
    /// has one, that one is returned. The chain since the previous verifiable checkpoint is
    /// checked first: a broken chain is refused (`Conflict`) rather than attested.
    pub async fn audit_checkpoint(&self, tenant: &Tenant) -> Result<AuditCheckpoint, CoreError> {
        let head = {
            let mut tx = self.store.read().await?;
            tx.audit_head(&tenant.id).await?
        };
        self.checkpoint_at(tenant, head.seq, Some(&head.hash)).await
    }

    /// Checkpoint every tenant whose head moved since its last checkpoint; returns how many
    /// were signed. A tenant that fails (a broken chain, no active key) is logged and
    /// skipped so the others still get theirs.
    pub async fn audit_checkpoint_all(&self) -> Result<usize, CoreError> {
        let mut signed = 0;
        let mut page = Page::first();
        loop {
            let tenants = {
                let mut tx = self.store.read().await?;
                tx.tenant_list(page).await?
            };
            for t in &tenants {
                let moved = {
                    let mut tx = self.store.read().await?;
                    let head = tx.audit_head(&t.id).await?;
                    let last = tx.audit_checkpoint_latest(&t.id).await?;
                    head.seq > last.map_or(0, |c| c.seq)
                };
                if !moved {
                    continue;
                }
                match self.audit_checkpoint(t).await {
                    Ok(_) => signed += 1,
                    Err(e) => {
                        tracing::warn!(tenant = %t.id, error = %e, "audit checkpoint not signed");
                    }
                }
            }
            if tenants.len() < page.limit() as usize {
                return Ok(signed);
            }
            page = page.next();
        }
    }

    /// The tenant's newest checkpoints (at most `limit`, up to 1000), newest first.
    pub async fn audit_checkpoints(
        &self,
        tenant: &Tenant,
        limit: u32,
    ) -> Result<Vec<CheckpointInfo>, CoreError> {
        let mut tx = self.store.read().await?;
        let list = tx
            .audit_checkpoint_list(&tenant.id, None, limit.clamp(1, 1000))
            .await?;
        Ok(list.iter().map(CheckpointInfo::from).collect())
    }

    /// The stored checkpoint at exactly `seq`, or a new one after checking the chain up to
    /// it (`expect_hash`: the hash the caller read there, e.g. the head's).
    pub(super) async fn checkpoint_at(
        &self,
        tenant: &Tenant,
        seq: i64,
        expect_hash: Option<&str>,
    ) -> Result<AuditCheckpoint, CoreError> {
        let mut tx = self.store.read().await?;
        if let Some(c) = tx.audit_checkpoint_covering(&tenant.id, seq).await?
            && c.seq == seq
        {
            return Ok(c);
        }
        let hash = self.attested_hash(&mut *tx, &tenant.id, seq).await?;
        drop(tx);
        if let Some(expected) = expect_hash
            && expected != hash
        {
            return Err(CoreError::Conflict(format!(
                "the audit head says hash {expected} at seq {seq}, the stored event has {hash}; \
                 run `clavis audit verify`"
            )));
        }
        let mut tx = self.store.begin().await?;
        let c = self.checkpoint_in(&mut *tx, tenant, seq, &hash).await?;
        tx.commit().await?;
        Ok(c)
    }

    /// The hash of the event at `seq`, after checking the chain up to it from the nearest
    /// checkpoint below whose signature verifies (or the anchor, or genesis).
    pub(super) async fn attested_hash(
        &self,
        tx: &mut dyn Tx,
        tenant: &TenantId,
        seq: i64,
    ) -> Result<String, CoreError> {
        let (mut start_seq, mut start_hash) = tx
            .audit_anchor_latest(tenant)
            .await?
            .map_or((0, GENESIS.to_owned()), |a| (a.seq, a.hash));
        if seq < start_seq {
            return Err(CoreError::Conflict(format!(
                "seq {seq} was purged (the chain starts after {start_seq})"
            )));
        }
        let keys = tenant_keys(tx, tenant).await?;
        if let Some(c) = tx
            .audit_checkpoint_list(tenant, Some(seq), 1)
            .await?
            .into_iter()
            .next()
            && c.seq > start_seq
            && matches!(check_checkpoint(tenant, &c, &keys), Ok(Signature::Verified))
        {
            start_seq = c.seq;
            start_hash = c.hash;
        }
        let w = walk_chain(tx, tenant, start_seq, &start_hash, seq, None).await?;
        if let Some(b) = w.broken {
            return Err(CoreError::Conflict(format!(
                "the audit chain is broken at seq {} ({}: expected {}, found {}); run \
                 `clavis audit verify`",
                b.seq, b.kind, b.expected, b.found
            )));
        }
        if w.last_seq != seq {
            return Err(CoreError::Conflict(format!(
                "the audit chain has no event at seq {seq} (it ends at {})",
                w.last_seq
            )));
        }
        Ok(w.last_hash)
    }

    /// Sign "`tenant` had `hash` at `seq`" with the active key and store it in `tx`;
    /// returns the checkpoint stored at `seq` (another node's, if it got there first).
    pub(super) async fn checkpoint_in(
        &self,
        tx: &mut dyn Tx,
        tenant: &Tenant,
        seq: i64,
        hash: &str,
    ) -> Result<AuditCheckpoint, CoreError> {
        let c = self.sign_checkpoint(tx, tenant, seq, hash).await?;
        tx.audit_checkpoint_insert(&c).await?;
        match tx.audit_checkpoint_covering(&tenant.id, seq).await? {
            Some(stored) if stored.seq == seq => Ok(stored),
            _ => Ok(c),
        }
    }

    /// A checkpoint of `(seq, hash)` signed with the tenant's active key (not stored).
    pub(super) async fn sign_checkpoint(
        &self,
        tx: &mut dyn Tx,
        tenant: &Tenant,
        seq: i64,
        hash: &str,
    ) -> Result<AuditCheckpoint, CoreError> {
        let signer = self.active_signer(tx, tenant).await?;
        let now = self.now();
        let claims = CheckpointClaims {
            tenant_id: tenant.id.to_string(),
            seq,
            hash: hash.to_owned(),
            iat: now.as_secs(),
        };
        let jws = signer.sign_typed(CHECKPOINT_TYP, &claims, &*self.rng)?;
        Ok(AuditCheckpoint {
            tenant_id: tenant.id.clone(),
            seq,
            hash: hash.to_owned(),
            kid: signer.kid().to_owned(),
            jws,
            created_at: now,
        })
    }
}
