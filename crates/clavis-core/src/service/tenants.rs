//! Creating tenants: data key, default database connection and signing keys, atomically.

use clavis_types::{ConnectionId, ConnectionStrategy, Slug, TenantId};

use std::sync::Arc;

use super::Core;
use crate::CoreError;
use crate::model::{Connection, JsonMap, Tenant, TenantSettings};
use crate::ports::Tx;

/// Slug of the tenant a fresh install creates.
pub const DEFAULT_TENANT: &str = "default";
/// Name of the database connection every new tenant gets (as in Auth0).
pub const DEFAULT_CONNECTION: &str = "Username-Password-Authentication";

impl Core {
    /// Create a tenant inside `tx`: its wrapped data key, the default database connection,
    /// an active plus a published next signing key, and (once the server's public URL is
    /// known) its built-in Management API.
    pub async fn create_tenant(
        &self,
        tx: &mut dyn Tx,
        slug: &Slug,
        display_name: &str,
        settings: TenantSettings,
    ) -> Result<Tenant, CoreError> {
        if tx.tenant_get_by_slug(slug).await?.is_some() {
            return Err(CoreError::Conflict(format!(
                "tenant `{slug}` already exists"
            )));
        }
        let now = self.now();
        let tenant = Tenant {
            id: TenantId::generate(now, &*self.rng),
            slug: slug.clone(),
            display_name: display_name.to_owned(),
            settings,
            created_at: now,
            updated_at: now,
        };
        let (_dk, wrapped) = self.keyring.new_data_key(&tenant.id, &*self.rng);
        tx.tenant_insert(&tenant, &wrapped).await?;
        tx.connection_insert(&Connection {
            tenant_id: tenant.id.clone(),
            id: ConnectionId::generate(now, &*self.rng),
            name: DEFAULT_CONNECTION.to_owned(),
            strategy: ConnectionStrategy::Database,
            options: JsonMap::new(),
            created_at: now,
            updated_at: now,
        })
        .await?;
        self.init_signing_keys(tx, &tenant).await?;
        if let Some(url) = self.public_url.get() {
            self.ensure_management_api_in(tx, &tenant, url).await?;
        }
        Ok(tenant)
    }

    /// The tenant's data key, reading the store only the first time.
    pub async fn tenant_data_key(
        &self,
        tenant: &Tenant,
    ) -> Result<std::sync::Arc<clavis_crypto::DataKey>, CoreError> {
        if let Some(dk) = self.keyring.cached(&tenant.id) {
            return Ok(dk);
        }
        let mut tx = self.store.read().await?;
        self.keyring.data_key(&mut *tx, &tenant.id).await
    }

    /// Look a tenant up by slug (cached for a moment: it is read on every request).
    pub async fn tenant_by_slug(&self, slug: &str) -> Result<Arc<Tenant>, CoreError> {
        if let Some(t) = self.caches.tenants.get(slug, &*self.clock) {
            return Ok(t);
        }
        let parsed = Slug::parse(slug).map_err(|_| CoreError::NotFound("tenant"))?;
        let mut tx = self.store.read().await?;
        let tenant = tx
            .tenant_get_by_slug(&parsed)
            .await?
            .ok_or(CoreError::NotFound("tenant"))?;
        let tenant = Arc::new(tenant);
        self.caches
            .tenants
            .put(slug.to_owned(), tenant.clone(), &*self.clock);
        Ok(tenant)
    }
}
