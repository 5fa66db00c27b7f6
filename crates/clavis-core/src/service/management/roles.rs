//! Roles of a tenant through the Management API: create, list (with a name filter), read,
//! change and delete them; the Api permissions they hold; the roles they inherit (a Clavis
//! extension); the users holding them tenant-wide. Resource servers (Apis), whose
//! permissions roles hold, are in [`resource_servers`].
//!
//! Rules enforced here:
//! - names are trimmed, 1–255 characters without control characters, unique in the
//!   tenant (409 otherwise); descriptions at most 500 characters;
//! - a permission is named by its Api's identifier and its value, and must exist on that
//!   Api (400 naming the list entry otherwise);
//! - inheritance goes through [`Core::role_inherits_replace`], the one cycle check: a change
//!   that would let a role inherit itself is a 409 naming the cycle;
//! - assigned users must exist and not be deleted (400 naming the list entry);
//! - every change and its audit event (`role.created|updated|deleted`,
//!   `role.permissions.added|removed`, `role.inherits.added|removed`,
//!   `role.users.assigned`) are written in one transaction; the store bumps the tenant's
//!   authorization version for each change of what users may do, so the next decision
//!   sees it.

pub mod resource_servers;

use std::collections::{BTreeSet, HashMap};

use clavis_types::{RoleId, UserId};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::model::{Api, AuditActor, JsonMap, Page, Role, RolePermission, Tenant, User};
use crate::ports::Tx;
use crate::service::{Core, RequestMeta};
use crate::{CoreError, StoreError};

/// Longest role name.
pub const MAX_ROLE_NAME: usize = 255;
/// Longest role description.
pub const MAX_ROLE_DESCRIPTION: usize = 500;
/// Most entries of one list in a request body (permissions, roles, users).
pub const MAX_BODY_LIST: usize = 100;

/// What an administrator submits to create a role.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleInput {
    /// Unique within the tenant, 1–255 characters.
    #[schema(min_length = 1, max_length = 255)]
    pub name: String,
    /// At most 500 characters.
    #[serde(default)]
    #[schema(max_length = 500)]
    pub description: Option<String>,
}

/// A change to a role: absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RolePatch {
    #[schema(min_length = 1, max_length = 255)]
    pub name: Option<String>,
    #[schema(max_length = 500)]
    pub description: Option<String>,
}

/// A role as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RoleView {
    pub id: String,
    pub name: String,
    pub description: String,
}

impl From<&Role> for RoleView {
    fn from(r: &Role) -> Self {
        Self {
            id: r.id.to_string(),
            name: r.name.clone(),
            description: r.description.clone(),
        }
    }
}

/// One permission of one Api, as Auth0 names it in role bodies.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize, utoipa::ToSchema,
)]
#[serde(deny_unknown_fields)]
pub struct PermissionRef {
    /// The Api's identifier (audience).
    pub resource_server_identifier: String,
    /// The permission's value on that Api.
    pub permission_name: String,
}

/// The body of `POST|DELETE /roles/{id}/permissions`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RolePermissionsBody {
    /// 1–100 permissions.
    #[schema(min_items = 1, max_items = 100)]
    pub permissions: Vec<PermissionRef>,
}

/// A permission a role holds, with its Api's name and its description.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RolePermissionView {
    pub resource_server_identifier: String,
    pub permission_name: String,
    pub resource_server_name: String,
    pub description: String,
}

/// The body of `POST|DELETE /roles/{id}/inherits`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleInheritsBody {
    /// 1–100 role ids (`rol_…`).
    #[schema(min_items = 1, max_items = 100)]
    pub roles: Vec<String>,
}

/// The body of `POST /roles/{id}/users`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleUsersBody {
    /// 1–100 user ids (`usr_…`).
    #[schema(min_items = 1, max_items = 100)]
    pub users: Vec<String>,
}

/// A user holding a role, as Auth0 lists role members.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RoleUserView {
    pub user_id: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub picture: Option<String>,
}

impl From<&User> for RoleUserView {
    fn from(u: &User) -> Self {
        Self {
            user_id: u.id.to_string(),
            email: u.email.as_ref().map(ToString::to_string),
            name: u.profile.name.clone(),
            picture: u.profile.picture.clone(),
        }
    }
}

/// A trimmed text of 1..=`max` characters without control characters.
pub(super) fn required_text(field: &str, s: &str, max: usize) -> Result<String, CoreError> {
    let s = s.trim();
    if s.is_empty() {
        return Err(CoreError::invalid(field, "must not be empty"));
    }
    optional_text(field, s, max)
}

/// A trimmed text of at most `max` characters without control characters.
pub(super) fn optional_text(field: &str, s: &str, max: usize) -> Result<String, CoreError> {
    let s = s.trim();
    if s.chars().count() > max {
        return Err(CoreError::invalid(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if s.chars().any(char::is_control) {
        return Err(CoreError::invalid(
            field,
            "must not contain control characters",
        ));
    }
    Ok(s.to_owned())
}

/// A list of 1..=[`MAX_BODY_LIST`] entries.
fn bounded_list<T>(field: &str, items: &[T]) -> Result<(), CoreError> {
    if items.is_empty() {
        return Err(CoreError::invalid(field, "must list at least one entry"));
    }
    if items.len() > MAX_BODY_LIST {
        return Err(CoreError::invalid(
            field,
            format!("at most {MAX_BODY_LIST} entries"),
        ));
    }
    Ok(())
}

fn role_context(r: &Role) -> JsonMap {
    JsonMap::from_iter([
        ("role_id".to_owned(), json!(r.id)),
        ("name".to_owned(), json!(r.name)),
    ])
}

fn name_conflict(e: StoreError, name: &str) -> CoreError {
    match e {
        StoreError::Conflict(_) => {
            CoreError::Conflict(format!("a role named `{name}` already exists"))
        }
        other => other.into(),
    }
}

async fn load(tx: &mut dyn Tx, tenant: &Tenant, id: &RoleId) -> Result<Role, CoreError> {
    tx.role_get(&tenant.id, id)
        .await?
        .ok_or(CoreError::NotFound("role"))
}

/// Resolve `refs` to the role permissions they name, each checked against its Api.
async fn resolve_permissions(
    tx: &mut dyn Tx,
    tenant: &Tenant,
    refs: &[PermissionRef],
) -> Result<Vec<(RolePermission, PermissionRef)>, CoreError> {
    bounded_list("permissions", refs)?;
    let mut apis: HashMap<String, Api> = HashMap::new();
    let mut out = Vec::with_capacity(refs.len());
    for (i, r) in refs.iter().enumerate() {
        let identifier = r.resource_server_identifier.trim();
        let value = r.permission_name.trim();
        let field = format!("permissions[{i}]");
        if identifier.is_empty() || value.is_empty() {
            return Err(CoreError::invalid(
                field,
                "resource_server_identifier and permission_name must not be empty",
            ));
        }
        if !apis.contains_key(identifier) {
            let api = tx
                .api_get_by_identifier(&tenant.id, identifier)
                .await?
                .ok_or_else(|| {
                    CoreError::invalid(
                        field.clone(),
                        format!("no Api has the identifier `{identifier}`"),
                    )
                })?;
            apis.insert(identifier.to_owned(), api);
        }
        let Some(api) = apis.get(identifier) else {
            return Err(CoreError::NotFound("resource server"));
        };
        if !api.permissions.iter().any(|p| p.value == value) {
            return Err(CoreError::invalid(
                field,
                format!("the Api `{identifier}` has no permission `{value}`"),
            ));
        }
        out.push((
            RolePermission {
                api_id: api.id.clone(),
                permission: value.to_owned(),
            },
            PermissionRef {
                resource_server_identifier: identifier.to_owned(),
                permission_name: value.to_owned(),
            },
        ));
    }
    Ok(out)
}

/// Parse the role ids of a body's `roles` list, each of which must exist.
async fn resolve_roles(
    tx: &mut dyn Tx,
    tenant: &Tenant,
    ids: &[String],
) -> Result<Vec<RoleId>, CoreError> {
    bounded_list("roles", ids)?;
    let mut out = Vec::with_capacity(ids.len());
    for (i, raw) in ids.iter().enumerate() {
        let field = format!("roles[{i}]");
        let id =
            RoleId::parse(raw.trim()).map_err(|e| CoreError::invalid(field.clone(), e.reason))?;
        if tx.role_get(&tenant.id, &id).await?.is_none() {
            return Err(CoreError::invalid(
                field,
                format!("no role has the id `{id}`"),
            ));
        }
        out.push(id);
    }
    Ok(out)
}

/// Most roles one role inherits directly (so its `inherits` list is bounded).
pub const MAX_INHERITS: usize = 100;

impl Core {
    /// Create a role.
    pub async fn mgmt_role_create(
        &self,
        tenant: &Tenant,
        input: RoleInput,
        meta: &RequestMeta,
    ) -> Result<Role, CoreError> {
        let name = required_text("name", &input.name, MAX_ROLE_NAME)?;
        let description = optional_text(
            "description",
            input.description.as_deref().unwrap_or_default(),
            MAX_ROLE_DESCRIPTION,
        )?;
        let now = self.now();
        let role = Role {
            tenant_id: tenant.id.clone(),
            id: RoleId::generate(now, &*self.rng),
            name,
            description,
            created_at: now,
            updated_at: now,
        };
        let mut tx = self.store.begin().await?;
        if tx.role_get_by_name(&tenant.id, &role.name).await?.is_some() {
            return Err(name_conflict(
                StoreError::Conflict(String::new()),
                &role.name,
            ));
        }
        tx.role_insert(&role)
            .await
            .map_err(|e| name_conflict(e, &role.name))?;
        let mut context = role_context(&role);
        context.insert("description".to_owned(), json!(role.description));
        record(self, &mut *tx, tenant, "role.created", context, meta).await?;
        tx.commit().await?;
        Ok(role)
    }

    /// One page of the tenant's roles by name, optionally only those whose name contains
    /// `name_filter`; with `with_total`, also how many there are over all pages.
    pub async fn mgmt_role_list(
        &self,
        tenant: &Tenant,
        name_filter: Option<&str>,
        page: Page,
        with_total: bool,
    ) -> Result<(Vec<Role>, i64), CoreError> {
        let filter = match name_filter.map(str::trim).filter(|f| !f.is_empty()) {
            Some(f) => Some(optional_text("name_filter", f, MAX_ROLE_NAME)?),
            None => None,
        };
        let mut tx = self.store.read().await?;
        let roles = tx.role_search(&tenant.id, filter.as_deref(), page).await?;
        let total = if with_total {
            tx.role_count(&tenant.id, filter.as_deref()).await?
        } else {
            0
        };
        Ok((roles, total))
    }

    /// One role.
    pub async fn mgmt_role_get(&self, tenant: &Tenant, id: &RoleId) -> Result<Role, CoreError> {
        let mut tx = self.store.read().await?;
        load(&mut *tx, tenant, id).await
    }

    /// Change a role's name or description.
    pub async fn mgmt_role_update(
        &self,
        tenant: &Tenant,
        id: &RoleId,
        patch: RolePatch,
        meta: &RequestMeta,
    ) -> Result<Role, CoreError> {
        let name = match &patch.name {
            Some(n) => Some(required_text("name", n, MAX_ROLE_NAME)?),
            None => None,
        };
        let description = match &patch.description {
            Some(d) => Some(optional_text("description", d, MAX_ROLE_DESCRIPTION)?),
            None => None,
        };
        let mut tx = self.store.begin().await?;
        let mut role = load(&mut *tx, tenant, id).await?;
        let before = role.clone();
        let mut changed = Vec::new();
        if let Some(name) = name
            && name != role.name
        {
            if tx.role_get_by_name(&tenant.id, &name).await?.is_some() {
                return Err(name_conflict(StoreError::Conflict(String::new()), &name));
            }
            role.name = name;
            changed.push("name");
        }
        if let Some(description) = description
            && description != role.description
        {
            role.description = description;
            changed.push("description");
        }
        if changed.is_empty() {
            return Ok(role);
        }
        role.updated_at = self.now();
        if !tx
            .role_update(&role)
            .await
            .map_err(|e| name_conflict(e, &role.name))?
        {
            return Err(CoreError::NotFound("role"));
        }
        let mut context = role_context(&role);
        context.insert("changed".to_owned(), json!(changed));
        let mut was = JsonMap::new();
        let mut now = JsonMap::new();
        for field in &changed {
            let (b, a) = match *field {
                "name" => (&before.name, &role.name),
                _ => (&before.description, &role.description),
            };
            was.insert((*field).to_owned(), json!(b));
            now.insert((*field).to_owned(), json!(a));
        }
        context.insert("before".to_owned(), serde_json::Value::Object(was));
        context.insert("after".to_owned(), serde_json::Value::Object(now));
        record(self, &mut *tx, tenant, "role.updated", context, meta).await?;
        tx.commit().await?;
        Ok(role)
    }

    /// Delete a role: its permissions, inheritance and every assignment go with it.
    pub async fn mgmt_role_delete(
        &self,
        tenant: &Tenant,
        id: &RoleId,
        meta: &RequestMeta,
    ) -> Result<(), CoreError> {
        let mut tx = self.store.begin().await?;
        let role = load(&mut *tx, tenant, id).await?;
        if !tx.role_delete(&tenant.id, id).await? {
            return Err(CoreError::NotFound("role"));
        }
        record(
            self,
            &mut *tx,
            tenant,
            "role.deleted",
            role_context(&role),
            meta,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The permissions a role holds directly (not through inheritance), by Api and value.
    pub async fn mgmt_role_permissions(
        &self,
        tenant: &Tenant,
        id: &RoleId,
    ) -> Result<Vec<RolePermissionView>, CoreError> {
        let mut tx = self.store.read().await?;
        load(&mut *tx, tenant, id).await?;
        let held = tx.role_permissions(&tenant.id, id).await?;
        let mut apis: HashMap<String, Option<Api>> = HashMap::new();
        let mut out = Vec::with_capacity(held.len());
        for p in held {
            let key = p.api_id.to_string();
            if !apis.contains_key(&key) {
                let api = tx.api_get(&tenant.id, &p.api_id).await?;
                apis.insert(key.clone(), api);
            }
            let Some(Some(api)) = apis.get(&key) else {
                continue;
            };
            let description = api
                .permissions
                .iter()
                .find(|x| x.value == p.permission)
                .map(|x| x.description.clone())
                .unwrap_or_default();
            out.push(RolePermissionView {
                resource_server_identifier: api.identifier.clone(),
                permission_name: p.permission,
                resource_server_name: api.name.clone(),
                description,
            });
        }
        out.sort_by(|a, b| {
            (&a.resource_server_identifier, &a.permission_name)
                .cmp(&(&b.resource_server_identifier, &b.permission_name))
        });
        Ok(out)
    }

    /// Give a role more permissions (those it holds already are kept).
    pub async fn mgmt_role_permissions_add(
        &self,
        tenant: &Tenant,
        id: &RoleId,
        refs: &[PermissionRef],
        meta: &RequestMeta,
    ) -> Result<(), CoreError> {
        self.role_permissions_change(tenant, id, refs, true, meta)
            .await
    }

    /// Take permissions from a role (those it does not hold are ignored).
    pub async fn mgmt_role_permissions_remove(
        &self,
        tenant: &Tenant,
        id: &RoleId,
        refs: &[PermissionRef],
        meta: &RequestMeta,
    ) -> Result<(), CoreError> {
        self.role_permissions_change(tenant, id, refs, false, meta)
            .await
    }

    async fn role_permissions_change(
        &self,
        tenant: &Tenant,
        id: &RoleId,
        refs: &[PermissionRef],
        add: bool,
        meta: &RequestMeta,
    ) -> Result<(), CoreError> {
        let mut tx = self.store.begin().await?;
        let role = load(&mut *tx, tenant, id).await?;
        let wanted = resolve_permissions(&mut *tx, tenant, refs).await?;
        let mut held: BTreeSet<RolePermission> = tx
            .role_permissions(&tenant.id, id)
            .await?
            .into_iter()
            .collect();
        let mut changed = BTreeSet::new();
        for (p, named) in wanted {
            let did = if add { held.insert(p) } else { held.remove(&p) };
            if did {
                changed.insert(named);
            }
        }
        if changed.is_empty() {
            return Ok(());
        }
        let all: Vec<RolePermission> = held.into_iter().collect();
        tx.role_permissions_set(&tenant.id, id, &all).await?;
        let mut context = role_context(&role);
        context.insert("permissions".to_owned(), json!(changed));
        let event = if add {
            "role.permissions.added"
        } else {
            "role.permissions.removed"
        };
        record(self, &mut *tx, tenant, event, context, meta).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The roles a role inherits directly.
    pub async fn mgmt_role_inherits(
        &self,
        tenant: &Tenant,
        id: &RoleId,
    ) -> Result<Vec<Role>, CoreError> {
        let mut tx = self.store.read().await?;
        load(&mut *tx, tenant, id).await?;
        let mut out = Vec::new();
        for parent in tx.role_inherits(&tenant.id, id).await? {
            if let Some(r) = tx.role_get(&tenant.id, &parent).await? {
                out.push(r);
            }
        }
        Ok(out)
    }

    /// Let a role inherit more roles; a change that would form a cycle is a conflict
    /// naming it.
    pub async fn mgmt_role_inherits_add(
        &self,
        tenant: &Tenant,
        id: &RoleId,
        parents: &[String],
        meta: &RequestMeta,
    ) -> Result<(), CoreError> {
        self.role_inherits_change(tenant, id, parents, true, meta)
            .await
    }

    /// Stop a role inheriting roles (those it does not inherit are ignored).
    pub async fn mgmt_role_inherits_remove(
        &self,
        tenant: &Tenant,
        id: &RoleId,
        parents: &[String],
        meta: &RequestMeta,
    ) -> Result<(), CoreError> {
        self.role_inherits_change(tenant, id, parents, false, meta)
            .await
    }

    async fn role_inherits_change(
        &self,
        tenant: &Tenant,
        id: &RoleId,
        parents: &[String],
        add: bool,
        meta: &RequestMeta,
    ) -> Result<(), CoreError> {
        let mut tx = self.store.begin().await?;
        let role = load(&mut *tx, tenant, id).await?;
        let given = resolve_roles(&mut *tx, tenant, parents).await?;
        let mut current: BTreeSet<RoleId> = tx
            .role_inherits(&tenant.id, id)
            .await?
            .into_iter()
            .collect();
        let mut changed = BTreeSet::new();
        for p in given {
            let did = if add {
                current.insert(p.clone())
            } else {
                current.remove(&p)
            };
            if did {
                changed.insert(p);
            }
        }
        if changed.is_empty() {
            return Ok(());
        }
        if current.len() > MAX_INHERITS {
            return Err(CoreError::Conflict(format!(
                "roles: a role inherits at most {MAX_INHERITS} roles directly; group them \
                 under an intermediate role"
            )));
        }
        let all: Vec<RoleId> = current.into_iter().collect();
        self.role_inherits_replace(&mut *tx, &tenant.id, id, &all)
            .await
            .map_err(|e| match e {
                // The one cycle check names the cycle; over HTTP a cycle is a conflict
                // with the roles' current inheritance.
                CoreError::Invalid { field, reason } if field == "inherits" => {
                    CoreError::Conflict(format!("roles: {reason}"))
                }
                other => other,
            })?;
        let mut context = role_context(&role);
        context.insert("roles".to_owned(), json!(changed));
        let event = if add {
            "role.inherits.added"
        } else {
            "role.inherits.removed"
        };
        record(self, &mut *tx, tenant, event, context, meta).await?;
        tx.commit().await?;
        Ok(())
    }

    /// One page of the users (not deleted) holding a role tenant-wide; with `with_total`,
    /// also how many there are.
    pub async fn mgmt_role_users(
        &self,
        tenant: &Tenant,
        id: &RoleId,
        page: Page,
        with_total: bool,
    ) -> Result<(Vec<User>, i64), CoreError> {
        let mut tx = self.store.read().await?;
        load(&mut *tx, tenant, id).await?;
        let ids = tx.role_users(&tenant.id, id, page).await?;
        let mut users = Vec::with_capacity(ids.len());
        for u in &ids {
            if let Some(user) = tx.user_get(&tenant.id, u).await? {
                users.push(user);
            }
        }
        let total = if with_total {
            tx.role_user_count(&tenant.id, id).await?
        } else {
            0
        };
        Ok((users, total))
    }

    /// Assign a role to users tenant-wide (those who hold it already keep it).
    pub async fn mgmt_role_users_assign(
        &self,
        tenant: &Tenant,
        id: &RoleId,
        users: &[String],
        meta: &RequestMeta,
    ) -> Result<(), CoreError> {
        bounded_list("users", users)?;
        let mut tx = self.store.begin().await?;
        let role = load(&mut *tx, tenant, id).await?;
        let mut parsed = Vec::with_capacity(users.len());
        for (i, raw) in users.iter().enumerate() {
            let field = format!("users[{i}]");
            let user = UserId::parse(raw.trim())
                .map_err(|e| CoreError::invalid(field.clone(), e.reason))?;
            match tx.user_get(&tenant.id, &user).await? {
                Some(u) if u.deleted_at.is_none() => parsed.push(user),
                _ => {
                    return Err(CoreError::invalid(
                        field,
                        format!("no user has the id `{user}`"),
                    ));
                }
            }
        }
        let now = self.now();
        let mut assigned = BTreeSet::new();
        for user in parsed {
            if tx.user_role_add(&tenant.id, &user, id, now).await? {
                assigned.insert(user);
            }
        }
        if assigned.is_empty() {
            return Ok(());
        }
        let mut context = role_context(&role);
        context.insert("user_ids".to_owned(), json!(assigned));
        record(self, &mut *tx, tenant, "role.users.assigned", context, meta).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Append a Management API change's event in `tx`; the caller (in `meta`) is the actor.
pub(super) async fn record(
    core: &Core,
    tx: &mut dyn Tx,
    tenant: &Tenant,
    event_type: &str,
    context: JsonMap,
    meta: &RequestMeta,
) -> Result<(), CoreError> {
    let event = core.audit_event(
        &tenant.id,
        event_type,
        AuditActor::default(),
        None,
        context,
        meta,
    );
    core.audit_in(tx, event).await
}
