//! Applications (OAuth clients) and Apis with their permissions.

use async_trait::async_trait;
use clavis_core::model::{Api, Application, Page, Permission};
use clavis_core::ports::{ApiRepo, AppRepo, StoreResult};
use clavis_types::{ApiId, AppType, ClientId, OrganizationUsage, SigningAlg, TenantId};

use super::page_args;
use super::roles::{bump_authz_version, bump_if};
use crate::SqlTx;
use crate::sql::{Conn, Row, json, opt_json, q};

fn app(r: &Row) -> StoreResult<Application> {
    Ok(Application {
        tenant_id: r.parse("tenant_id", TenantId::parse)?,
        client_id: r.parse("client_id", ClientId::parse)?,
        name: r.text("name")?,
        app_type: r.parse("app_type", AppType::parse)?,
        client_secret_digest: r.opt_bytes("client_secret_digest")?,
        token_endpoint_auth_method: r.text("token_endpoint_auth_method")?,
        callbacks: r.json("callbacks")?,
        logout_urls: r.json("logout_urls")?,
        web_origins: r.json("web_origins")?,
        grant_types: r.json("grant_types")?,
        id_token_lifetime: r.int("id_token_lifetime")?,
        refresh: r.json("refresh_policy")?,
        organization_usage: r.parse("organization_usage", OrganizationUsage::parse)?,
        pkce_required: r.bool("pkce_required")?,
        is_first_party: r.bool("is_first_party")?,
        client_jwks: r
            .opt_text("client_jwks")?
            .map(|s| serde_json::from_str(&s))
            .transpose()
            .map_err(|e| clavis_core::StoreError::Corrupt(format!("column `client_jwks`: {e}")))?,
        created_at: r.ts("created_at")?,
        updated_at: r.ts("updated_at")?,
    })
}

#[async_trait]
impl AppRepo for SqlTx {
    async fn app_insert(&mut self, a: &Application) -> StoreResult<()> {
        self.conn
            .exec(q!(
                "INSERT INTO applications (tenant_id, client_id, name, app_type, client_secret_digest,
                    token_endpoint_auth_method, callbacks, logout_urls, web_origins, grant_types,
                    id_token_lifetime, refresh_policy, organization_usage, created_at, updated_at,
                    pkce_required, client_jwks, is_first_party)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)",
                &a.tenant_id, &a.client_id, &a.name, a.app_type.as_str(), a.client_secret_digest.as_ref(),
                &a.token_endpoint_auth_method, json(&a.callbacks), json(&a.logout_urls),
                json(&a.web_origins), json(&a.grant_types), a.id_token_lifetime, json(&a.refresh),
                a.organization_usage.as_str(), a.created_at, a.updated_at, a.pkce_required,
                opt_json(a.client_jwks.as_ref()), a.is_first_party
            ))
            .await
            .map(drop)
    }
    async fn app_get(&mut self, t: &TenantId, id: &ClientId) -> StoreResult<Option<Application>> {
        self.conn
            .fetch_opt(q!(
                "SELECT * FROM applications WHERE tenant_id = $1 AND client_id = $2",
                t,
                id
            ))
            .await?
            .map(|r| app(&r))
            .transpose()
    }
    async fn app_list(&mut self, t: &TenantId, page: Page) -> StoreResult<Vec<Application>> {
        let (l, o) = page_args(page);
        self.conn
            .fetch(q!(
                "SELECT * FROM applications WHERE tenant_id = $1 ORDER BY created_at, client_id LIMIT $2 OFFSET $3",
                t, l, o
            ))
            .await?
            .iter()
            .map(app)
            .collect()
    }
    async fn app_count(&mut self, t: &TenantId) -> StoreResult<i64> {
        match self
            .conn
            .fetch_opt(q!(
                "SELECT COUNT(*) AS n FROM applications WHERE tenant_id = $1",
                t
            ))
            .await?
        {
            Some(r) => r.int("n"),
            None => Ok(0),
        }
    }
    async fn app_update(&mut self, a: &Application) -> StoreResult<bool> {
        let n = self
            .conn
            .exec(q!(
                "UPDATE applications SET name = $3, app_type = $4, client_secret_digest = $5,
                    token_endpoint_auth_method = $6, callbacks = $7, logout_urls = $8, web_origins = $9,
                    grant_types = $10, id_token_lifetime = $11, refresh_policy = $12,
                    organization_usage = $13, updated_at = $14, pkce_required = $15, client_jwks = $16,
                    is_first_party = $17
                 WHERE tenant_id = $1 AND client_id = $2",
                &a.tenant_id, &a.client_id, &a.name, a.app_type.as_str(), a.client_secret_digest.as_ref(),
                &a.token_endpoint_auth_method, json(&a.callbacks), json(&a.logout_urls),
                json(&a.web_origins), json(&a.grant_types), a.id_token_lifetime, json(&a.refresh),
                a.organization_usage.as_str(), a.updated_at, a.pkce_required,
                opt_json(a.client_jwks.as_ref()), a.is_first_party
            ))
            .await?;
        Ok(n == 1)
    }
    async fn app_delete(&mut self, t: &TenantId, id: &ClientId) -> StoreResult<bool> {
        let n = self
            .conn
            .exec(q!(
                "DELETE FROM applications WHERE tenant_id = $1 AND client_id = $2",
                t,
                id
            ))
            .await?;
        Ok(n == 1)
    }
}

async fn api_with_permissions(conn: &mut Conn, r: &Row) -> StoreResult<Api> {
    let tenant_id = r.parse("tenant_id", TenantId::parse)?;
    let id = r.parse("id", ApiId::parse)?;
    let permissions = conn
        .fetch(q!(
            "SELECT value, description FROM api_permissions WHERE tenant_id = $1 AND api_id = $2 ORDER BY value",
            &tenant_id, &id
        ))
        .await?
        .iter()
        .map(|p| {
            Ok(Permission {
                value: p.text("value")?,
                description: p.text("description")?,
            })
        })
        .collect::<StoreResult<Vec<_>>>()?;
    Ok(Api {
        tenant_id,
        id,
        identifier: r.text("identifier")?,
        name: r.text("name")?,
        signing_alg: r.parse("signing_alg", SigningAlg::parse)?,
        token_lifetime: r.int("token_lifetime")?,
        rbac_enabled: r.bool("rbac_enabled")?,
        permissions_in_token: r.bool("permissions_in_token")?,
        allow_offline_access: r.bool("allow_offline_access")?,
        skip_consent: r.bool("skip_consent")?,
        permissions,
        created_at: r.ts("created_at")?,
        updated_at: r.ts("updated_at")?,
    })
}

impl SqlTx {
    async fn apis_from(&mut self, rows: Vec<Row>) -> StoreResult<Vec<Api>> {
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            out.push(api_with_permissions(&mut self.conn, r).await?);
        }
        Ok(out)
    }
}

#[async_trait]
impl ApiRepo for SqlTx {
    async fn api_insert(&mut self, a: &Api) -> StoreResult<()> {
        self.conn
            .exec(q!(
                "INSERT INTO apis (tenant_id, id, identifier, name, signing_alg, token_lifetime, rbac_enabled,
                    permissions_in_token, allow_offline_access, skip_consent, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                &a.tenant_id, &a.id, &a.identifier, &a.name, a.signing_alg.as_str(), a.token_lifetime,
                a.rbac_enabled, a.permissions_in_token, a.allow_offline_access, a.skip_consent,
                a.created_at, a.updated_at
            ))
            .await?;
        self.api_permissions_set(&a.tenant_id, &a.id, &a.permissions)
            .await
    }
    async fn api_get(&mut self, t: &TenantId, id: &ApiId) -> StoreResult<Option<Api>> {
        let rows = self
            .conn
            .fetch(q!(
                "SELECT * FROM apis WHERE tenant_id = $1 AND id = $2",
                t,
                id
            ))
            .await?;
        Ok(self.apis_from(rows).await?.pop())
    }
    async fn api_get_by_identifier(
        &mut self,
        t: &TenantId,
        identifier: &str,
    ) -> StoreResult<Option<Api>> {
        let rows = self
            .conn
            .fetch(q!(
                "SELECT * FROM apis WHERE tenant_id = $1 AND identifier = $2",
                t,
                identifier
            ))
            .await?;
        Ok(self.apis_from(rows).await?.pop())
    }
    async fn api_list(&mut self, t: &TenantId, page: Page) -> StoreResult<Vec<Api>> {
        let (l, o) = page_args(page);
        let rows = self
            .conn
            .fetch(q!(
                "SELECT * FROM apis WHERE tenant_id = $1 ORDER BY id LIMIT $2 OFFSET $3",
                t,
                l,
                o
            ))
            .await?;
        self.apis_from(rows).await
    }
    async fn api_update(&mut self, a: &Api) -> StoreResult<bool> {
        let n = self
            .conn
            .exec(q!(
                "UPDATE apis SET identifier = $3, name = $4, signing_alg = $5, token_lifetime = $6,
                    rbac_enabled = $7, permissions_in_token = $8, allow_offline_access = $9,
                    skip_consent = $10, updated_at = $11
                 WHERE tenant_id = $1 AND id = $2",
                &a.tenant_id,
                &a.id,
                &a.identifier,
                &a.name,
                a.signing_alg.as_str(),
                a.token_lifetime,
                a.rbac_enabled,
                a.permissions_in_token,
                a.allow_offline_access,
                a.skip_consent,
                a.updated_at
            ))
            .await?;
        Ok(n == 1)
    }
    async fn api_delete(&mut self, t: &TenantId, id: &ApiId) -> StoreResult<bool> {
        let n = self
            .conn
            .exec(q!(
                "DELETE FROM apis WHERE tenant_id = $1 AND id = $2",
                t,
                id
            ))
            .await?;
        Ok(bump_if(&mut self.conn, t, n).await? == 1)
    }
    async fn api_count(&mut self, t: &TenantId) -> StoreResult<i64> {
        match self
            .conn
            .fetch_opt(q!("SELECT COUNT(*) AS n FROM apis WHERE tenant_id = $1", t))
            .await?
        {
            Some(r) => r.int("n"),
            None => Ok(0),
        }
    }
    async fn api_permissions_set(
        &mut self,
        t: &TenantId,
        api: &ApiId,
        perms: &[Permission],
    ) -> StoreResult<()> {
        // Keep rows that stay (so roles holding them keep them); removed permissions
        // cascade out of every role.
        let existing = self
            .conn
            .fetch(q!(
                "SELECT value FROM api_permissions WHERE tenant_id = $1 AND api_id = $2",
                t,
                api
            ))
            .await?;
        let mut removed = 0;
        for row in &existing {
            let value = row.text("value")?;
            if !perms.iter().any(|p| p.value == value) {
                removed += self.conn
                    .exec(q!(
                        "DELETE FROM api_permissions WHERE tenant_id = $1 AND api_id = $2 AND value = $3",
                        t, api, &value
                    ))
                    .await?;
            }
        }
        if removed > 0 {
            // Removed permissions cascade out of roles: what users hold has changed.
            bump_authz_version(&mut self.conn, t).await?;
        }
        for p in perms {
            self.conn
                .exec(q!(
                    "INSERT INTO api_permissions (tenant_id, api_id, value, description)
                     SELECT tenant_id, id, $3, $4 FROM apis WHERE tenant_id = $1 AND id = $2
                     ON CONFLICT (tenant_id, api_id, value) DO UPDATE SET description = excluded.description",
                    t, api, &p.value, &p.description
                ))
                .await?;
        }
        Ok(())
    }
}
