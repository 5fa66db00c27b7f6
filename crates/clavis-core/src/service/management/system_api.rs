//! The Management API as a built-in Api of every tenant: identifier `{issuer}/api/v2/`,
//! name [`MANAGEMENT_API_NAME`], permissions [`MANAGEMENT_SCOPES`]. It is created with
//! each tenant once the server knows its public URL (the issuer depends on it), and
//! brought up to date at every start: scopes added by an upgrade are added to it; nothing
//! is removed, so grants and roles that name a scope keep working.

use clavis_types::{ApiId, SigningAlg};

use super::MANAGEMENT_SCOPES;
use crate::model::{Api, Page, Permission, Tenant};
use crate::ports::Tx;
use crate::service::Core;
use crate::{CoreError, StoreError};

/// The name of every tenant's Management API.
pub const MANAGEMENT_API_NAME: &str = "Clavis Management API";

/// The audience of the Management API of the tenant `slug` under `public_url`.
pub fn management_audience(public_url: &str, slug: &str) -> String {
    format!("{}/t/{slug}/api/v2/", public_url.trim_end_matches('/'))
}

fn describe(scope: &str) -> String {
    match scope.split_once(':') {
        Some((verb, what)) => {
            let verb = match verb {
                "read" => "Read",
                "create" => "Create",
                "update" => "Update",
                "delete" => "Delete",
                other => other,
            };
            format!("{verb} {}", what.replace('_', " "))
        }
        None => scope.to_owned(),
    }
}

fn permissions() -> Vec<Permission> {
    MANAGEMENT_SCOPES
        .iter()
        .map(|s| Permission {
            value: (*s).to_owned(),
            description: describe(s),
        })
        .collect()
}

impl Core {
    /// Create or bring up to date the Management API of `tenant` inside `tx`, under the
    /// server's public URL. Returns true when something was written.
    pub async fn ensure_management_api_in(
        &self,
        tx: &mut dyn Tx,
        tenant: &Tenant,
        public_url: &str,
    ) -> Result<bool, CoreError> {
        let identifier = management_audience(public_url, tenant.slug.as_str());
        let now = self.now();
        match tx.api_get_by_identifier(&tenant.id, &identifier).await? {
            None => {
                tx.api_insert(&Api {
                    tenant_id: tenant.id.clone(),
                    id: ApiId::generate(now, &*self.rng),
                    identifier,
                    name: MANAGEMENT_API_NAME.to_owned(),
                    signing_alg: SigningAlg::Rs256,
                    token_lifetime: 3600,
                    rbac_enabled: true,
                    permissions_in_token: true,
                    allow_offline_access: false,
                    skip_consent: false,
                    permissions: permissions(),
                    created_at: now,
                    updated_at: now,
                })
                .await?;
                Ok(true)
            }
            Some(api) => {
                let missing: Vec<Permission> = permissions()
                    .into_iter()
                    .filter(|p| !api.permissions.iter().any(|q| q.value == p.value))
                    .collect();
                if missing.is_empty() {
                    return Ok(false);
                }
                let mut all = api.permissions.clone();
                all.extend(missing);
                tx.api_permissions_set(&tenant.id, &api.id, &all).await?;
                Ok(true)
            }
        }
    }

    /// At start: create or bring up to date the Management API of every tenant.
    pub async fn ensure_management_apis(&self, public_url: &str) -> Result<usize, CoreError> {
        let mut changed = 0;
        let mut page_no = 0;
        loop {
            let tenants = {
                let mut tx = self.store.read().await?;
                tx.tenant_list(Page::new(page_no, Page::MAX_PER_PAGE))
                    .await?
            };
            for tenant in &tenants {
                let mut tx = self.store.begin().await?;
                match self
                    .ensure_management_api_in(&mut *tx, tenant, public_url)
                    .await
                {
                    Ok(true) => match tx.commit().await {
                        Ok(()) => changed += 1,
                        // Another node sharing the database wrote it first.
                        Err(StoreError::Conflict(_)) => {}
                        Err(e) => return Err(e.into()),
                    },
                    Ok(false) | Err(CoreError::Store(StoreError::Conflict(_))) => {}
                    Err(e) => return Err(e),
                }
            }
            if tenants.len() < Page::MAX_PER_PAGE as usize {
                return Ok(changed);
            }
            page_no += 1;
        }
    }
}
