//! Client grants, sessions, authorization codes, token families, refresh tokens.

use async_trait::async_trait;
use clavis_core::model::{
    AuthorizationCode, ClientGrant, Page, RefreshToken, Session, TokenFamily,
};
use clavis_core::ports::{GrantRepo, SessionRepo, StoreResult, TokenRepo, USER_FAMILIES_REVOKED};
use clavis_types::{
    ApiId, ClientGrantId, ClientId, FamilyId, OrgId, SessionId, TenantId, Timestamp, UserId,
};

use super::page_args;
use crate::SqlTx;
use crate::sql::{Row, json, q};

fn grant(r: &Row) -> StoreResult<ClientGrant> {
    Ok(ClientGrant {
        tenant_id: r.parse("tenant_id", TenantId::parse)?,
        id: r.parse("id", ClientGrantId::parse)?,
        client_id: r.parse("client_id", ClientId::parse)?,
        api_id: r.parse("api_id", ApiId::parse)?,
        scope: r.json("scope")?,
        created_at: r.ts("created_at")?,
        updated_at: r.ts("updated_at")?,
    })
}

#[async_trait]
impl GrantRepo for SqlTx {
    async fn client_grant_upsert(&mut self, g: &ClientGrant) -> StoreResult<()> {
        self.conn
            .exec(q!(
                "INSERT INTO client_grants (tenant_id, id, client_id, api_id, scope, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (tenant_id, client_id, api_id)
                 DO UPDATE SET scope = excluded.scope, updated_at = excluded.updated_at",
                &g.tenant_id, &g.id, &g.client_id, &g.api_id, json(&g.scope), g.created_at, g.updated_at
            ))
            .await
            .map(drop)
    }
    async fn client_grant_get(
        &mut self,
        t: &TenantId,
        client: &ClientId,
        api: &ApiId,
    ) -> StoreResult<Option<ClientGrant>> {
        self.conn
            .fetch_opt(q!(
                "SELECT * FROM client_grants WHERE tenant_id = $1 AND client_id = $2 AND api_id = $3",
                t, client, api
            ))
            .await?
            .map(|r| grant(&r))
            .transpose()
    }
    async fn client_grant_list(
        &mut self,
        t: &TenantId,
        client: &ClientId,
    ) -> StoreResult<Vec<ClientGrant>> {
        self.conn
            .fetch(q!(
                "SELECT * FROM client_grants WHERE tenant_id = $1 AND client_id = $2 ORDER BY id",
                t,
                client
            ))
            .await?
            .iter()
            .map(grant)
            .collect()
    }
    async fn client_grant_delete(&mut self, t: &TenantId, id: &ClientGrantId) -> StoreResult<bool> {
        let n = self
            .conn
            .exec(q!(
                "DELETE FROM client_grants WHERE tenant_id = $1 AND id = $2",
                t,
                id
            ))
            .await?;
        Ok(n == 1)
    }
    async fn client_grant_insert(&mut self, g: &ClientGrant) -> StoreResult<()> {
        self.conn
            .exec(q!(
                "INSERT INTO client_grants (tenant_id, id, client_id, api_id, scope, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &g.tenant_id, &g.id, &g.client_id, &g.api_id, json(&g.scope), g.created_at, g.updated_at
            ))
            .await
            .map(drop)
    }
    async fn client_grant_get_by_id(
        &mut self,
        t: &TenantId,
        id: &ClientGrantId,
    ) -> StoreResult<Option<ClientGrant>> {
        self.conn
            .fetch_opt(q!(
                "SELECT * FROM client_grants WHERE tenant_id = $1 AND id = $2",
                t,
                id
            ))
            .await?
            .map(|r| grant(&r))
            .transpose()
    }
    async fn client_grant_update(&mut self, g: &ClientGrant) -> StoreResult<bool> {
        let n = self
            .conn
            .exec(q!(
                "UPDATE client_grants SET scope = $3, updated_at = $4 WHERE tenant_id = $1 AND id = $2",
                &g.tenant_id,
                &g.id,
                json(&g.scope),
                g.updated_at
            ))
            .await?;
        Ok(n == 1)
    }
    async fn client_grant_search(
        &mut self,
        t: &TenantId,
        client: Option<&ClientId>,
        api: Option<&ApiId>,
        page: Page,
    ) -> StoreResult<Vec<ClientGrant>> {
        let (l, o) = page_args(page);
        self.conn
            .fetch(q!(
                "SELECT * FROM client_grants WHERE tenant_id = $1
                    AND ($2 IS NULL OR client_id = $2) AND ($3 IS NULL OR api_id = $3)
                 ORDER BY id LIMIT $4 OFFSET $5",
                t,
                client,
                api,
                l,
                o
            ))
            .await?
            .iter()
            .map(grant)
            .collect()
    }
    async fn client_grant_count(
        &mut self,
        t: &TenantId,
        client: Option<&ClientId>,
        api: Option<&ApiId>,
    ) -> StoreResult<i64> {
        match self
            .conn
            .fetch_opt(q!(
                "SELECT COUNT(*) AS n FROM client_grants WHERE tenant_id = $1
                    AND ($2 IS NULL OR client_id = $2) AND ($3 IS NULL OR api_id = $3)",
                t,
                client,
                api
            ))
            .await?
        {
            Some(r) => r.int("n"),
            None => Ok(0),
        }
    }
}

fn session(r: &Row) -> StoreResult<Session> {
    Ok(Session {
        tenant_id: r.parse("tenant_id", TenantId::parse)?,
        id: r.parse("id", SessionId::parse)?,
        secret_digest: r.bytes("secret_digest")?,
        user_id: r.parse("user_id", UserId::parse)?,
        auth_time: r.ts("auth_time")?,
        amr: r.json("amr")?,
        created_at: r.ts("created_at")?,
        last_seen_at: r.ts("last_seen_at")?,
        idle_expires_at: r.ts("idle_expires_at")?,
        absolute_expires_at: r.ts("absolute_expires_at")?,
        ip_address: r.opt_text("ip_address")?,
        user_agent: r.opt_text("user_agent")?,
        revoked_at: r.opt_ts("revoked_at")?,
    })
}

#[async_trait]
impl SessionRepo for SqlTx {
    async fn session_insert(&mut self, s: &Session) -> StoreResult<()> {
        self.conn
            .exec(q!(
                "INSERT INTO sessions (tenant_id, id, secret_digest, user_id, auth_time, amr, created_at,
                    last_seen_at, idle_expires_at, absolute_expires_at, ip_address, user_agent, revoked_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                &s.tenant_id, &s.id, &s.secret_digest, &s.user_id, s.auth_time, json(&s.amr), s.created_at,
                s.last_seen_at, s.idle_expires_at, s.absolute_expires_at, s.ip_address.as_ref(),
                s.user_agent.as_ref(), s.revoked_at
            ))
            .await
            .map(drop)
    }
    async fn session_get(&mut self, t: &TenantId, id: &SessionId) -> StoreResult<Option<Session>> {
        self.conn
            .fetch_opt(q!(
                "SELECT * FROM sessions WHERE tenant_id = $1 AND id = $2",
                t,
                id
            ))
            .await?
            .map(|r| session(&r))
            .transpose()
    }
    async fn session_touch(
        &mut self,
        t: &TenantId,
        id: &SessionId,
        seen: Timestamp,
        idle: Timestamp,
    ) -> StoreResult<bool> {
        let n = self
            .conn
            .exec(q!(
                "UPDATE sessions SET last_seen_at = $3,
                    idle_expires_at = CASE WHEN $4 < absolute_expires_at THEN $4 ELSE absolute_expires_at END
                 WHERE tenant_id = $1 AND id = $2 AND revoked_at IS NULL",
                t, id, seen, idle
            ))
            .await?;
        Ok(n == 1)
    }
    async fn session_revoke(
        &mut self,
        t: &TenantId,
        id: &SessionId,
        at: Timestamp,
    ) -> StoreResult<bool> {
        let n = self
            .conn
            .exec(q!(
                "UPDATE sessions SET revoked_at = $3 WHERE tenant_id = $1 AND id = $2 AND revoked_at IS NULL",
                t, id, at
            ))
            .await?;
        Ok(n == 1)
    }
}

fn code(r: &Row) -> StoreResult<AuthorizationCode> {
    Ok(AuthorizationCode {
        tenant_id: r.parse("tenant_id", TenantId::parse)?,
        code_digest: r.bytes("code_digest")?,
        client_id: r.parse("client_id", ClientId::parse)?,
        user_id: r.parse("user_id", UserId::parse)?,
        session_id: r.parse("session_id", SessionId::parse)?,
        org_id: r.opt_parse("org_id", OrgId::parse)?,
        redirect_uri: r.text("redirect_uri")?,
        scope: r.text("scope")?,
        audience: r.opt_text("audience")?,
        nonce: r.opt_text("nonce")?,
        code_challenge: r.opt_text("code_challenge")?,
        auth_time: r.ts("auth_time")?,
        amr: r.json("amr")?,
        family_id: r.parse("family_id", FamilyId::parse)?,
        created_at: r.ts("created_at")?,
        expires_at: r.ts("expires_at")?,
        consumed_at: r.opt_ts("consumed_at")?,
    })
}

fn family(r: &Row) -> StoreResult<TokenFamily> {
    Ok(TokenFamily {
        tenant_id: r.parse("tenant_id", TenantId::parse)?,
        id: r.parse("id", FamilyId::parse)?,
        client_id: r.parse("client_id", ClientId::parse)?,
        user_id: r.parse("user_id", UserId::parse)?,
        org_id: r.opt_parse("org_id", OrgId::parse)?,
        session_id: r.opt_parse("session_id", SessionId::parse)?,
        scope: r.text("scope")?,
        audience: r.opt_text("audience")?,
        auth_time: r.ts("auth_time")?,
        amr: r.json("amr")?,
        created_at: r.ts("created_at")?,
        absolute_expires_at: r.ts("absolute_expires_at")?,
        revoked_at: r.opt_ts("revoked_at")?,
        revoked_reason: r.opt_text("revoked_reason")?,
    })
}

#[async_trait]
impl TokenRepo for SqlTx {
    async fn code_insert(&mut self, c: &AuthorizationCode) -> StoreResult<()> {
        self.conn
            .exec(q!(
                "INSERT INTO authorization_codes (tenant_id, code_digest, client_id, user_id, session_id, org_id,
                    redirect_uri, scope, audience, nonce, code_challenge, auth_time, amr, family_id,
                    created_at, expires_at, consumed_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
                &c.tenant_id, &c.code_digest, &c.client_id, &c.user_id, &c.session_id, c.org_id.as_ref(),
                &c.redirect_uri, &c.scope, c.audience.as_ref(), c.nonce.as_ref(), c.code_challenge.as_ref(),
                c.auth_time, json(&c.amr), &c.family_id, c.created_at, c.expires_at, c.consumed_at
            ))
            .await
            .map(drop)
    }
    async fn code_consume(
        &mut self,
        t: &TenantId,
        digest: &[u8],
        at: Timestamp,
    ) -> StoreResult<Option<(AuthorizationCode, bool)>> {
        let n = self
            .conn
            .exec(q!(
                "UPDATE authorization_codes SET consumed_at = $3
                 WHERE tenant_id = $1 AND code_digest = $2 AND consumed_at IS NULL",
                t,
                digest,
                at
            ))
            .await?;
        let row = self
            .conn
            .fetch_opt(q!(
                "SELECT * FROM authorization_codes WHERE tenant_id = $1 AND code_digest = $2",
                t,
                digest
            ))
            .await?;
        row.map(|r| code(&r).map(|c| (c, n == 1))).transpose()
    }
    async fn family_insert(&mut self, f: &TokenFamily) -> StoreResult<()> {
        self.conn
            .exec(q!(
                "INSERT INTO token_families (tenant_id, id, client_id, user_id, org_id, session_id, scope, audience,
                    auth_time, amr, created_at, absolute_expires_at, revoked_at, revoked_reason)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
                &f.tenant_id, &f.id, &f.client_id, &f.user_id, f.org_id.as_ref(), f.session_id.as_ref(),
                &f.scope, f.audience.as_ref(), f.auth_time, json(&f.amr), f.created_at,
                f.absolute_expires_at, f.revoked_at, f.revoked_reason.as_ref()
            ))
            .await
            .map(drop)
    }
    async fn family_get(
        &mut self,
        t: &TenantId,
        id: &FamilyId,
    ) -> StoreResult<Option<TokenFamily>> {
        self.conn
            .fetch_opt(q!(
                "SELECT * FROM token_families WHERE tenant_id = $1 AND id = $2",
                t,
                id
            ))
            .await?
            .map(|r| family(&r))
            .transpose()
    }
    async fn family_revoke(
        &mut self,
        t: &TenantId,
        id: &FamilyId,
        at: Timestamp,
        reason: &str,
    ) -> StoreResult<bool> {
        let n = self
            .conn
            .exec(q!(
                "UPDATE token_families SET revoked_at = $3, revoked_reason = $4
                 WHERE tenant_id = $1 AND id = $2 AND revoked_at IS NULL",
                t,
                id,
                at,
                reason
            ))
            .await?;
        Ok(n == 1)
    }
    async fn family_revoke_all_for_user(
        &mut self,
        t: &TenantId,
        user: &UserId,
        at: Timestamp,
    ) -> StoreResult<u64> {
        self.conn
            .exec(q!(
                "UPDATE token_families SET revoked_at = $3, revoked_reason = $4
                 WHERE tenant_id = $1 AND user_id = $2 AND revoked_at IS NULL",
                t,
                user,
                at,
                USER_FAMILIES_REVOKED
            ))
            .await
    }
    async fn refresh_insert(&mut self, r: &RefreshToken) -> StoreResult<()> {
        self.conn
            .exec(q!(
                "INSERT INTO refresh_tokens (tenant_id, token_digest, family_id, created_at, idle_expires_at, used_at)
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &r.tenant_id, &r.token_digest, &r.family_id, r.created_at, r.idle_expires_at, r.used_at
            ))
            .await
            .map(drop)
    }
    async fn refresh_get(
        &mut self,
        t: &TenantId,
        digest: &[u8],
    ) -> StoreResult<Option<RefreshToken>> {
        self.conn
            .fetch_opt(q!(
                "SELECT * FROM refresh_tokens WHERE tenant_id = $1 AND token_digest = $2",
                t,
                digest
            ))
            .await?
            .map(|r| {
                Ok(RefreshToken {
                    tenant_id: r.parse("tenant_id", TenantId::parse)?,
                    token_digest: r.bytes("token_digest")?,
                    family_id: r.parse("family_id", FamilyId::parse)?,
                    created_at: r.ts("created_at")?,
                    idle_expires_at: r.ts("idle_expires_at")?,
                    used_at: r.opt_ts("used_at")?,
                })
            })
            .transpose()
    }
    async fn refresh_mark_used(
        &mut self,
        t: &TenantId,
        digest: &[u8],
        at: Timestamp,
    ) -> StoreResult<bool> {
        let n = self
            .conn
            .exec(q!(
                "UPDATE refresh_tokens SET used_at = $3 WHERE tenant_id = $1 AND token_digest = $2 AND used_at IS NULL",
                t, digest, at
            ))
            .await?;
        Ok(n == 1)
    }
    async fn access_token_record(
        &mut self,
        t: &TenantId,
        jti: &str,
        fam: &FamilyId,
        exp: Timestamp,
    ) -> StoreResult<()> {
        self.conn
            .exec(q!(
                "INSERT INTO issued_access_tokens (tenant_id, jti, family_id, expires_at) VALUES ($1, $2, $3, $4)",
                t, jti, fam, exp
            ))
            .await
            .map(drop)
    }
    async fn access_token_family(
        &mut self,
        t: &TenantId,
        jti: &str,
    ) -> StoreResult<Option<FamilyId>> {
        self.conn
            .fetch_opt(q!(
                "SELECT family_id FROM issued_access_tokens WHERE tenant_id = $1 AND jti = $2",
                t,
                jti
            ))
            .await?
            .map(|r| r.parse("family_id", FamilyId::parse))
            .transpose()
    }
    async fn assertion_jti_use(
        &mut self,
        t: &TenantId,
        client: &ClientId,
        jti: &str,
        exp: Timestamp,
        now: Timestamp,
    ) -> StoreResult<bool> {
        self.conn
            .exec(q!(
                "DELETE FROM client_assertions WHERE tenant_id = $1 AND client_id = $2 AND expires_at <= $3",
                t, client, now
            ))
            .await?;
        let n = self
            .conn
            .exec(q!(
                "INSERT INTO client_assertions (tenant_id, client_id, jti, expires_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT DO NOTHING",
                t, client, jti, exp
            ))
            .await?;
        Ok(n == 1)
    }
}
