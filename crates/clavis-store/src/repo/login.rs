//! Universal Login storage: one-time tickets, password history (and the session queries
//! the account lifecycle needs), consents, attack-protection counters and lockouts. The
//! email outbox and templates are in `login_outbox`; branding and organizations' email
//! domains in `login_branding`.
//!
//! Every check-and-change is one guarded statement (`UPDATE … WHERE consumed_at IS NULL`,
//! `INSERT … ON CONFLICT … DO UPDATE … RETURNING`), so concurrent requests on any number
//! of nodes cannot both consume a ticket or lose a counted hit.

use async_trait::async_trait;
use clavis_core::StoreError;
use clavis_core::model::{Consent, Lockout, TicketKind, UserTicket};
use clavis_core::ports::{ConsentRepo, PasswordHistoryRepo, RateRepo, StoreResult, TicketRepo};
use clavis_types::{ClientId, SessionId, TenantId, Timestamp, UserId};

use crate::SqlTx;
use crate::sql::{Row, q};

fn count(row: Option<Row>) -> StoreResult<i64> {
    row.map_or(Ok(0), |r| r.int("n"))
}

fn ticket(r: &Row) -> StoreResult<UserTicket> {
    Ok(UserTicket {
        tenant_id: r.parse("tenant_id", TenantId::parse)?,
        digest: r.bytes("digest")?,
        kind: r.parse("kind", |s| {
            TicketKind::parse(s).ok_or_else(|| format!("unknown ticket kind `{s}`"))
        })?,
        user_id: r.parse("user_id", UserId::parse)?,
        email: r.text("email")?,
        code_digest: r.opt_bytes("code_digest")?,
        attempts: r.int("attempts")?,
        created_at: r.ts("created_at")?,
        expires_at: r.ts("expires_at")?,
        consumed_at: r.opt_ts("consumed_at")?,
    })
}

#[async_trait]
impl TicketRepo for SqlTx {
    async fn ticket_insert(&mut self, t: &UserTicket) -> StoreResult<()> {
        self.conn
            .exec(q!(
                "INSERT INTO user_tickets (tenant_id, digest, kind, user_id, email, code_digest,
                    attempts, created_at, expires_at, consumed_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                &t.tenant_id,
                &t.digest,
                t.kind.as_str(),
                &t.user_id,
                &t.email,
                t.code_digest.as_ref(),
                t.attempts,
                t.created_at,
                t.expires_at,
                t.consumed_at
            ))
            .await
            .map(drop)
    }

    async fn ticket_get(&mut self, t: &TenantId, digest: &[u8]) -> StoreResult<Option<UserTicket>> {
        self.conn
            .fetch_opt(q!(
                "SELECT * FROM user_tickets WHERE tenant_id = $1 AND digest = $2",
                t,
                digest
            ))
            .await?
            .map(|r| ticket(&r))
            .transpose()
    }

    async fn ticket_latest_open(
        &mut self,
        t: &TenantId,
        user: &UserId,
        kind: TicketKind,
        now: Timestamp,
    ) -> StoreResult<Option<UserTicket>> {
        self.conn
            .fetch_opt(q!(
                "SELECT * FROM user_tickets
                 WHERE tenant_id = $1 AND user_id = $2 AND kind = $3
                   AND consumed_at IS NULL AND expires_at > $4
                 ORDER BY created_at DESC, digest DESC LIMIT 1",
                t,
                user,
                kind.as_str(),
                now
            ))
            .await?
            .map(|r| ticket(&r))
            .transpose()
    }

    async fn ticket_consume(
        &mut self,
        t: &TenantId,
        digest: &[u8],
        now: Timestamp,
    ) -> StoreResult<bool> {
        let n = self
            .conn
            .exec(q!(
                "UPDATE user_tickets SET consumed_at = $3
                 WHERE tenant_id = $1 AND digest = $2 AND consumed_at IS NULL AND expires_at > $3",
                t,
                digest,
                now
            ))
            .await?;
        Ok(n == 1)
    }

    /// Returns 0 when the tenant has no ticket with this digest (nothing was counted).
    async fn ticket_add_attempt(&mut self, t: &TenantId, digest: &[u8]) -> StoreResult<i64> {
        let row = self
            .conn
            .fetch_opt(q!(
                "UPDATE user_tickets SET attempts = attempts + 1
                 WHERE tenant_id = $1 AND digest = $2 RETURNING attempts",
                t,
                digest
            ))
            .await?;
        row.map_or(Ok(0), |r| r.int("attempts"))
    }

    async fn ticket_consume_all(
        &mut self,
        t: &TenantId,
        user: &UserId,
        kind: TicketKind,
        now: Timestamp,
    ) -> StoreResult<u64> {
        self.conn
            .exec(q!(
                "UPDATE user_tickets SET consumed_at = $4
                 WHERE tenant_id = $1 AND user_id = $2 AND kind = $3
                   AND consumed_at IS NULL AND expires_at > $4",
                t,
                user,
                kind.as_str(),
                now
            ))
            .await
    }

    async fn ticket_count_since(
        &mut self,
        t: &TenantId,
        user: &UserId,
        kind: TicketKind,
        since: Timestamp,
    ) -> StoreResult<i64> {
        let row = self
            .conn
            .fetch_opt(q!(
                "SELECT COUNT(*) AS n FROM user_tickets
                 WHERE tenant_id = $1 AND user_id = $2 AND kind = $3 AND created_at >= $4",
                t,
                user,
                kind.as_str(),
                since
            ))
            .await?;
        count(row)
    }
}

#[async_trait]
impl PasswordHistoryRepo for SqlTx {
    async fn password_history_add(
        &mut self,
        t: &TenantId,
        user: &UserId,
        hash: &str,
        at: Timestamp,
    ) -> StoreResult<()> {
        self.conn
            .exec(q!(
                "INSERT INTO password_history (tenant_id, user_id, hash, created_at)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (tenant_id, user_id, hash) DO UPDATE SET created_at = excluded.created_at",
                t,
                user,
                hash,
                at
            ))
            .await
            .map(drop)
    }

    async fn password_history_recent(
        &mut self,
        t: &TenantId,
        user: &UserId,
        limit: i64,
    ) -> StoreResult<Vec<String>> {
        self.conn
            .fetch(q!(
                "SELECT hash FROM password_history WHERE tenant_id = $1 AND user_id = $2
                 ORDER BY created_at DESC, hash DESC LIMIT $3",
                t,
                user,
                limit.max(0)
            ))
            .await?
            .iter()
            .map(|r| r.text("hash"))
            .collect()
    }

    async fn password_history_trim(
        &mut self,
        t: &TenantId,
        user: &UserId,
        keep: i64,
    ) -> StoreResult<()> {
        self.conn
            .exec(q!(
                "DELETE FROM password_history WHERE tenant_id = $1 AND user_id = $2
                   AND hash NOT IN (
                     SELECT hash FROM password_history WHERE tenant_id = $1 AND user_id = $2
                     ORDER BY created_at DESC, hash DESC LIMIT $3)",
                t,
                user,
                keep.max(0)
            ))
            .await
            .map(drop)
    }

    /// Revokes every session not yet revoked (expired ones included: they can never be
    /// used again anyway, and a late clock on another node must not revive one).
    async fn session_revoke_all(
        &mut self,
        t: &TenantId,
        user: &UserId,
        keep: Option<&SessionId>,
        now: Timestamp,
    ) -> StoreResult<u64> {
        let keep = keep.map_or("", SessionId::as_str);
        self.conn
            .exec(q!(
                "UPDATE sessions SET revoked_at = $4
                 WHERE tenant_id = $1 AND user_id = $2 AND id <> $3 AND revoked_at IS NULL",
                t,
                user,
                keep,
                now
            ))
            .await
    }

    async fn session_seen_agent(
        &mut self,
        t: &TenantId,
        user: &UserId,
        user_agent: &str,
        since: Timestamp,
    ) -> StoreResult<bool> {
        let row = self
            .conn
            .fetch_opt(q!(
                "SELECT COUNT(*) AS n FROM sessions
                 WHERE tenant_id = $1 AND user_id = $2 AND user_agent = $3 AND created_at >= $4",
                t,
                user,
                user_agent,
                since
            ))
            .await?;
        Ok(count(row)? > 0)
    }
}

fn consent(r: &Row) -> StoreResult<Consent> {
    Ok(Consent {
        tenant_id: r.parse("tenant_id", TenantId::parse)?,
        user_id: r.parse("user_id", UserId::parse)?,
        client_id: r.parse("client_id", ClientId::parse)?,
        audience: r.text("audience")?,
        scopes: r
            .text("scopes")?
            .split_ascii_whitespace()
            .map(str::to_owned)
            .collect(),
        created_at: r.ts("created_at")?,
        updated_at: r.ts("updated_at")?,
    })
}

#[async_trait]
impl ConsentRepo for SqlTx {
    async fn consent_get(
        &mut self,
        t: &TenantId,
        user: &UserId,
        client: &ClientId,
        audience: &str,
    ) -> StoreResult<Option<Consent>> {
        self.conn
            .fetch_opt(q!(
                "SELECT * FROM consents
                 WHERE tenant_id = $1 AND user_id = $2 AND client_id = $3 AND audience = $4",
                t,
                user,
                client,
                audience
            ))
            .await?
            .map(|r| consent(&r))
            .transpose()
    }

    async fn consent_upsert(&mut self, c: &Consent) -> StoreResult<()> {
        self.conn
            .exec(q!(
                "INSERT INTO consents (tenant_id, user_id, client_id, audience, scopes,
                    created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (tenant_id, user_id, client_id, audience) DO UPDATE SET
                    scopes = excluded.scopes, updated_at = excluded.updated_at",
                &c.tenant_id,
                &c.user_id,
                &c.client_id,
                &c.audience,
                c.scopes.join(" "),
                c.created_at,
                c.updated_at
            ))
            .await
            .map(drop)
    }

    async fn consent_list_for_user(
        &mut self,
        t: &TenantId,
        user: &UserId,
    ) -> StoreResult<Vec<Consent>> {
        self.conn
            .fetch(q!(
                "SELECT * FROM consents WHERE tenant_id = $1 AND user_id = $2
                 ORDER BY client_id, audience",
                t,
                user
            ))
            .await?
            .iter()
            .map(consent)
            .collect()
    }

    async fn consent_delete(
        &mut self,
        t: &TenantId,
        user: &UserId,
        client: &ClientId,
        audience: &str,
    ) -> StoreResult<bool> {
        let n = self
            .conn
            .exec(q!(
                "DELETE FROM consents
                 WHERE tenant_id = $1 AND user_id = $2 AND client_id = $3 AND audience = $4",
                t,
                user,
                client,
                audience
            ))
            .await?;
        Ok(n == 1)
    }
}

fn lockout(r: &Row) -> StoreResult<Lockout> {
    Ok(Lockout {
        tenant_id: r.parse("tenant_id", TenantId::parse)?,
        subject: r.text("subject")?,
        locked_until: r.ts("locked_until")?,
        lock_count: r.int("lock_count")?,
        updated_at: r.ts("updated_at")?,
    })
}

#[async_trait]
impl RateRepo for SqlTx {
    async fn rate_hit(
        &mut self,
        t: &TenantId,
        bucket: &str,
        window_start: i64,
    ) -> StoreResult<i64> {
        let row = self
            .conn
            .fetch_opt(q!(
                "INSERT INTO rate_counters (tenant_id, bucket, window_start, hits)
                 VALUES ($1, $2, $3, 1)
                 ON CONFLICT (tenant_id, bucket, window_start)
                 DO UPDATE SET hits = rate_counters.hits + 1
                 RETURNING hits",
                t,
                bucket,
                window_start
            ))
            .await?;
        row.ok_or_else(|| StoreError::Other("counting a hit returned no row".to_owned()))?
            .int("hits")
    }

    async fn rate_get(
        &mut self,
        t: &TenantId,
        bucket: &str,
        window_start: i64,
    ) -> StoreResult<i64> {
        let row = self
            .conn
            .fetch_opt(q!(
                "SELECT hits FROM rate_counters
                 WHERE tenant_id = $1 AND bucket = $2 AND window_start = $3",
                t,
                bucket,
                window_start
            ))
            .await?;
        row.map_or(Ok(0), |r| r.int("hits"))
    }

    async fn rate_latest_window(
        &mut self,
        t: &TenantId,
        bucket: &str,
        since: i64,
    ) -> StoreResult<Option<i64>> {
        let row = self
            .conn
            .fetch_opt(q!(
                "SELECT window_start FROM rate_counters
                 WHERE tenant_id = $1 AND bucket = $2 AND window_start >= $3
                 ORDER BY window_start DESC LIMIT 1",
                t,
                bucket,
                since
            ))
            .await?;
        row.map(|r| r.int("window_start")).transpose()
    }

    async fn rate_clear(&mut self, t: &TenantId, bucket: &str) -> StoreResult<()> {
        self.conn
            .exec(q!(
                "DELETE FROM rate_counters WHERE tenant_id = $1 AND bucket = $2",
                t,
                bucket
            ))
            .await
            .map(drop)
    }

    async fn rate_purge(&mut self, before: i64) -> StoreResult<u64> {
        self.conn
            .exec(q!(
                "DELETE FROM rate_counters WHERE window_start < $1",
                before
            ))
            .await
    }

    async fn lockout_get(&mut self, t: &TenantId, subject: &str) -> StoreResult<Option<Lockout>> {
        self.conn
            .fetch_opt(q!(
                "SELECT * FROM account_lockouts WHERE tenant_id = $1 AND subject = $2",
                t,
                subject
            ))
            .await?
            .map(|r| lockout(&r))
            .transpose()
    }

    async fn lockout_put(&mut self, l: &Lockout) -> StoreResult<()> {
        self.conn
            .exec(q!(
                "INSERT INTO account_lockouts (tenant_id, subject, locked_until, lock_count, updated_at)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (tenant_id, subject) DO UPDATE SET
                    locked_until = excluded.locked_until, lock_count = excluded.lock_count,
                    updated_at = excluded.updated_at",
                &l.tenant_id,
                &l.subject,
                l.locked_until,
                l.lock_count,
                l.updated_at
            ))
            .await
            .map(drop)
    }

    async fn lockout_clear(&mut self, t: &TenantId, subject: &str) -> StoreResult<bool> {
        let n = self
            .conn
            .exec(q!(
                "DELETE FROM account_lockouts WHERE tenant_id = $1 AND subject = $2",
                t,
                subject
            ))
            .await?;
        Ok(n == 1)
    }
}
