//! Short-lived read caches for the token hot path. Entries expire after
//! [`CONFIG_CACHE_SECS`], so a change made on any node (several nodes share one database)
//! is seen everywhere within that time; changes made through this node's services can
//! also invalidate at once. Bounded: a full cache is cleared rather than grown.

use clavis_types::{Clock, Timestamp};
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, RwLock};

/// How long configuration read on the hot path (tenants, applications, Apis, client
/// grants) is reused.
pub const CONFIG_CACHE_SECS: i64 = 2;
const MAX_ENTRIES: usize = 10_000;

#[derive(Debug)]
pub struct TtlCache<K, V> {
    ttl_ms: i64,
    map: RwLock<HashMap<K, (V, Timestamp)>>,
}

impl<K: Eq + Hash + Clone, V: Clone> TtlCache<K, V> {
    pub fn new(ttl_secs: i64) -> Self {
        Self {
            ttl_ms: ttl_secs * 1000,
            map: RwLock::new(HashMap::new()),
        }
    }

    pub fn get<Q>(&self, k: &Q, clock: &dyn Clock) -> Option<V>
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let now = clock.now().as_millis();
        let map = self.map.read().ok()?;
        let (v, at) = map.get(k)?;
        (now - at.as_millis() < self.ttl_ms && now >= at.as_millis()).then(|| v.clone())
    }

    pub fn put(&self, k: K, v: V, clock: &dyn Clock) {
        if let Ok(mut map) = self.map.write() {
            if map.len() >= MAX_ENTRIES {
                map.clear();
            }
            map.insert(k, (v, clock.now()));
        }
    }

    pub fn remove(&self, k: &K) {
        if let Ok(mut map) = self.map.write() {
            map.remove(k);
        }
    }
}

type ClientKey = (clavis_types::TenantId, clavis_types::ClientId);
type ApiKey = (clavis_types::TenantId, String);
type GrantKey = (
    clavis_types::TenantId,
    clavis_types::ClientId,
    clavis_types::ApiId,
);

/// The caches `Core` keeps. Values are shared (`Arc`), never deep-copied per request.
#[derive(Debug)]
pub struct Caches {
    /// Tenant slug → tenant.
    pub tenants: TtlCache<String, Arc<crate::model::Tenant>>,
    /// (tenant id, client id) → application.
    pub apps: TtlCache<ClientKey, Option<Arc<crate::model::Application>>>,
    /// (tenant id, Api identifier) → Api.
    pub apis: TtlCache<ApiKey, Option<Arc<crate::model::Api>>>,
    /// (tenant id, client id, Api id) → grant.
    pub grants: TtlCache<GrantKey, Option<Arc<crate::model::ClientGrant>>>,
    /// (tenant id, user id) → the user's unsealed audit key, or erased
    /// ([`super::audit_subjects`]; [`super::AUDIT_SUBJECT_CACHE_SECS`]).
    pub audit_subjects: TtlCache<(clavis_types::TenantId, String), super::SubjectState>,
    /// The routing snapshot of `ready` custom domains (host → tenant), install-wide.
    pub custom_domains: super::management::custom_domains::DomainSnapshot,
}

impl Default for Caches {
    fn default() -> Self {
        Self {
            tenants: TtlCache::new(CONFIG_CACHE_SECS),
            apps: TtlCache::new(CONFIG_CACHE_SECS),
            apis: TtlCache::new(CONFIG_CACHE_SECS),
            grants: TtlCache::new(CONFIG_CACHE_SECS),
            audit_subjects: TtlCache::new(super::AUDIT_SUBJECT_CACHE_SECS),
            custom_domains: Default::default(),
        }
    }
}
