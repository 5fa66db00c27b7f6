//! Users, their passwords and identities, and connections.

use async_trait::async_trait;
use clavis_core::model::{Connection, Identity, Page, User};
use clavis_core::ports::{ConnectionRepo, StoreResult, UserRepo};
use clavis_types::{ConnectionId, ConnectionStrategy, Email, TenantId, Timestamp, UserId};

use super::page_args;
use super::roles::bump_if;
use crate::SqlTx;
use crate::sql::{Row, json, q};

fn user(r: &Row) -> StoreResult<User> {
    Ok(User {
        tenant_id: r.parse("tenant_id", TenantId::parse)?,
        id: r.parse("id", UserId::parse)?,
        email: r.opt_parse("email", Email::parse)?,
        email_verified: r.bool("email_verified")?,
        profile: r.json("profile")?,
        user_metadata: r.json("user_metadata")?,
        app_metadata: r.json("app_metadata")?,
        blocked: r.bool("blocked")?,
        created_at: r.ts("created_at")?,
        updated_at: r.ts("updated_at")?,
        last_login_at: r.opt_ts("last_login_at")?,
        deleted_at: r.opt_ts("deleted_at")?,
    })
}

#[async_trait]
impl UserRepo for SqlTx {
    async fn user_insert(&mut self, u: &User) -> StoreResult<()> {
        self.conn
            .exec(q!(
                "INSERT INTO users (tenant_id, id, email, email_verified, profile, user_metadata, app_metadata,
                                    blocked, created_at, updated_at, last_login_at, deleted_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                &u.tenant_id, &u.id, u.email.as_ref(), u.email_verified, json(&u.profile),
                json(&u.user_metadata), json(&u.app_metadata), u.blocked, u.created_at, u.updated_at,
                u.last_login_at, u.deleted_at
            ))
            .await
            .map(drop)
    }
    async fn user_record_login(
        &mut self,
        t: &TenantId,
        id: &UserId,
        at: Timestamp,
    ) -> StoreResult<bool> {
        let n = self
            .conn
            .exec(q!(
                "UPDATE users SET last_login_at = $3
                 WHERE tenant_id = $1 AND id = $2 AND NOT blocked AND deleted_at IS NULL",
                t,
                id,
                at
            ))
            .await?;
        Ok(n == 1)
    }
    async fn user_get(&mut self, t: &TenantId, id: &UserId) -> StoreResult<Option<User>> {
        self.conn
            .fetch_opt(q!(
                "SELECT * FROM users WHERE tenant_id = $1 AND id = $2",
                t,
                id
            ))
            .await?
            .map(|r| user(&r))
            .transpose()
    }
    async fn user_get_by_email(
        &mut self,
        t: &TenantId,
        email: &Email,
    ) -> StoreResult<Option<User>> {
        self.conn
            .fetch_opt(q!(
                "SELECT * FROM users WHERE tenant_id = $1 AND email = $2 AND deleted_at IS NULL",
                t,
                email
            ))
            .await?
            .map(|r| user(&r))
            .transpose()
    }
    async fn user_list(&mut self, t: &TenantId, page: Page) -> StoreResult<Vec<User>> {
        let (l, o) = page_args(page);
        self.conn
            .fetch(q!(
                "SELECT * FROM users WHERE tenant_id = $1 AND deleted_at IS NULL ORDER BY id LIMIT $2 OFFSET $3",
                t, l, o
            ))
            .await?
            .iter()
            .map(user)
            .collect()
    }
    async fn user_count(&mut self, t: &TenantId) -> StoreResult<i64> {
        let row = self
            .conn
            .fetch_opt(q!(
                "SELECT COUNT(*) AS n FROM users WHERE tenant_id = $1 AND deleted_at IS NULL",
                t
            ))
            .await?;
        row.map_or(Ok(0), |r| r.int("n"))
    }
    async fn user_update(&mut self, u: &User) -> StoreResult<bool> {
        // Blocking or unblocking changes every decision about the user: bump the
        // authorization version when `blocked` is about to change.
        self.conn
            .exec(q!(
                "INSERT INTO authz_versions (tenant_id, version)
                 SELECT tenant_id, 1 FROM users
                 WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL AND blocked <> $3
                 ON CONFLICT (tenant_id) DO UPDATE SET version = authz_versions.version + 1",
                &u.tenant_id,
                &u.id,
                u.blocked
            ))
            .await?;
        let n = self
            .conn
            .exec(q!(
                "UPDATE users SET email = $3, email_verified = $4, profile = $5, user_metadata = $6,
                    app_metadata = $7, blocked = $8, updated_at = $9, last_login_at = $10
                 WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL",
                &u.tenant_id, &u.id, u.email.as_ref(), u.email_verified, json(&u.profile),
                json(&u.user_metadata), json(&u.app_metadata), u.blocked, u.updated_at, u.last_login_at
            ))
            .await?;
        Ok(n == 1)
    }
    async fn user_soft_delete(
        &mut self,
        t: &TenantId,
        id: &UserId,
        at: Timestamp,
    ) -> StoreResult<bool> {
        let n = self
            .conn
            .exec(q!(
                "UPDATE users SET deleted_at = $3, updated_at = $3
                 WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL",
                t,
                id,
                at
            ))
            .await?;
        Ok(bump_if(&mut self.conn, t, n).await? == 1)
    }
    async fn password_set(
        &mut self,
        t: &TenantId,
        u: &UserId,
        hash: &str,
        at: Timestamp,
    ) -> StoreResult<()> {
        self.conn
            .exec(q!(
                "INSERT INTO user_passwords (tenant_id, user_id, hash, updated_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (tenant_id, user_id) DO UPDATE SET hash = excluded.hash, updated_at = excluded.updated_at",
                t, u, hash, at
            ))
            .await
            .map(drop)
    }
    async fn password_get(&mut self, t: &TenantId, u: &UserId) -> StoreResult<Option<String>> {
        self.conn
            .fetch_opt(q!(
                "SELECT hash FROM user_passwords WHERE tenant_id = $1 AND user_id = $2",
                t,
                u
            ))
            .await?
            .map(|r| r.text("hash"))
            .transpose()
    }
    async fn identity_insert(&mut self, i: &Identity) -> StoreResult<()> {
        self.conn
            .exec(q!(
                "INSERT INTO identities (tenant_id, connection_id, subject, user_id, profile_data, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &i.tenant_id, &i.connection_id, &i.subject, &i.user_id, json(&i.profile_data), i.created_at
            ))
            .await
            .map(drop)
    }
    async fn identity_list(&mut self, t: &TenantId, u: &UserId) -> StoreResult<Vec<Identity>> {
        self.conn
            .fetch(q!(
                "SELECT * FROM identities WHERE tenant_id = $1 AND user_id = $2 ORDER BY created_at, connection_id",
                t, u
            ))
            .await?
            .iter()
            .map(|r| {
                Ok(Identity {
                    tenant_id: r.parse("tenant_id", TenantId::parse)?,
                    user_id: r.parse("user_id", UserId::parse)?,
                    connection_id: r.parse("connection_id", ConnectionId::parse)?,
                    subject: r.text("subject")?,
                    profile_data: r.json("profile_data")?,
                    created_at: r.ts("created_at")?,
                })
            })
            .collect()
    }
    async fn identity_delete(
        &mut self,
        t: &TenantId,
        c: &ConnectionId,
        subject: &str,
    ) -> StoreResult<bool> {
        let n = self
            .conn
            .exec(q!(
                "DELETE FROM identities WHERE tenant_id = $1 AND connection_id = $2 AND subject = $3",
                t, c, subject
            ))
            .await?;
        Ok(n == 1)
    }
}

fn connection(r: &Row) -> StoreResult<Connection> {
    Ok(Connection {
        tenant_id: r.parse("tenant_id", TenantId::parse)?,
        id: r.parse("id", ConnectionId::parse)?,
        name: r.text("name")?,
        strategy: r.parse("strategy", ConnectionStrategy::parse)?,
        options: r.json("options")?,
        created_at: r.ts("created_at")?,
        updated_at: r.ts("updated_at")?,
    })
}

#[async_trait]
impl ConnectionRepo for SqlTx {
    async fn connection_insert(&mut self, c: &Connection) -> StoreResult<()> {
        self.conn
            .exec(q!(
                "INSERT INTO connections (tenant_id, id, name, strategy, options, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &c.tenant_id, &c.id, &c.name, c.strategy.as_str(), json(&c.options), c.created_at, c.updated_at
            ))
            .await
            .map(drop)
    }
    async fn connection_get(
        &mut self,
        t: &TenantId,
        id: &ConnectionId,
    ) -> StoreResult<Option<Connection>> {
        self.conn
            .fetch_opt(q!(
                "SELECT * FROM connections WHERE tenant_id = $1 AND id = $2",
                t,
                id
            ))
            .await?
            .map(|r| connection(&r))
            .transpose()
    }
    async fn connection_get_by_name(
        &mut self,
        t: &TenantId,
        name: &str,
    ) -> StoreResult<Option<Connection>> {
        self.conn
            .fetch_opt(q!(
                "SELECT * FROM connections WHERE tenant_id = $1 AND name = $2",
                t,
                name
            ))
            .await?
            .map(|r| connection(&r))
            .transpose()
    }
    async fn connection_list(&mut self, t: &TenantId, page: Page) -> StoreResult<Vec<Connection>> {
        let (l, o) = page_args(page);
        self.conn
            .fetch(q!(
                "SELECT * FROM connections WHERE tenant_id = $1 ORDER BY id LIMIT $2 OFFSET $3",
                t,
                l,
                o
            ))
            .await?
            .iter()
            .map(connection)
            .collect()
    }
    async fn connection_count(&mut self, t: &TenantId) -> StoreResult<i64> {
        let row = self
            .conn
            .fetch_opt(q!(
                "SELECT COUNT(*) AS n FROM connections WHERE tenant_id = $1",
                t
            ))
            .await?;
        row.map_or(Ok(0), |r| r.int("n"))
    }
    async fn connection_identity_count(
        &mut self,
        t: &TenantId,
        id: &ConnectionId,
    ) -> StoreResult<i64> {
        let row = self
            .conn
            .fetch_opt(q!(
                "SELECT COUNT(*) AS n FROM identities WHERE tenant_id = $1 AND connection_id = $2",
                t,
                id
            ))
            .await?;
        row.map_or(Ok(0), |r| r.int("n"))
    }
    async fn connection_update(&mut self, c: &Connection) -> StoreResult<bool> {
        let n = self
            .conn
            .exec(q!(
                "UPDATE connections SET name = $3, options = $4, updated_at = $5 WHERE tenant_id = $1 AND id = $2",
                &c.tenant_id, &c.id, &c.name, json(&c.options), c.updated_at
            ))
            .await?;
        Ok(n == 1)
    }
    async fn connection_delete(&mut self, t: &TenantId, id: &ConnectionId) -> StoreResult<bool> {
        let n = self
            .conn
            .exec(q!(
                "DELETE FROM connections WHERE tenant_id = $1 AND id = $2",
                t,
                id
            ))
            .await?;
        Ok(n == 1)
    }
}
