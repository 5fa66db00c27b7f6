//! Custom domains of tenants. A domain is `ready` for at most one tenant (a partial unique
//! index on `domain` among `ready` rows), so one host can never name two tenants; pending
//! rows of the same domain may exist in several tenants (registering claims nothing). The
//! routing snapshot of all `ready` domains is the one install-wide query.

use async_trait::async_trait;
use clavis_core::StoreError;
use clavis_core::model::{CustomDomain, DomainRoute};
use clavis_core::ports::{CustomDomainRepo, MarkReady, StoreResult};
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
                 ON CONFLICT (tenant_id, domain) DO NOTHING",
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
    ) -> StoreResult<MarkReady> {
        let ready = CustomDomainStatus::Ready.as_str();
        let pending = CustomDomainStatus::PendingVerification.as_str();
        let Some(row) = self
            .conn
            .fetch_opt(q!(
                "SELECT domain FROM custom_domains
                 WHERE tenant_id = $1 AND id = $2 AND status = $3",
                t,
                id,
                pending
            ))
            .await?
        else {
            return Ok(MarkReady::NotPending);
        };
        let domain = row.text("domain")?;
        let taken = self
            .conn
            .fetch_opt(q!(
                "SELECT tenant_id FROM custom_domains
                 WHERE domain = $1 AND status = $2 AND tenant_id <> $3",
                &domain,
                ready,
                t
            ))
            .await?;
        if taken.is_some() {
            return Ok(MarkReady::TakenElsewhere);
        }
        // A concurrent verification by another tenant that committed first trips the
        // partial unique index.
        match self
            .conn
            .exec(q!(
                "UPDATE custom_domains SET status = $3, verified_at = $4
                 WHERE tenant_id = $1 AND id = $2 AND status = $5",
                t,
                id,
                ready,
                at,
                pending
            ))
            .await
        {
            Ok(1) => Ok(MarkReady::Ready),
            Ok(_) => Ok(MarkReady::NotPending),
            Err(StoreError::Conflict(_)) => Ok(MarkReady::TakenElsewhere),
            Err(e) => Err(e),
        }
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

    async fn custom_domain_routes(&mut self) -> StoreResult<Vec<DomainRoute>> {
        self.conn
            .fetch(q!(
                "SELECT d.domain, d.tenant_id, t.slug FROM custom_domains d
                 JOIN tenants t ON t.id = d.tenant_id
                 WHERE d.status = $1",
                CustomDomainStatus::Ready.as_str()
            ))
            .await?
            .iter()
            .map(|r| {
                Ok(DomainRoute {
                    domain: r.text("domain")?,
                    tenant_id: r.parse("tenant_id", TenantId::parse)?,
                    tenant_slug: r.text("slug")?,
                })
            })
            .collect()
    }
}
