//! The versioned cache of authorization data: each tenant's role graph and each
//! (tenant, user, organization)'s effective permissions, both stamped with the tenant's
//! authorization version they were computed at and used only while that version is
//! current. No time-based expiry is needed for correctness; the size is bounded (a full map
//! is cleared rather than grown) and only existing users are cached.

use clavis_types::{ApiId, OrgId, TenantId, UserId};
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, RwLock};

use super::ApiPermissions;
use super::graph::RoleGraph;

const MAX_SUBJECTS: usize = 50_000;
const MAX_GRAPHS: usize = 1_000;

/// Where a user stands, before any role is looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Standing {
    Active,
    Blocked,
    Deleted,
    /// An organization was named and the user is not a member of it.
    NotAMember,
}

/// A user's effective permissions in one (tenant, organization or none), on every Api.
#[derive(Debug)]
pub(crate) struct Effective {
    pub standing: Standing,
    /// Empty unless `standing` is `Active`.
    pub by_api: HashMap<ApiId, Arc<ApiPermissions>>,
}

pub(crate) type SubjectKey = (TenantId, UserId, Option<OrgId>);

/// The cache `Core` keeps (see the module doc).
#[derive(Default)]
pub struct AuthzCache {
    graphs: Versioned<TenantId, RoleGraph>,
    subjects: Versioned<SubjectKey, Effective>,
}

impl std::fmt::Debug for AuthzCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthzCache")
            .field("graphs", &self.graphs.len())
            .field("subjects", &self.subjects.len())
            .finish()
    }
}

impl AuthzCache {
    pub(crate) fn graph(&self, t: &TenantId, version: i64) -> Option<Arc<RoleGraph>> {
        self.graphs.get(t, version)
    }
    pub(crate) fn put_graph(&self, t: TenantId, version: i64, g: Arc<RoleGraph>) {
        self.graphs.put(t, version, g, MAX_GRAPHS);
    }
    pub(crate) fn subject(&self, k: &SubjectKey, version: i64) -> Option<Arc<Effective>> {
        self.subjects.get(k, version)
    }
    pub(crate) fn put_subject(&self, k: SubjectKey, version: i64, e: Arc<Effective>) {
        self.subjects.put(k, version, e, MAX_SUBJECTS);
    }
}

struct Versioned<K, V> {
    map: RwLock<HashMap<K, (i64, Arc<V>)>>,
}

impl<K, V> Default for Versioned<K, V> {
    fn default() -> Self {
        Self {
            map: RwLock::new(HashMap::new()),
        }
    }
}

impl<K: Eq + Hash, V> Versioned<K, V> {
    fn get(&self, k: &K, version: i64) -> Option<Arc<V>> {
        let map = self.map.read().ok()?;
        let (v, value) = map.get(k)?;
        (*v == version).then(|| value.clone())
    }

    /// Store unless a value computed at a newer version is already there.
    fn put(&self, k: K, version: i64, value: Arc<V>, max: usize) {
        let Ok(mut map) = self.map.write() else {
            return;
        };
        if map.get(&k).is_some_and(|(v, _)| *v > version) {
            return;
        }
        if map.len() >= max && !map.contains_key(&k) {
            map.clear();
        }
        map.insert(k, (version, value));
    }

    fn len(&self) -> usize {
        self.map.read().map_or(0, |m| m.len())
    }
}
