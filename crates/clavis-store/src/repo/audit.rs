//! The per-tenant audit log: appends take the next gap-free sequence numbers from the
//! tenant's head row, whose update serialises concurrent appends.

use async_trait::async_trait;
use clavis_core::StoreError;
use clavis_core::model::AuditEvent;
use clavis_core::ports::{AuditRepo, StoreResult};
use clavis_types::TenantId;

use crate::SqlTx;
use crate::sql::{Q, Value, json, opt_json, q};
use std::borrow::Cow;

const COLUMNS: usize = 8;
const CHUNKS: [usize; 7] = [64, 32, 16, 8, 4, 2, 1];

/// `INSERT … VALUES ($1, …, $8), ($9, …)` for `rows` events.
fn insert_sql(rows: usize) -> String {
    use std::fmt::Write as _;
    let mut sql = String::with_capacity(120 + rows * COLUMNS * 7);
    sql.push_str(
        "INSERT INTO audit_events (tenant_id, seq, event_id, occurred_at, event_type, actor, organization, context) VALUES ",
    );
    for r in 0..rows {
        sql.push_str(if r == 0 { "(" } else { ", (" });
        for c in 0..COLUMNS {
            let sep = if c == 0 { "" } else { ", " };
            let _ = write!(sql, "{sep}${}", r * COLUMNS + c + 1);
        }
        sql.push(')');
    }
    sql
}

#[async_trait]
impl AuditRepo for SqlTx {
    async fn audit_append(&mut self, t: &TenantId, events: &mut [AuditEvent]) -> StoreResult<i64> {
        let n =
            i64::try_from(events.len()).map_err(|_| StoreError::Other("too many events".into()))?;
        if n == 0 {
            return Ok(0);
        }
        let last = self
            .conn
            .fetch_opt(q!(
                "INSERT INTO audit_heads (tenant_id, seq) VALUES ($1, $2)
                 ON CONFLICT (tenant_id) DO UPDATE SET seq = audit_heads.seq + $2
                 RETURNING seq",
                t,
                n
            ))
            .await?
            .ok_or_else(|| StoreError::Other("audit head not returned".into()))?
            .int("seq")?;
        let mut seq = last - n;
        for e in events.iter_mut() {
            seq += 1;
            e.seq = seq;
        }
        // Multi-row inserts in chunks of fixed sizes (few distinct statements to prepare).
        let mut rest: &[AuditEvent] = events;
        while !rest.is_empty() {
            let size = CHUNKS
                .iter()
                .copied()
                .find(|c| *c <= rest.len())
                .unwrap_or(1);
            let (chunk, tail) = rest.split_at(size);
            let mut args = Vec::with_capacity(size * COLUMNS);
            for e in chunk {
                args.extend([
                    Value::from(t),
                    Value::from(e.seq),
                    Value::from(&e.event_id),
                    Value::from(e.timestamp),
                    Value::from(&e.event_type),
                    json(&e.actor),
                    opt_json(e.organization.as_ref()),
                    json(&e.context),
                ]);
            }
            self.conn
                .exec(Q {
                    sql: Cow::Owned(insert_sql(size)),
                    args,
                })
                .await?;
            rest = tail;
        }
        Ok(last)
    }

    async fn audit_list(
        &mut self,
        t: &TenantId,
        after: i64,
        limit: u32,
    ) -> StoreResult<Vec<AuditEvent>> {
        self.conn
            .fetch(q!(
                "SELECT * FROM audit_events WHERE tenant_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
                t, after, limit
            ))
            .await?
            .iter()
            .map(|r| {
                Ok(AuditEvent {
                    tenant_id: r.parse("tenant_id", TenantId::parse)?,
                    seq: r.int("seq")?,
                    event_id: r.text("event_id")?,
                    timestamp: r.ts("occurred_at")?,
                    event_type: r.text("event_type")?,
                    actor: r.json("actor")?,
                    organization: r
                        .opt_text("organization")?
                        .map(|s| serde_json::from_str(&s))
                        .transpose()
                        .map_err(|e| StoreError::Corrupt(format!("column `organization`: {e}")))?,
                    context: r.json("context")?,
                })
            })
            .collect()
    }
}
