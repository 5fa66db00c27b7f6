//! Custom domains of tenants. The `domain` column is unique across the installation, so
//! one host can never name two tenants; lookups by host are the one install-wide query.

use async_trait::async_trait;
use clavis_core::model::CustomDomain;
use clavis_core::ports::{CustomDomainRepo, StoreResult};
use clavis_types::{CustomDomainId, CustomDomainStatus, TenantId, Timestamp};

use crate::SqlTx;
use crate::sql::{Row, q};

fn custom_domain(r: &Row) -> StoreResult<CustomDomain> {
    Ok(CustomDomain {
        tenant_id: r.parse("tenant_id", TenantId::parse)?,
        id: r.parse("id", CustomDomainId::parse)?,
        domain: r.text("domain")?,
        status: r.parse("status", CustomDomainStatus::parse)?,
        verification_token: r.text("verification_token")?,
        created_at: r.ts("created_at")?,
        verified_at: r.opt_ts("verified_at")?,
    })
}

#[async_trait]
impl CustomDomainRepo for SqlTx {
    async fn custom_domain_insert(&mut self, d: &CustomDomain) -> StoreResult<bool> {
        let n = self
            .conn
            .exec(q!(
                "INSERT INTO custom_domains
                    (tenant_id, id, domain, status, verification_token, created_at, verified_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (domain) DO NOTHING",
                &d.tenant_id,
                &d.id,
                &d.domain,
                d.status.as_str(),
                &d.verification_token,
                d.created_at,
                d.verified_at
            ))
            .await?;
        Ok(n == 1)
    }

    async fn custom_domain_get(
        &mut self,
        t: &TenantId,
        id: &CustomDomainId,
    ) -> StoreResult<Option<CustomDomain>> {
        self.conn
            .fetch_opt(q!(
                "SELECT * FROM custom_domains WHERE tenant_id = $1 AND id = $2",
                t,
                id
            ))
            .await?
            .map(|r| custom_domain(&r))
            .transpose()
    }

    async fn custom_domain_list(&mut self, t: &TenantId) -> StoreResult<Vec<CustomDomain>> {
        self.conn
            .fetch(q!(
                "SELECT * FROM custom_domains WHERE tenant_id = $1 ORDER BY domain",
                t
            ))
            .await?
            .iter()
            .map(custom_domain)
            .collect()
    }

    async fn custom_domain_mark_ready(
        &mut self,
        t: &TenantId,
        id: &CustomDomainId,
        at: Timestamp,
    ) -> StoreResult<bool> {
        let n = self
            .conn
            .exec(q!(
                "UPDATE custom_domains SET status = $3, verified_at = $4
                 WHERE tenant_id = $1 AND id = $2 AND status = $5",
                t,
                id,
                CustomDomainStatus::Ready.as_str(),
                at,
                CustomDomainStatus::PendingVerification.as_str()
            ))
            .await?;
        Ok(n == 1)
    }

    async fn custom_domain_delete(
        &mut self,
        t: &TenantId,
        id: &CustomDomainId,
    ) -> StoreResult<bool> {
        let n = self
            .conn
            .exec(q!(
                "DELETE FROM custom_domains WHERE tenant_id = $1 AND id = $2",
                t,
                id
            ))
            .await?;
        Ok(n == 1)
    }

    async fn custom_domain_by_host(&mut self, domain: &str) -> StoreResult<Option<CustomDomain>> {
        self.conn
            .fetch_opt(q!("SELECT * FROM custom_domains WHERE domain = $1", domain))
            .await?
            .map(|r| custom_domain(&r))
            .transpose()
    }
}
