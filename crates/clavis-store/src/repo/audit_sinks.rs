//! Streaming sinks of the audit log: their configuration, delivery progress, and the
//! leases that let one node at a time deliver to each.
//!
//! A claim is one guarded `UPDATE … RETURNING` per due sink: on PostgreSQL a concurrent
//! claimer blocks on the row lock and then re-checks the lease, finding it taken; on
//! SQLite writers are serialised. Either way each sink goes to exactly one owner.

use async_trait::async_trait;
use clavis_core::model::{AuditSink, SinkKind, SinkStatus};
use clavis_core::ports::{AuditSinkRepo, StoreResult};
use clavis_types::{TenantId, Timestamp};

use super::audit::{b64_value, opt_b64};
use crate::SqlTx;
use crate::sql::{Row, json, q};

fn sink(r: &Row) -> StoreResult<AuditSink> {
    Ok(AuditSink {
        tenant_id: r.parse("tenant_id", TenantId::parse)?,
        id: r.text("id")?,
        name: r.text("name")?,
        kind: r.parse("kind", |s| SinkKind::parse(s).ok_or("unknown sink kind"))?,
        endpoint: r.text("endpoint")?,
        sealed_secret: opt_b64(r, "sealed_secret")?,
        options: r.json("options")?,
        enabled: r.bool("enabled")?,
        cursor: r.int("cursor")?,
        status: r.parse("status", |s| {
            SinkStatus::parse(s).ok_or("unknown sink status")
        })?,
        last_error: r.opt_text("last_error")?,
        attempts: r.int("attempts")?,
        next_attempt_at: r.ts("next_attempt_at")?,
        delivered_total: r.int("delivered_total")?,
        last_delivered_at: r.opt_ts("last_delivered_at")?,
        created_at: r.ts("created_at")?,
        updated_at: r.ts("updated_at")?,
    })
}

#[async_trait]
impl AuditSinkRepo for SqlTx {
    async fn sink_insert(&mut self, s: &AuditSink) -> StoreResult<()> {
        self.conn
            .exec(q!(
                "INSERT INTO audit_sinks (tenant_id, id, name, kind, endpoint, sealed_secret, options,
                    enabled, cursor, status, last_error, attempts, next_attempt_at, delivered_total,
                    last_delivered_at, lease_owner, lease_until, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, NULL, 0,
                    $16, $17)",
                &s.tenant_id,
                &s.id,
                &s.name,
                s.kind.as_str(),
                &s.endpoint,
                b64_value(s.sealed_secret.as_ref()),
                json(&s.options),
                s.enabled,
                s.cursor,
                s.status.as_str(),
                s.last_error.as_ref(),
                s.attempts,
                s.next_attempt_at,
                s.delivered_total,
                s.last_delivered_at,
                s.created_at,
                s.updated_at
            ))
            .await
            .map(drop)
    }

    async fn sink_get(&mut self, t: &TenantId, id: &str) -> StoreResult<Option<AuditSink>> {
        self.conn
            .fetch_opt(q!(
                "SELECT * FROM audit_sinks WHERE tenant_id = $1 AND id = $2",
                t,
                id
            ))
            .await?
            .map(|r| sink(&r))
            .transpose()
    }

    async fn sink_list(&mut self, t: &TenantId) -> StoreResult<Vec<AuditSink>> {
        self.conn
            .fetch(q!(
                "SELECT * FROM audit_sinks WHERE tenant_id = $1 ORDER BY name LIMIT 100",
                t
            ))
            .await?
            .iter()
            .map(sink)
            .collect()
    }

    async fn sink_update_config(&mut self, s: &AuditSink) -> StoreResult<bool> {
        let n = self
            .conn
            .exec(q!(
                "UPDATE audit_sinks SET name = $3, endpoint = $4, sealed_secret = $5, options = $6,
                    enabled = $7, updated_at = $8
                 WHERE tenant_id = $1 AND id = $2",
                &s.tenant_id,
                &s.id,
                &s.name,
                &s.endpoint,
                b64_value(s.sealed_secret.as_ref()),
                json(&s.options),
                s.enabled,
                s.updated_at
            ))
            .await?;
        Ok(n == 1)
    }

    async fn sink_delete(&mut self, t: &TenantId, id: &str) -> StoreResult<bool> {
        let n = self
            .conn
            .exec(q!(
                "DELETE FROM audit_sinks WHERE tenant_id = $1 AND id = $2",
                t,
                id
            ))
            .await?;
        Ok(n == 1)
    }

    async fn sink_claim_due(
        &mut self,
        owner: &str,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<AuditSink>> {
        // Candidates in a fixed order, so concurrent claimers lock rows in the same order
        // (no deadlock); each is then taken only if it is still free. A live lease blocks
        // its own owner too, so one node never runs two deliveries to a sink at once.
        let due = self
            .conn
            .fetch(q!(
                "SELECT tenant_id, id FROM audit_sinks
                 WHERE enabled AND next_attempt_at <= $1
                   AND (lease_owner IS NULL OR lease_until <= $1)
                 ORDER BY next_attempt_at, tenant_id, id LIMIT $2",
                now,
                limit
            ))
            .await?;
        let mut claimed = Vec::with_capacity(due.len());
        for d in due {
            let row = self
                .conn
                .fetch_opt(q!(
                    "UPDATE audit_sinks SET lease_owner = $3, lease_until = $4
                     WHERE tenant_id = $1 AND id = $2 AND enabled AND next_attempt_at <= $5
                       AND (lease_owner IS NULL OR lease_until <= $5)
                     RETURNING *",
                    d.text("tenant_id")?,
                    d.text("id")?,
                    owner,
                    lease_until,
                    now
                ))
                .await?;
            if let Some(r) = row {
                claimed.push(sink(&r)?);
            }
        }
        Ok(claimed)
    }

    async fn sink_record(&mut self, s: &AuditSink, owner: &str) -> StoreResult<bool> {
        let n = self
            .conn
            .exec(q!(
                "UPDATE audit_sinks SET cursor = $4, status = $5, last_error = $6, attempts = $7,
                    next_attempt_at = $8, delivered_total = $9, last_delivered_at = $10,
                    updated_at = $11, lease_owner = NULL, lease_until = 0
                 WHERE tenant_id = $1 AND id = $2 AND lease_owner = $3",
                &s.tenant_id,
                &s.id,
                owner,
                s.cursor,
                s.status.as_str(),
                s.last_error.as_ref(),
                s.attempts,
                s.next_attempt_at,
                s.delivered_total,
                s.last_delivered_at,
                s.updated_at
            ))
            .await?;
        Ok(n == 1)
    }
}
