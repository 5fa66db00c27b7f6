//! Branding of tenants and organizations (settings as JSON, the logo as bytes with its
//! media type) and organizations' email domains (home-realm discovery; one organization
//! per domain in a tenant, enforced by the primary key).

use async_trait::async_trait;
use clavis_core::StoreError;
use clavis_core::model::{Branding, Logo, OrgDomain};
use clavis_core::ports::{BrandingRepo, StoreResult};
use clavis_types::{ConnectionId, OrgId, TenantId};

use crate::SqlTx;
use crate::sql::{Row, json, q};

fn branding(r: &Row, org_id: Option<OrgId>) -> StoreResult<Branding> {
    let logo = match (r.opt_bytes("logo")?, r.opt_text("logo_type")?) {
        (Some(bytes), Some(content_type)) => Some(Logo {
            bytes,
            content_type,
        }),
        (None, None) => None,
        _ => {
            return Err(StoreError::Corrupt(
                "branding: logo and logo_type must be set together".to_owned(),
            ));
        }
    };
    Ok(Branding {
        tenant_id: r.parse("tenant_id", TenantId::parse)?,
        org_id,
        settings: r.json("settings")?,
        logo,
        updated_at: r.ts("updated_at")?,
    })
}

fn org_domain(r: &Row) -> StoreResult<OrgDomain> {
    Ok(OrgDomain {
        tenant_id: r.parse("tenant_id", TenantId::parse)?,
        domain: r.text("domain")?,
        org_id: r.parse("org_id", OrgId::parse)?,
        connection_id: r.opt_parse("connection_id", ConnectionId::parse)?,
        created_at: r.ts("created_at")?,
    })
}

#[async_trait]
impl BrandingRepo for SqlTx {
    async fn branding_get(
        &mut self,
        t: &TenantId,
        org: Option<&OrgId>,
    ) -> StoreResult<Option<Branding>> {
        let row = match org {
            None => {
                self.conn
                    .fetch_opt(q!("SELECT * FROM tenant_branding WHERE tenant_id = $1", t))
                    .await?
            }
            Some(o) => {
                self.conn
                    .fetch_opt(q!(
                        "SELECT * FROM org_branding WHERE tenant_id = $1 AND org_id = $2",
                        t,
                        o
                    ))
                    .await?
            }
        };
        row.map(|r| branding(&r, org.cloned())).transpose()
    }

    async fn branding_put(&mut self, b: &Branding) -> StoreResult<()> {
        let logo = b.logo.as_ref().map(|l| &l.bytes);
        let logo_type = b.logo.as_ref().map(|l| &l.content_type);
        let q = match &b.org_id {
            None => q!(
                "INSERT INTO tenant_branding (tenant_id, settings, logo, logo_type, updated_at)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (tenant_id) DO UPDATE SET settings = excluded.settings,
                    logo = excluded.logo, logo_type = excluded.logo_type,
                    updated_at = excluded.updated_at",
                &b.tenant_id,
                json(&b.settings),
                logo,
                logo_type,
                b.updated_at
            ),
            Some(org) => q!(
                "INSERT INTO org_branding (tenant_id, org_id, settings, logo, logo_type, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (tenant_id, org_id) DO UPDATE SET settings = excluded.settings,
                    logo = excluded.logo, logo_type = excluded.logo_type,
                    updated_at = excluded.updated_at",
                &b.tenant_id,
                org,
                json(&b.settings),
                logo,
                logo_type,
                b.updated_at
            ),
        };
        self.conn.exec(q).await.map(drop)
    }

    async fn branding_delete(&mut self, t: &TenantId, org: Option<&OrgId>) -> StoreResult<bool> {
        let q = match org {
            None => q!("DELETE FROM tenant_branding WHERE tenant_id = $1", t),
            Some(o) => q!(
                "DELETE FROM org_branding WHERE tenant_id = $1 AND org_id = $2",
                t,
                o
            ),
        };
        Ok(self.conn.exec(q).await? == 1)
    }

    async fn org_domain_insert(&mut self, d: &OrgDomain) -> StoreResult<bool> {
        let n = self
            .conn
            .exec(q!(
                "INSERT INTO org_domains (tenant_id, domain, org_id, connection_id, created_at)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (tenant_id, domain) DO NOTHING",
                &d.tenant_id,
                &d.domain,
                &d.org_id,
                d.connection_id.as_ref(),
                d.created_at
            ))
            .await?;
        Ok(n == 1)
    }

    async fn org_domain_get(
        &mut self,
        t: &TenantId,
        domain: &str,
    ) -> StoreResult<Option<OrgDomain>> {
        self.conn
            .fetch_opt(q!(
                "SELECT * FROM org_domains WHERE tenant_id = $1 AND domain = $2",
                t,
                domain
            ))
            .await?
            .map(|r| org_domain(&r))
            .transpose()
    }

    async fn org_domain_list(&mut self, t: &TenantId, org: &OrgId) -> StoreResult<Vec<OrgDomain>> {
        self.conn
            .fetch(q!(
                "SELECT * FROM org_domains WHERE tenant_id = $1 AND org_id = $2 ORDER BY domain",
                t,
                org
            ))
            .await?
            .iter()
            .map(org_domain)
            .collect()
    }

    async fn org_domain_delete(
        &mut self,
        t: &TenantId,
        org: &OrgId,
        domain: &str,
    ) -> StoreResult<bool> {
        let n = self
            .conn
            .exec(q!(
                "DELETE FROM org_domains WHERE tenant_id = $1 AND org_id = $2 AND domain = $3",
                t,
                org,
                domain
            ))
            .await?;
        Ok(n == 1)
    }
}
