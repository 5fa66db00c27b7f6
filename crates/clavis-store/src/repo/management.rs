//! Connections enabled per organization, organization invitations and API keys.

use async_trait::async_trait;
use clavis_core::model::{ApiKey, Invitation, OrgConnection, Page};
use clavis_core::ports::{ApiKeyRepo, InvitationRepo, OrgConnectionRepo, StoreResult};
use clavis_types::{
    ApiKeyId, ClientId, ConnectionId, Email, InvitationId, OrgId, RoleId, TenantId, Timestamp,
};

use super::page_args;
use crate::SqlTx;
use crate::sql::{Row, json, q};

fn count(row: Option<Row>) -> StoreResult<i64> {
    row.map_or(Ok(0), |r| r.int("n"))
}

fn org_connection(r: &Row) -> StoreResult<OrgConnection> {
    Ok(OrgConnection {
        tenant_id: r.parse("tenant_id", TenantId::parse)?,
        org_id: r.parse("org_id", OrgId::parse)?,
        connection_id: r.parse("connection_id", ConnectionId::parse)?,
        assign_membership_on_login: r.bool("assign_membership_on_login")?,
        show_as_button: r.bool("show_as_button")?,
        created_at: r.ts("created_at")?,
    })
}

#[async_trait]
impl OrgConnectionRepo for SqlTx {
    async fn org_connection_upsert(&mut self, c: &OrgConnection) -> StoreResult<()> {
        self.conn
            .exec(q!(
                "INSERT INTO org_connections (tenant_id, org_id, connection_id,
                    assign_membership_on_login, show_as_button, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (tenant_id, org_id, connection_id) DO UPDATE SET
                    assign_membership_on_login = excluded.assign_membership_on_login,
                    show_as_button = excluded.show_as_button",
                &c.tenant_id,
                &c.org_id,
                &c.connection_id,
                c.assign_membership_on_login,
                c.show_as_button,
                c.created_at
            ))
            .await
            .map(drop)
    }

    async fn org_connection_insert(&mut self, c: &OrgConnection) -> StoreResult<bool> {
        let n = self
            .conn
            .exec(q!(
                "INSERT INTO org_connections (tenant_id, org_id, connection_id,
                    assign_membership_on_login, show_as_button, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (tenant_id, org_id, connection_id) DO NOTHING",
                &c.tenant_id,
                &c.org_id,
                &c.connection_id,
                c.assign_membership_on_login,
                c.show_as_button,
                c.created_at
            ))
            .await?;
        Ok(n == 1)
    }

    async fn org_connection_get(
        &mut self,
        t: &TenantId,
        org: &OrgId,
        connection: &ConnectionId,
    ) -> StoreResult<Option<OrgConnection>> {
        self.conn
            .fetch_opt(q!(
                "SELECT * FROM org_connections
                 WHERE tenant_id = $1 AND org_id = $2 AND connection_id = $3",
                t,
                org,
                connection
            ))
            .await?
            .map(|r| org_connection(&r))
            .transpose()
    }

    async fn org_connection_list(
        &mut self,
        t: &TenantId,
        org: &OrgId,
        page: Page,
    ) -> StoreResult<Vec<OrgConnection>> {
        let (limit, offset) = page_args(page);
        self.conn
            .fetch(q!(
                "SELECT * FROM org_connections WHERE tenant_id = $1 AND org_id = $2
                 ORDER BY connection_id LIMIT $3 OFFSET $4",
                t,
                org,
                limit,
                offset
            ))
            .await?
            .iter()
            .map(org_connection)
            .collect()
    }

    async fn org_connection_count(&mut self, t: &TenantId, org: &OrgId) -> StoreResult<i64> {
        let row = self
            .conn
            .fetch_opt(q!(
                "SELECT COUNT(*) AS n FROM org_connections WHERE tenant_id = $1 AND org_id = $2",
                t,
                org
            ))
            .await?;
        count(row)
    }

    async fn org_connection_delete(
        &mut self,
        t: &TenantId,
        org: &OrgId,
        connection: &ConnectionId,
    ) -> StoreResult<bool> {
        let n = self
            .conn
            .exec(q!(
                "DELETE FROM org_connections
                 WHERE tenant_id = $1 AND org_id = $2 AND connection_id = $3",
                t,
                org,
                connection
            ))
            .await?;
        Ok(n == 1)
    }
}

fn invitation(r: &Row) -> StoreResult<Invitation> {
    Ok(Invitation {
        tenant_id: r.parse("tenant_id", TenantId::parse)?,
        id: r.parse("id", InvitationId::parse)?,
        org_id: r.parse("org_id", OrgId::parse)?,
        invitee_email: r.parse("invitee_email", Email::parse)?,
        inviter_name: r.text("inviter_name")?,
        client_id: r.parse("client_id", ClientId::parse)?,
        connection_id: r.opt_parse("connection_id", ConnectionId::parse)?,
        roles: r
            .json::<Vec<String>>("roles")?
            .iter()
            .map(|s| RoleId::parse(s))
            .collect::<Result<_, _>>()
            .map_err(|e| clavis_core::StoreError::Corrupt(format!("org_invitations.roles: {e}")))?,
        app_metadata: r.json("app_metadata")?,
        user_metadata: r.json("user_metadata")?,
        ticket_digest: r.bytes("ticket_digest")?,
        created_at: r.ts("created_at")?,
        expires_at: r.ts("expires_at")?,
    })
}

#[async_trait]
impl InvitationRepo for SqlTx {
    async fn invitation_insert(&mut self, i: &Invitation) -> StoreResult<()> {
        let roles: Vec<&str> = i.roles.iter().map(RoleId::as_str).collect();
        self.conn
            .exec(q!(
                "INSERT INTO org_invitations (tenant_id, id, org_id, invitee_email, inviter_name,
                    client_id, connection_id, roles, app_metadata, user_metadata, ticket_digest,
                    created_at, expires_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                &i.tenant_id,
                &i.id,
                &i.org_id,
                &i.invitee_email,
                &i.inviter_name,
                &i.client_id,
                i.connection_id.as_ref(),
                json(&roles),
                json(&i.app_metadata),
                json(&i.user_metadata),
                &i.ticket_digest,
                i.created_at,
                i.expires_at
            ))
            .await
            .map(drop)
    }

    async fn invitation_get(
        &mut self,
        t: &TenantId,
        org: &OrgId,
        id: &InvitationId,
    ) -> StoreResult<Option<Invitation>> {
        self.conn
            .fetch_opt(q!(
                "SELECT * FROM org_invitations WHERE tenant_id = $1 AND org_id = $2 AND id = $3",
                t,
                org,
                id
            ))
            .await?
            .map(|r| invitation(&r))
            .transpose()
    }

    async fn invitation_by_ticket(
        &mut self,
        t: &TenantId,
        digest: &[u8],
    ) -> StoreResult<Option<Invitation>> {
        self.conn
            .fetch_opt(q!(
                "SELECT * FROM org_invitations WHERE tenant_id = $1 AND ticket_digest = $2",
                t,
                digest
            ))
            .await?
            .map(|r| invitation(&r))
            .transpose()
    }

    async fn invitation_list(
        &mut self,
        t: &TenantId,
        org: &OrgId,
        page: Page,
    ) -> StoreResult<Vec<Invitation>> {
        let (limit, offset) = page_args(page);
        self.conn
            .fetch(q!(
                "SELECT * FROM org_invitations WHERE tenant_id = $1 AND org_id = $2
                 ORDER BY created_at DESC, id DESC LIMIT $3 OFFSET $4",
                t,
                org,
                limit,
                offset
            ))
            .await?
            .iter()
            .map(invitation)
            .collect()
    }

    async fn invitation_count(&mut self, t: &TenantId, org: &OrgId) -> StoreResult<i64> {
        let row = self
            .conn
            .fetch_opt(q!(
                "SELECT COUNT(*) AS n FROM org_invitations WHERE tenant_id = $1 AND org_id = $2",
                t,
                org
            ))
            .await?;
        count(row)
    }

    async fn invitation_delete(
        &mut self,
        t: &TenantId,
        org: &OrgId,
        id: &InvitationId,
    ) -> StoreResult<bool> {
        let n = self
            .conn
            .exec(q!(
                "DELETE FROM org_invitations WHERE tenant_id = $1 AND org_id = $2 AND id = $3",
                t,
                org,
                id
            ))
            .await?;
        Ok(n == 1)
    }
}

fn api_key(r: &Row) -> StoreResult<ApiKey> {
    Ok(ApiKey {
        tenant_id: r.parse("tenant_id", TenantId::parse)?,
        id: r.parse("id", ApiKeyId::parse)?,
        org_id: r.opt_parse("org_id", OrgId::parse)?,
        name: r.text("name")?,
        hint: r.text("hint")?,
        digest: r.bytes("digest")?,
        scopes: r
            .text("scopes")?
            .split_whitespace()
            .map(str::to_owned)
            .collect(),
        created_by: r.opt_text("created_by")?,
        created_at: r.ts("created_at")?,
        expires_at: r.opt_ts("expires_at")?,
        last_used_at: r.opt_ts("last_used_at")?,
        revoked_at: r.opt_ts("revoked_at")?,
    })
}

#[async_trait]
impl ApiKeyRepo for SqlTx {
    async fn api_key_insert(&mut self, k: &ApiKey) -> StoreResult<()> {
        self.conn
            .exec(q!(
                "INSERT INTO api_keys (tenant_id, id, org_id, name, hint, digest, scopes, created_by,
                    created_at, expires_at, last_used_at, revoked_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                &k.tenant_id,
                &k.id,
                k.org_id.as_ref(),
                &k.name,
                &k.hint,
                &k.digest,
                k.scopes.join(" "),
                k.created_by.as_ref(),
                k.created_at,
                k.expires_at,
                k.last_used_at,
                k.revoked_at
            ))
            .await
            .map(drop)
    }

    async fn api_key_get(&mut self, t: &TenantId, id: &ApiKeyId) -> StoreResult<Option<ApiKey>> {
        self.conn
            .fetch_opt(q!(
                "SELECT * FROM api_keys WHERE tenant_id = $1 AND id = $2",
                t,
                id
            ))
            .await?
            .map(|r| api_key(&r))
            .transpose()
    }

    async fn api_key_by_digest(
        &mut self,
        t: &TenantId,
        digest: &[u8],
    ) -> StoreResult<Option<ApiKey>> {
        self.conn
            .fetch_opt(q!(
                "SELECT * FROM api_keys WHERE tenant_id = $1 AND digest = $2",
                t,
                digest
            ))
            .await?
            .map(|r| api_key(&r))
            .transpose()
    }

    async fn api_key_list(
        &mut self,
        t: &TenantId,
        org: Option<&OrgId>,
        include_revoked: bool,
        page: Page,
    ) -> StoreResult<Vec<ApiKey>> {
        let (limit, offset) = page_args(page);
        let revoked = i64::from(include_revoked);
        let rows = match org {
            Some(org) => {
                self.conn
                    .fetch(q!(
                        "SELECT * FROM api_keys WHERE tenant_id = $1 AND org_id = $2
                           AND (revoked_at IS NULL OR $3 = 1)
                         ORDER BY created_at DESC, id DESC LIMIT $4 OFFSET $5",
                        t,
                        org,
                        revoked,
                        limit,
                        offset
                    ))
                    .await?
            }
            None => {
                self.conn
                    .fetch(q!(
                        "SELECT * FROM api_keys WHERE tenant_id = $1
                           AND (revoked_at IS NULL OR $2 = 1)
                         ORDER BY created_at DESC, id DESC LIMIT $3 OFFSET $4",
                        t,
                        revoked,
                        limit,
                        offset
                    ))
                    .await?
            }
        };
        rows.iter().map(api_key).collect()
    }

    async fn api_key_count(
        &mut self,
        t: &TenantId,
        org: Option<&OrgId>,
        include_revoked: bool,
    ) -> StoreResult<i64> {
        let revoked = i64::from(include_revoked);
        let row = match org {
            Some(org) => {
                self.conn
                    .fetch_opt(q!(
                        "SELECT COUNT(*) AS n FROM api_keys WHERE tenant_id = $1 AND org_id = $2
                           AND (revoked_at IS NULL OR $3 = 1)",
                        t,
                        org,
                        revoked
                    ))
                    .await?
            }
            None => {
                self.conn
                    .fetch_opt(q!(
                        "SELECT COUNT(*) AS n FROM api_keys WHERE tenant_id = $1
                           AND (revoked_at IS NULL OR $2 = 1)",
                        t,
                        revoked
                    ))
                    .await?
            }
        };
        count(row)
    }

    async fn api_key_update(&mut self, k: &ApiKey) -> StoreResult<bool> {
        let n = self
            .conn
            .exec(q!(
                "UPDATE api_keys SET name = $3, hint = $4, digest = $5, scopes = $6, expires_at = $7
                 WHERE tenant_id = $1 AND id = $2 AND revoked_at IS NULL",
                &k.tenant_id,
                &k.id,
                &k.name,
                &k.hint,
                &k.digest,
                k.scopes.join(" "),
                k.expires_at
            ))
            .await?;
        Ok(n == 1)
    }

    async fn api_key_touch(
        &mut self,
        t: &TenantId,
        id: &ApiKeyId,
        at: Timestamp,
    ) -> StoreResult<()> {
        self.conn
            .exec(q!(
                "UPDATE api_keys SET last_used_at = $3 WHERE tenant_id = $1 AND id = $2",
                t,
                id,
                at
            ))
            .await
            .map(drop)
    }

    async fn api_key_revoke(
        &mut self,
        t: &TenantId,
        id: &ApiKeyId,
        at: Timestamp,
    ) -> StoreResult<bool> {
        let n = self
            .conn
            .exec(q!(
                "UPDATE api_keys SET revoked_at = $3
                 WHERE tenant_id = $1 AND id = $2 AND revoked_at IS NULL",
                t,
                id,
                at
            ))
            .await?;
        Ok(n == 1)
    }
}
