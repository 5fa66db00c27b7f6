//! The per-tenant tamper-evident audit log ([`clavis_core::chain`]) and what goes with it:
//! signed checkpoints, purge anchors, the per-user keys that seal personal data, and legal
//! holds.
//!
//! Appends serialise on the tenant's head row: the upsert that advances
//! `audit_heads.seq` locks that row until commit (PostgreSQL; SQLite has a single writer
//! anyway) and hands back the hash the batch links to, so concurrent writers on any number
//! of nodes produce one gap-free chain.

use async_trait::async_trait;
use clavis_core::StoreError;
use clavis_core::chain::{GENESIS, chain_hash, event_body, parse_body};
use clavis_core::model::{
    AuditAnchor, AuditCheckpoint, AuditEvent, AuditQuery, ChainHead, ChainedEvent, LegalHold,
    SubjectKey,
};
use clavis_core::ports::{AuditRepo, StoreResult};
use clavis_types::{TenantId, Timestamp};
use std::borrow::Cow;

use crate::SqlTx;
use crate::migrate::Dialect;
use crate::sql::{Conn, Kind, Q, Row, Value, q};

const COLUMNS: usize = 11;
/// Most events inserted by one statement. On SQLite a batch of up to this many takes one
/// statement of exactly its size (each size prepared once and then cached), so a group
/// commit costs one round trip for its rows; PostgreSQL splits a batch into power-of-two
/// chunks.
const MAX_ROWS: usize = 64;
/// Events read per statement when the legacy table is chained by the migration.
const LEGACY_PAGE: u32 = 512;

/// `INSERT INTO audit_log … VALUES ($1, …, $11), ($12, …)` for `rows` events. SQLite
/// gets anonymous `?` placeholders (bound in order): naming a numbered one costs SQLite a
/// scan of all of the statement's parameter names, per parameter bound.
fn insert_sql(rows: usize, dialect: Dialect) -> String {
    use std::fmt::Write as _;
    let mut sql = String::with_capacity(160 + rows * COLUMNS * 7);
    sql.push_str(match dialect {
        Dialect::Sqlite => "INSERT OR FAIL",
        Dialect::Postgres => "INSERT",
    });
    sql.push_str(
        " INTO audit_log (tenant_id, seq, event_id, occurred_at, event_type, actor_user_id, \
         actor_client_id, org_id, body, prev_hash, hash) VALUES ",
    );
    for r in 0..rows {
        sql.push_str(if r == 0 { "(" } else { ", (" });
        for c in 0..COLUMNS {
            let sep = if c == 0 { "" } else { ", " };
            let _ = match dialect {
                Dialect::Sqlite => write!(sql, "{sep}?"),
                Dialect::Postgres => write!(sql, "{sep}${}", r * COLUMNS + c + 1),
            };
        }
        sql.push(')');
    }
    sql
}

/// [`insert_sql`] for `rows` events, built once per process for 1 to [`MAX_ROWS`]. With
/// `set_head` (SQLite only) the head's new hash is written by the same round trip: an
/// `UPDATE audit_heads` follows the insert, its two anonymous parameters after the rows'.
fn cached_insert_sql(rows: usize, dialect: Dialect, set_head: bool) -> Cow<'static, str> {
    static SQL: [[std::sync::OnceLock<String>; MAX_ROWS]; 3] =
        [const { [const { std::sync::OnceLock::new() }; MAX_ROWS] }; 3];
    let set_head = set_head && dialect == Dialect::Sqlite;
    let build = || {
        let mut sql = insert_sql(rows, dialect);
        if set_head {
            sql.push_str("; UPDATE audit_heads SET hash = ? WHERE tenant_id = ?");
        }
        sql
    };
    let variant = match (dialect, set_head) {
        (Dialect::Sqlite, false) => 0,
        (Dialect::Sqlite, true) => 1,
        (Dialect::Postgres, _) => 2,
    };
    match rows.checked_sub(1).and_then(|i| SQL[variant].get(i)) {
        Some(cell) => Cow::Borrowed(cell.get_or_init(build).as_str()),
        None => Cow::Owned(build()),
    }
}

/// Chain `events` (sequence numbers already assigned, in order, all of tenant `t`) after
/// `prev_hash` and insert them; returns the hash of the last one. With `set_head`, the
/// tenant's `audit_heads.hash` is set to it as well.
pub(crate) async fn insert_chained(
    conn: &mut Conn,
    t: &TenantId,
    events: &[AuditEvent],
    prev_hash: String,
    set_head: bool,
) -> StoreResult<String> {
    let dialect = conn.dialect();
    let mut prev = prev_hash;
    let mut rest = events;
    while !rest.is_empty() {
        let size = match dialect {
            Dialect::Sqlite => rest.len().min(MAX_ROWS),
            // Powers of two: few statements per connection, and batches over TLS stay in
            // inserts of at most 32 rows unless 64 or more are waiting.
            Dialect::Postgres => 1 << rest.len().min(MAX_ROWS).checked_ilog2().unwrap_or(0),
        };
        let (chunk, tail) = rest.split_at(size);
        let mut args = Vec::with_capacity(size * COLUMNS + 2);
        for e in chunk {
            let body = event_body(e);
            let hash = chain_hash(&prev, &body);
            args.extend([
                Value::from(t),
                Value::from(e.seq),
                Value::from(&e.event_id),
                Value::from(e.timestamp),
                Value::from(&e.event_type),
                Value::from(e.actor.user_id.as_ref()),
                Value::from(e.actor.client_id.as_ref()),
                Value::from(e.organization.as_ref().map(|o| &o.org_id)),
                Value::Text(body),
                Value::Text(std::mem::replace(&mut prev, hash.clone())),
                Value::Text(hash),
            ]);
        }
        let head_here = set_head && tail.is_empty() && dialect == Dialect::Sqlite;
        if head_here {
            args.extend([Value::Text(prev.clone()), Value::from(t)]);
        }
        conn.exec(Q {
            sql: cached_insert_sql(size, dialect, head_here),
            args,
        })
        .await?;
        rest = tail;
    }
    if set_head && dialect == Dialect::Postgres {
        conn.exec(q!(
            "UPDATE audit_heads SET hash = $2 WHERE tenant_id = $1",
            t,
            &prev
        ))
        .await?;
    }
    Ok(prev)
}

/// Migration 4's data step: chain every event of the old `audit_events` table into
/// `audit_log` (per tenant, in `seq` order, from [`GENESIS`]), point each head at its
/// chain's last hash, and drop the old table.
pub(crate) async fn chain_legacy_events(conn: &mut Conn) -> StoreResult<()> {
    let tenants = conn
        .fetch(q!(
            "SELECT DISTINCT tenant_id FROM audit_events ORDER BY tenant_id"
        ))
        .await?;
    for row in tenants {
        let t = row.parse("tenant_id", TenantId::parse)?;
        let mut prev = GENESIS.to_owned();
        let mut last = 0_i64;
        loop {
            let events = conn
                .fetch(q!(
                    "SELECT * FROM audit_events WHERE tenant_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
                    &t,
                    last,
                    LEGACY_PAGE
                ))
                .await?
                .iter()
                .map(legacy_event)
                .collect::<StoreResult<Vec<_>>>()?;
            let Some(tail) = events.last() else { break };
            last = tail.seq;
            prev = insert_chained(conn, &t, &events, prev, false).await?;
        }
        conn.exec(q!(
            "INSERT INTO audit_heads (tenant_id, seq, hash) VALUES ($1, $2, $3)
             ON CONFLICT (tenant_id) DO UPDATE SET seq = $2, hash = $3",
            &t,
            last,
            prev
        ))
        .await?;
    }
    conn.exec(q!("DROP TABLE audit_events")).await.map(drop)
}

fn legacy_event(r: &Row) -> StoreResult<AuditEvent> {
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
}

fn chained(r: &Row) -> StoreResult<ChainedEvent> {
    Ok(ChainedEvent {
        tenant_id: r.parse("tenant_id", TenantId::parse)?,
        seq: r.int("seq")?,
        event_id: r.text("event_id")?,
        timestamp: r.ts("occurred_at")?,
        event_type: r.text("event_type")?,
        actor_user_id: r.opt_text("actor_user_id")?,
        actor_client_id: r.opt_text("actor_client_id")?,
        org_id: r.opt_text("org_id")?,
        body: r.text("body")?,
        prev_hash: r.text("prev_hash")?,
        hash: r.text("hash")?,
    })
}

fn checkpoint(r: &Row) -> StoreResult<AuditCheckpoint> {
    Ok(AuditCheckpoint {
        tenant_id: r.parse("tenant_id", TenantId::parse)?,
        seq: r.int("seq")?,
        hash: r.text("hash")?,
        kid: r.text("kid")?,
        jws: r.text("jws")?,
        created_at: r.ts("created_at")?,
    })
}

fn anchor(r: &Row) -> StoreResult<AuditAnchor> {
    Ok(AuditAnchor {
        tenant_id: r.parse("tenant_id", TenantId::parse)?,
        seq: r.int("seq")?,
        hash: r.text("hash")?,
        events_purged: r.int("events_purged")?,
        jws: r.text("jws")?,
        purged_at: r.ts("purged_at")?,
    })
}

/// Bytes kept in a TEXT column as base64url.
pub(crate) fn opt_b64(r: &Row, col: &str) -> StoreResult<Option<Vec<u8>>> {
    r.opt_text(col)?
        .map(|s| clavis_crypto::b64url_decode(&s))
        .transpose()
        .map_err(|e| StoreError::Corrupt(format!("column `{col}`: {e}")))
}

/// The TEXT value of optional bytes (base64url).
pub(crate) fn b64_value(b: Option<&Vec<u8>>) -> Value {
    b.map_or(Value::Null(Kind::Text), |b| {
        Value::Text(clavis_crypto::b64url(b))
    })
}

fn subject_key(r: &Row) -> StoreResult<SubjectKey> {
    Ok(SubjectKey {
        tenant_id: r.parse("tenant_id", TenantId::parse)?,
        user_id: r.text("user_id")?,
        sealed_key: opt_b64(r, "sealed_key")?,
        created_at: r.ts("created_at")?,
        erased_at: r.opt_ts("erased_at")?,
    })
}

fn legal_hold(r: &Row) -> StoreResult<LegalHold> {
    Ok(LegalHold {
        tenant_id: r.parse("tenant_id", TenantId::parse)?,
        id: r.text("id")?,
        org_id: r.text("org_id")?,
        reason: r.text("reason")?,
        created_at: r.ts("created_at")?,
        released_at: r.opt_ts("released_at")?,
    })
}

/// A statement whose WHERE clause is assembled from a fixed set of shapes; only
/// placeholders are generated, never input text.
struct Builder {
    sql: String,
    args: Vec<Value>,
}

impl Builder {
    /// Bind `v` and return its placeholder.
    fn bind(&mut self, v: Value) -> String {
        self.args.push(v);
        format!("${}", self.args.len())
    }
    fn and(&mut self, clause: &str, v: Value) {
        let p = self.bind(v);
        self.sql.push_str(" AND ");
        self.sql.push_str(&clause.replace('?', &p));
    }
}

fn search_query(t: &TenantId, query: &AuditQuery, limit: u32) -> Q {
    let mut b = Builder {
        sql: String::from("SELECT * FROM audit_log WHERE tenant_id = $1"),
        args: vec![Value::from(t)],
    };
    if let Some(from) = query.from {
        b.and("occurred_at >= ?", Value::from(from));
    }
    if let Some(to) = query.to {
        b.and("occurred_at < ?", Value::from(to));
    }
    if !query.event_types.is_empty() {
        let mut alternatives = Vec::with_capacity(query.event_types.len());
        for ty in &query.event_types {
            alternatives.push(match ty.strip_suffix('*').filter(|p| p.ends_with('.')) {
                // `substr`/`length` count characters and compare exactly on both backends
                // (unlike LIKE, which ignores ASCII case on SQLite).
                Some(prefix) => {
                    let p = b.bind(Value::from(prefix));
                    format!("substr(event_type, 1, length({p})) = {p}")
                }
                None => format!("event_type = {}", b.bind(Value::from(ty))),
            });
        }
        b.sql.push_str(" AND (");
        b.sql.push_str(&alternatives.join(" OR "));
        b.sql.push(')');
    }
    if let Some(u) = &query.actor_user_id {
        b.and("actor_user_id = ?", Value::from(u));
    }
    if let Some(c) = &query.actor_client_id {
        b.and("actor_client_id = ?", Value::from(c));
    }
    if let Some(o) = &query.org_id {
        b.and("org_id = ?", Value::from(o));
    }
    if let Some(after) = query.after_seq {
        b.and("seq > ?", Value::from(after));
    }
    if let Some(before) = query.before_seq {
        b.and("seq < ?", Value::from(before));
    }
    let order = if query.newest_first { "DESC" } else { "ASC" };
    let p = b.bind(Value::from(limit));
    b.sql.push_str(&format!(" ORDER BY seq {order} LIMIT {p}"));
    Q {
        sql: Cow::Owned(b.sql),
        args: b.args,
    }
}

fn last_seq(row: Option<Row>) -> StoreResult<Option<i64>> {
    match row {
        Some(r) => r.opt_int("s"),
        None => Ok(None),
    }
}

#[async_trait]
impl AuditRepo for SqlTx {
    async fn audit_append(&mut self, t: &TenantId, events: &mut [AuditEvent]) -> StoreResult<i64> {
        let n =
            i64::try_from(events.len()).map_err(|_| StoreError::Other("too many events".into()))?;
        if n == 0 {
            return Ok(self.audit_head(t).await?.seq);
        }
        // Refused before anything is written: a head moved without its events would
        // leave a gap if the caller committed anyway.
        if events.iter().any(|e| e.tenant_id != *t) {
            return Err(StoreError::Other(
                "an audit event of another tenant cannot join this chain".into(),
            ));
        }
        // Locks the head until commit; `hash` is not set here, so the old one comes back.
        let head = self
            .conn
            .fetch_opt(q!(
                "INSERT INTO audit_heads (tenant_id, seq, hash) VALUES ($1, $2, $3)
                 ON CONFLICT (tenant_id) DO UPDATE SET seq = audit_heads.seq + $2
                 RETURNING seq, hash",
                t,
                n,
                GENESIS
            ))
            .await?
            .ok_or_else(|| StoreError::Other("audit head not returned".into()))?;
        let last = head.int("seq")?;
        let mut seq = last - n;
        for e in events.iter_mut() {
            seq += 1;
            e.seq = seq;
        }
        insert_chained(&mut self.conn, t, events, head.text("hash")?, true).await?;
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
                "SELECT body FROM audit_log WHERE tenant_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
                t,
                after,
                limit
            ))
            .await?
            .iter()
            .map(|r| {
                parse_body(&r.text("body")?).map_err(|e| StoreError::Corrupt(e.to_string()))
            })
            .collect()
    }

    async fn audit_head(&mut self, t: &TenantId) -> StoreResult<ChainHead> {
        let row = self
            .conn
            .fetch_opt(q!(
                "SELECT seq, hash FROM audit_heads WHERE tenant_id = $1",
                t
            ))
            .await?;
        Ok(match row {
            Some(r) => ChainHead {
                seq: r.int("seq")?,
                hash: r.text("hash")?,
            },
            None => ChainHead {
                seq: 0,
                hash: GENESIS.to_owned(),
            },
        })
    }

    async fn audit_range(
        &mut self,
        t: &TenantId,
        after: i64,
        until: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<ChainedEvent>> {
        self.conn
            .fetch(q!(
                "SELECT * FROM audit_log WHERE tenant_id = $1 AND seq > $2 AND seq <= $3
                 ORDER BY seq LIMIT $4",
                t,
                after,
                until.unwrap_or(i64::MAX),
                limit
            ))
            .await?
            .iter()
            .map(chained)
            .collect()
    }

    async fn audit_get(
        &mut self,
        t: &TenantId,
        event_id: &str,
    ) -> StoreResult<Option<ChainedEvent>> {
        self.conn
            .fetch_opt(q!(
                "SELECT * FROM audit_log WHERE tenant_id = $1 AND event_id = $2",
                t,
                event_id
            ))
            .await?
            .map(|r| chained(&r))
            .transpose()
    }

    async fn audit_search(
        &mut self,
        t: &TenantId,
        query: &AuditQuery,
        limit: u32,
    ) -> StoreResult<Vec<ChainedEvent>> {
        self.conn
            .fetch(search_query(t, query, limit))
            .await?
            .iter()
            .map(chained)
            .collect()
    }

    /// The end of the longest prefix of remaining events that are all older than
    /// `before`: the newest such event, or — where clocks of several nodes made
    /// timestamps slightly non-monotonic — the event just before the first newer one.
    async fn audit_last_seq_before(
        &mut self,
        t: &TenantId,
        before: Timestamp,
    ) -> StoreResult<Option<i64>> {
        let newest = self
            .conn
            .fetch_opt(q!(
                "SELECT MAX(seq) AS s FROM audit_log WHERE tenant_id = $1 AND occurred_at < $2",
                t,
                before
            ))
            .await?;
        let Some(newest) = last_seq(newest)? else {
            return Ok(None);
        };
        let first_newer = self
            .conn
            .fetch_opt(q!(
                "SELECT MIN(seq) AS s FROM audit_log
                 WHERE tenant_id = $1 AND seq < $2 AND occurred_at >= $3",
                t,
                newest,
                before
            ))
            .await?;
        let Some(first_newer) = last_seq(first_newer)? else {
            return Ok(Some(newest));
        };
        let oldest = self
            .conn
            .fetch_opt(q!(
                "SELECT MIN(seq) AS s FROM audit_log WHERE tenant_id = $1",
                t
            ))
            .await?;
        Ok(last_seq(oldest)?
            .filter(|oldest| *oldest < first_newer)
            .map(|_| first_newer - 1))
    }

    async fn audit_first_seq_of_orgs(
        &mut self,
        t: &TenantId,
        orgs: &[String],
    ) -> StoreResult<Option<i64>> {
        if orgs.is_empty() {
            return Ok(None);
        }
        let mut b = Builder {
            sql: String::from("SELECT MIN(seq) AS s FROM audit_log WHERE tenant_id = $1"),
            args: vec![Value::from(t)],
        };
        let placeholders: Vec<String> = orgs.iter().map(|o| b.bind(Value::from(o))).collect();
        b.sql
            .push_str(&format!(" AND org_id IN ({})", placeholders.join(", ")));
        let row = self
            .conn
            .fetch_opt(Q {
                sql: Cow::Owned(b.sql),
                args: b.args,
            })
            .await?;
        last_seq(row)
    }

    async fn audit_purge(&mut self, a: &AuditAnchor) -> StoreResult<i64> {
        let n = self
            .conn
            .exec(q!(
                "DELETE FROM audit_log WHERE tenant_id = $1 AND seq <= $2",
                &a.tenant_id,
                a.seq
            ))
            .await?;
        self.conn
            .exec(q!(
                "INSERT INTO audit_anchors (tenant_id, seq, hash, events_purged, jws, purged_at)
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &a.tenant_id,
                a.seq,
                &a.hash,
                a.events_purged,
                &a.jws,
                a.purged_at
            ))
            .await?;
        i64::try_from(n).map_err(|_| StoreError::Other("too many events purged".into()))
    }

    async fn audit_anchor_latest(&mut self, t: &TenantId) -> StoreResult<Option<AuditAnchor>> {
        self.conn
            .fetch_opt(q!(
                "SELECT * FROM audit_anchors WHERE tenant_id = $1 ORDER BY seq DESC LIMIT 1",
                t
            ))
            .await?
            .map(|r| anchor(&r))
            .transpose()
    }

    async fn audit_checkpoint_insert(&mut self, c: &AuditCheckpoint) -> StoreResult<()> {
        self.conn
            .exec(q!(
                "INSERT INTO audit_checkpoints (tenant_id, seq, hash, kid, jws, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (tenant_id, seq) DO NOTHING",
                &c.tenant_id,
                c.seq,
                &c.hash,
                &c.kid,
                &c.jws,
                c.created_at
            ))
            .await
            .map(drop)
    }

    async fn audit_checkpoint_covering(
        &mut self,
        t: &TenantId,
        at_least: i64,
    ) -> StoreResult<Option<AuditCheckpoint>> {
        self.conn
            .fetch_opt(q!(
                "SELECT * FROM audit_checkpoints WHERE tenant_id = $1 AND seq >= $2
                 ORDER BY seq LIMIT 1",
                t,
                at_least
            ))
            .await?
            .map(|r| checkpoint(&r))
            .transpose()
    }

    async fn audit_checkpoint_latest(
        &mut self,
        t: &TenantId,
    ) -> StoreResult<Option<AuditCheckpoint>> {
        self.conn
            .fetch_opt(q!(
                "SELECT * FROM audit_checkpoints WHERE tenant_id = $1 ORDER BY seq DESC LIMIT 1",
                t
            ))
            .await?
            .map(|r| checkpoint(&r))
            .transpose()
    }

    async fn audit_checkpoint_list(
        &mut self,
        t: &TenantId,
        before_seq: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<AuditCheckpoint>> {
        self.conn
            .fetch(q!(
                "SELECT * FROM audit_checkpoints WHERE tenant_id = $1 AND seq < $2
                 ORDER BY seq DESC LIMIT $3",
                t,
                before_seq.unwrap_or(i64::MAX),
                limit
            ))
            .await?
            .iter()
            .map(checkpoint)
            .collect()
    }

    async fn audit_subject_key(
        &mut self,
        t: &TenantId,
        user_id: &str,
    ) -> StoreResult<Option<SubjectKey>> {
        self.conn
            .fetch_opt(q!(
                "SELECT * FROM audit_subject_keys WHERE tenant_id = $1 AND user_id = $2",
                t,
                user_id
            ))
            .await?
            .map(|r| subject_key(&r))
            .transpose()
    }

    async fn audit_subject_key_insert(&mut self, k: &SubjectKey) -> StoreResult<bool> {
        let n = self
            .conn
            .exec(q!(
                "INSERT INTO audit_subject_keys (tenant_id, user_id, sealed_key, created_at, erased_at)
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant_id, user_id) DO NOTHING",
                &k.tenant_id,
                &k.user_id,
                b64_value(k.sealed_key.as_ref()),
                k.created_at,
                k.erased_at
            ))
            .await?;
        Ok(n == 1)
    }

    async fn audit_subject_erase(
        &mut self,
        t: &TenantId,
        user_id: &str,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let n = self
            .conn
            .exec(q!(
                "UPDATE audit_subject_keys SET sealed_key = NULL, erased_at = COALESCE(erased_at, $3)
                 WHERE tenant_id = $1 AND user_id = $2",
                t,
                user_id,
                now
            ))
            .await?;
        Ok(n == 1)
    }

    async fn legal_hold_insert(&mut self, h: &LegalHold) -> StoreResult<()> {
        self.conn
            .exec(q!(
                "INSERT INTO audit_legal_holds (tenant_id, id, org_id, reason, created_at, released_at)
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &h.tenant_id,
                &h.id,
                &h.org_id,
                &h.reason,
                h.created_at,
                h.released_at
            ))
            .await
            .map(drop)
    }

    async fn legal_hold_release(
        &mut self,
        t: &TenantId,
        id: &str,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let n = self
            .conn
            .exec(q!(
                "UPDATE audit_legal_holds SET released_at = $3
                 WHERE tenant_id = $1 AND id = $2 AND released_at IS NULL",
                t,
                id,
                now
            ))
            .await?;
        Ok(n == 1)
    }

    async fn legal_hold_list(
        &mut self,
        t: &TenantId,
        active_only: bool,
    ) -> StoreResult<Vec<LegalHold>> {
        let q = if active_only {
            q!(
                "SELECT * FROM audit_legal_holds WHERE tenant_id = $1 AND released_at IS NULL
                 ORDER BY created_at DESC, id DESC LIMIT 1000",
                t
            )
        } else {
            q!(
                "SELECT * FROM audit_legal_holds WHERE tenant_id = $1
                 ORDER BY created_at DESC, id DESC LIMIT 1000",
                t
            )
        };
        self.conn.fetch(q).await?.iter().map(legal_hold).collect()
    }

    async fn legal_hold_active_orgs(&mut self, t: &TenantId) -> StoreResult<Vec<String>> {
        self.conn
            .fetch(q!(
                "SELECT DISTINCT org_id FROM audit_legal_holds
                 WHERE tenant_id = $1 AND released_at IS NULL",
                t
            ))
            .await?
            .iter()
            .map(|r| r.text("org_id"))
            .collect()
    }
}
