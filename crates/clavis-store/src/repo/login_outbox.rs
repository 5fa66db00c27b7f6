//! The email outbox (messages waiting for, or kept after, delivery) and the tenants'
//! email template overrides.
//!
//! Claiming is one `UPDATE … RETURNING` that moves the claimed messages' next attempt to
//! the end of the lease. On PostgreSQL the candidates are chosen once, `FOR UPDATE SKIP
//! LOCKED`, so nodes claiming at the same moment take disjoint sets without waiting for
//! each other; SQLite has one writer, so a plain subquery is already exclusive.

use async_trait::async_trait;
use clavis_core::model::{EmailState, EmailTemplate, OutboxEmail, Page};
use clavis_core::ports::{OutboxRepo, StoreResult};
use clavis_types::{EmailId, TenantId, Timestamp};

use super::page_args;
use crate::SqlTx;
use crate::migrate::Dialect;
use crate::sql::{Row, q};

fn email(r: &Row) -> StoreResult<OutboxEmail> {
    Ok(OutboxEmail {
        tenant_id: r.parse("tenant_id", TenantId::parse)?,
        id: r.parse("id", EmailId::parse)?,
        to_address: r.text("to_address")?,
        template: r.text("template")?,
        subject: r.text("subject")?,
        text_body: r.text("text_body")?,
        html_body: r.text("html_body")?,
        state: r.parse("state", |s| {
            EmailState::parse(s).ok_or_else(|| format!("unknown email state `{s}`"))
        })?,
        attempts: r.int("attempts")?,
        next_attempt_at: r.ts("next_attempt_at")?,
        last_error: r.opt_text("last_error")?,
        created_at: r.ts("created_at")?,
        sent_at: r.opt_ts("sent_at")?,
    })
}

fn template(r: &Row) -> StoreResult<EmailTemplate> {
    Ok(EmailTemplate {
        tenant_id: r.parse("tenant_id", TenantId::parse)?,
        name: r.text("name")?,
        subject: r.text("subject")?,
        text_body: r.text("text_body")?,
        html_body: r.text("html_body")?,
        enabled: r.bool("enabled")?,
        updated_at: r.ts("updated_at")?,
    })
}

const CLAIM_SQLITE: &str = "UPDATE email_outbox SET next_attempt_at = $2
     WHERE state = 'pending' AND next_attempt_at <= $1
       AND (tenant_id, id) IN (
         SELECT tenant_id, id FROM email_outbox
         WHERE state = 'pending' AND next_attempt_at <= $1
         ORDER BY next_attempt_at, created_at, tenant_id, id LIMIT $3)
     RETURNING *";

// The candidates are chosen once, in a materialised CTE: as a plain `IN (subquery)` the
// planner may run the `SKIP LOCKED` subquery more than once and claim more than `limit`.
const CLAIM_POSTGRES: &str = "WITH due AS MATERIALIZED (
         SELECT tenant_id, id FROM email_outbox
         WHERE state = 'pending' AND next_attempt_at <= $1
         ORDER BY next_attempt_at, created_at, tenant_id, id LIMIT $3
         FOR UPDATE SKIP LOCKED)
     UPDATE email_outbox AS e SET next_attempt_at = $2
     FROM due WHERE e.tenant_id = due.tenant_id AND e.id = due.id
     RETURNING e.*";

#[async_trait]
impl OutboxRepo for SqlTx {
    async fn outbox_insert(&mut self, e: &OutboxEmail) -> StoreResult<()> {
        self.conn
            .exec(q!(
                "INSERT INTO email_outbox (tenant_id, id, to_address, template, subject, text_body,
                    html_body, state, attempts, next_attempt_at, last_error, created_at, sent_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                &e.tenant_id,
                &e.id,
                &e.to_address,
                &e.template,
                &e.subject,
                &e.text_body,
                &e.html_body,
                e.state.as_str(),
                e.attempts,
                e.next_attempt_at,
                e.last_error.as_ref(),
                e.created_at,
                e.sent_at
            ))
            .await
            .map(drop)
    }

    async fn outbox_get(&mut self, t: &TenantId, id: &EmailId) -> StoreResult<Option<OutboxEmail>> {
        self.conn
            .fetch_opt(q!(
                "SELECT * FROM email_outbox WHERE tenant_id = $1 AND id = $2",
                t,
                id
            ))
            .await?
            .map(|r| email(&r))
            .transpose()
    }

    async fn outbox_list(
        &mut self,
        t: &TenantId,
        to: Option<&str>,
        page: Page,
    ) -> StoreResult<Vec<OutboxEmail>> {
        let (limit, offset) = page_args(page);
        // An empty filter means "every address" (no stored message has an empty address).
        self.conn
            .fetch(q!(
                "SELECT * FROM email_outbox
                 WHERE tenant_id = $1 AND ($2 = '' OR to_address = $2)
                 ORDER BY created_at DESC, id DESC LIMIT $3 OFFSET $4",
                t,
                to.unwrap_or(""),
                limit,
                offset
            ))
            .await?
            .iter()
            .map(email)
            .collect()
    }

    async fn outbox_count(&mut self, t: &TenantId, to: Option<&str>) -> StoreResult<i64> {
        let row = self
            .conn
            .fetch_opt(q!(
                "SELECT COUNT(*) AS n FROM email_outbox
                 WHERE tenant_id = $1 AND ($2 = '' OR to_address = $2)",
                t,
                to.unwrap_or("")
            ))
            .await?;
        row.map_or(Ok(0), |r| r.int("n"))
    }

    async fn outbox_claim_due(
        &mut self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: i64,
    ) -> StoreResult<Vec<OutboxEmail>> {
        let sql = match self.conn.dialect() {
            Dialect::Sqlite => CLAIM_SQLITE,
            Dialect::Postgres => CLAIM_POSTGRES,
        };
        let mut claimed = self
            .conn
            .fetch(q!(sql, now, lease_until, limit.max(0)))
            .await?
            .iter()
            .map(email)
            .collect::<StoreResult<Vec<_>>>()?;
        // RETURNING has no order: oldest first, as documented.
        claimed.sort_by(|a, b| {
            (a.created_at, a.tenant_id.as_str(), a.id.as_str()).cmp(&(
                b.created_at,
                b.tenant_id.as_str(),
                b.id.as_str(),
            ))
        });
        Ok(claimed)
    }

    async fn outbox_mark_sent(
        &mut self,
        t: &TenantId,
        id: &EmailId,
        at: Timestamp,
    ) -> StoreResult<()> {
        self.conn
            .exec(q!(
                "UPDATE email_outbox SET state = 'sent', sent_at = $3, attempts = attempts + 1,
                    last_error = NULL, text_body = '', html_body = ''
                 WHERE tenant_id = $1 AND id = $2",
                t,
                id,
                at
            ))
            .await
            .map(drop)
    }

    async fn outbox_mark_failed(
        &mut self,
        t: &TenantId,
        id: &EmailId,
        next_attempt_at: Timestamp,
        error: &str,
        give_up: bool,
    ) -> StoreResult<()> {
        let q = if give_up {
            q!(
                "UPDATE email_outbox SET state = 'failed', attempts = attempts + 1,
                    next_attempt_at = $3, last_error = $4, text_body = '', html_body = ''
                 WHERE tenant_id = $1 AND id = $2",
                t,
                id,
                next_attempt_at,
                error
            )
        } else {
            q!(
                "UPDATE email_outbox SET state = 'pending', attempts = attempts + 1,
                    next_attempt_at = $3, last_error = $4
                 WHERE tenant_id = $1 AND id = $2",
                t,
                id,
                next_attempt_at,
                error
            )
        };
        self.conn.exec(q).await.map(drop)
    }

    async fn outbox_purge(&mut self, before: Timestamp) -> StoreResult<u64> {
        self.conn
            .exec(q!("DELETE FROM email_outbox WHERE created_at < $1", before))
            .await
    }

    async fn email_template_get(
        &mut self,
        t: &TenantId,
        name: &str,
    ) -> StoreResult<Option<EmailTemplate>> {
        self.conn
            .fetch_opt(q!(
                "SELECT * FROM email_templates WHERE tenant_id = $1 AND name = $2",
                t,
                name
            ))
            .await?
            .map(|r| template(&r))
            .transpose()
    }

    async fn email_template_put(&mut self, e: &EmailTemplate) -> StoreResult<()> {
        self.conn
            .exec(q!(
                "INSERT INTO email_templates (tenant_id, name, subject, text_body, html_body,
                    enabled, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (tenant_id, name) DO UPDATE SET subject = excluded.subject,
                    text_body = excluded.text_body, html_body = excluded.html_body,
                    enabled = excluded.enabled, updated_at = excluded.updated_at",
                &e.tenant_id,
                &e.name,
                &e.subject,
                &e.text_body,
                &e.html_body,
                e.enabled,
                e.updated_at
            ))
            .await
            .map(drop)
    }

    async fn email_template_list(&mut self, t: &TenantId) -> StoreResult<Vec<EmailTemplate>> {
        self.conn
            .fetch(q!(
                "SELECT * FROM email_templates WHERE tenant_id = $1 ORDER BY name",
                t
            ))
            .await?
            .iter()
            .map(template)
            .collect()
    }

    async fn email_template_delete(&mut self, t: &TenantId, name: &str) -> StoreResult<bool> {
        let n = self
            .conn
            .exec(q!(
                "DELETE FROM email_templates WHERE tenant_id = $1 AND name = $2",
                t,
                name
            ))
            .await?;
        Ok(n == 1)
    }
}
