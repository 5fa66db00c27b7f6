//! Secrets at rest: the master key wraps one data key per tenant; the data key seals the
//! tenant's stored secrets (signing keys, upstream client secrets) and keys the digests of
//! high-entropy secrets Clavis issues (client secrets). Unwrapped data keys are cached in
//! memory for the life of the process and never logged.

use clavis_crypto::{DataKey, MasterKey};
use clavis_types::{Rng, TenantId};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::CoreError;
use crate::ports::Tx;

/// Additional authenticated data binding a wrapped data key to its tenant.
fn wrap_aad(tenant: &TenantId) -> Vec<u8> {
    format!("clavis/tenant-data-key/{tenant}").into_bytes()
}

pub struct Keyring {
    master: MasterKey,
    cache: RwLock<HashMap<TenantId, Arc<DataKey>>>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keyring(**redacted**)")
    }
}

impl Keyring {
    pub fn new(master: MasterKey) -> Self {
        Self {
            master,
            cache: RwLock::new(HashMap::new()),
        }
    }

    /// A fresh data key for a new tenant, and its wrapped form to store.
    pub fn new_data_key(&self, tenant: &TenantId, rng: &dyn Rng) -> (Arc<DataKey>, Vec<u8>) {
        let dk = DataKey::generate(rng);
        let wrapped = self.master.wrap(&dk, &wrap_aad(tenant), rng);
        let dk = Arc::new(dk);
        if let Ok(mut c) = self.cache.write() {
            c.insert(tenant.clone(), dk.clone());
        }
        (dk, wrapped)
    }

    /// The tenant's data key if it is already unwrapped.
    pub fn cached(&self, tenant: &TenantId) -> Option<Arc<DataKey>> {
        self.cache.read().ok().and_then(|c| c.get(tenant).cloned())
    }

    /// The tenant's data key, unwrapped once and cached.
    pub async fn data_key(
        &self,
        tx: &mut dyn Tx,
        tenant: &TenantId,
    ) -> Result<Arc<DataKey>, CoreError> {
        if let Some(dk) = self.cache.read().ok().and_then(|c| c.get(tenant).cloned()) {
            return Ok(dk);
        }
        let wrapped = tx
            .tenant_wrapped_key(tenant)
            .await?
            .ok_or(CoreError::NotFound("tenant"))?;
        let dk = Arc::new(
            self.master
                .unwrap(&wrapped, &wrap_aad(tenant))
                .map_err(|_| {
                    CoreError::Conflict(
                "the tenant's data key cannot be unwrapped: the master key does not match the one \
                 this database was created with"
                    .to_owned(),
            )
                })?,
        );
        if let Ok(mut c) = self.cache.write() {
            c.insert(tenant.clone(), dk.clone());
        }
        Ok(dk)
    }
}
