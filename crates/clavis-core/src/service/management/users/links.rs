//! What hangs off a user: tenant-wide role assignments (`user.roles.assigned`,
//! `user.roles.removed`), the organizations they belong to, their effective tenant-wide
//! permissions (from the one decision library, [`crate::authz`]) and unlinking an identity
//! (`user.identity.unlinked`; the last identity is never removed).

use clavis_types::{ConnectionId, RoleId, UserId};
use serde::Serialize;
use serde_json::json;
use std::collections::{BTreeMap, HashMap};

use super::{live_user, user_context};
use crate::CoreError;
use crate::model::{Api, JsonMap, Page, Tenant};
use crate::ports::Tx;
use crate::service::{Core, RequestMeta};

/// Most roles one assignment request may name.
pub const MAX_ROLES_PER_REQUEST: usize = 50;

/// A role assigned to a user (Auth0's `GET /users/{id}/roles` item).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UserRoleView {
    pub id: String,
    pub name: String,
    pub description: String,
}

/// An organization a user belongs to (Auth0's `GET /users/{id}/organizations` item).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UserOrganizationView {
    pub id: String,
    /// The organization's slug (what `organization=` on `/authorize` names).
    pub name: String,
    pub display_name: String,
    #[schema(value_type = Object)]
    pub metadata: serde_json::Value,
}

/// Where an effective permission comes from.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PermissionSource {
    /// The role assigned to the user.
    pub source_id: String,
    pub source_name: String,
    /// Always `ROLE`.
    pub source_type: String,
}

/// A permission the user holds tenant-wide (Auth0's `GET /users/{id}/permissions` item).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UserPermissionView {
    pub permission_name: String,
    pub description: String,
    /// The Api's identifier (audience).
    pub resource_server_identifier: String,
    pub resource_server_name: String,
    pub sources: Vec<PermissionSource>,
}

impl Core {
    /// The user's tenant-wide roles, by name.
    pub async fn mgmt_user_roles(
        &self,
        tenant: &Tenant,
        id: &UserId,
    ) -> Result<Vec<UserRoleView>, CoreError> {
        let mut tx = self.store.read().await?;
        let user = live_user(&mut *tx, tenant, id).await?;
        let mut out = Vec::new();
        for r in tx.user_roles(&tenant.id, &user.id).await? {
            if let Some(role) = tx.role_get(&tenant.id, &r).await? {
                out.push(UserRoleView {
                    id: role.id.to_string(),
                    name: role.name,
                    description: role.description,
                });
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.id.cmp(&b.id)));
        Ok(out)
    }

    /// Assign (`assign = true`) or remove tenant-wide roles. Every id must be a role of
    /// the tenant (invalid `roles[i]` otherwise). One event names the roles whose
    /// assignment actually changed; none when nothing changed.
    pub async fn mgmt_user_roles_change(
        &self,
        tenant: &Tenant,
        id: &UserId,
        roles: &[String],
        assign: bool,
        meta: &RequestMeta,
    ) -> Result<(), CoreError> {
        if roles.is_empty() {
            return Err(CoreError::invalid("roles", "must name at least one role"));
        }
        if roles.len() > MAX_ROLES_PER_REQUEST {
            return Err(CoreError::invalid(
                "roles",
                format!("at most {MAX_ROLES_PER_REQUEST} roles per request"),
            ));
        }
        let mut ids = Vec::with_capacity(roles.len());
        for (i, r) in roles.iter().enumerate() {
            let id = RoleId::parse(r.trim()).map_err(|_| {
                CoreError::invalid(
                    format!("roles[{i}]"),
                    "expected a role id starting with `rol_`",
                )
            })?;
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let user = live_user(&mut *tx, tenant, id).await?;
        for (i, r) in ids.iter().enumerate() {
            if tx.role_get(&tenant.id, r).await?.is_none() {
                return Err(CoreError::invalid(
                    format!("roles[{i}]"),
                    "no role of this tenant has that id",
                ));
            }
        }
        let mut changed = Vec::new();
        for r in &ids {
            let did = if assign {
                tx.user_role_add(&tenant.id, &user.id, r, now).await?
            } else {
                tx.user_role_remove(&tenant.id, &user.id, r).await?
            };
            if did {
                changed.push(r.as_str().to_owned());
            }
        }
        if changed.is_empty() {
            return Ok(());
        }
        let mut context = user_context(&user);
        context.insert("role_ids".into(), json!(changed));
        let kind = if assign {
            "user.roles.assigned"
        } else {
            "user.roles.removed"
        };
        let event = self.audit_event(&tenant.id, kind, Default::default(), None, context, meta);
        self.audit_in(&mut *tx, event).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The organizations the user belongs to, by name.
    pub async fn mgmt_user_organizations(
        &self,
        tenant: &Tenant,
        id: &UserId,
    ) -> Result<Vec<UserOrganizationView>, CoreError> {
        let mut tx = self.store.read().await?;
        let user = live_user(&mut *tx, tenant, id).await?;
        let mut out = Vec::new();
        for o in tx.member_orgs(&tenant.id, &user.id).await? {
            if let Some(org) = tx.org_get(&tenant.id, &o).await? {
                out.push(UserOrganizationView {
                    id: org.id.to_string(),
                    name: org.slug.to_string(),
                    display_name: org.display_name,
                    metadata: serde_json::to_value(&org.metadata).unwrap_or_else(|_| json!({})),
                });
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// The permissions the user holds tenant-wide (outside any organization) on every Api
    /// of the tenant, as the decision library computes them; empty for a blocked user.
    pub async fn mgmt_user_permissions(
        &self,
        tenant: &Tenant,
        id: &UserId,
    ) -> Result<Vec<UserPermissionView>, CoreError> {
        let apis = {
            let mut tx = self.store.read().await?;
            live_user(&mut *tx, tenant, id).await?;
            all_apis(&mut *tx, tenant).await?
        };
        let mut role_names: HashMap<RoleId, String> = HashMap::new();
        let mut out = Vec::new();
        for api in &apis {
            let held = self
                .effective_permissions(tenant, id, None, &api.id)
                .await?;
            if held.is_empty() {
                continue;
            }
            let descriptions: BTreeMap<&str, &str> = api
                .permissions
                .iter()
                .map(|p| (p.value.as_str(), p.description.as_str()))
                .collect();
            for name in held.names() {
                let mut sources = Vec::new();
                if let Some(role) = held.grant(name).and_then(|g| g.role_id()) {
                    if !role_names.contains_key(role) {
                        let mut tx = self.store.read().await?;
                        let n = tx
                            .role_get(&tenant.id, role)
                            .await?
                            .map(|r| r.name)
                            .unwrap_or_default();
                        role_names.insert(role.clone(), n);
                    }
                    sources.push(PermissionSource {
                        source_id: role.to_string(),
                        source_name: role_names.get(role).cloned().unwrap_or_default(),
                        source_type: "ROLE".into(),
                    });
                }
                out.push(UserPermissionView {
                    permission_name: name.to_owned(),
                    description: descriptions
                        .get(name)
                        .copied()
                        .unwrap_or_default()
                        .to_owned(),
                    resource_server_identifier: api.identifier.clone(),
                    resource_server_name: api.name.clone(),
                    sources,
                });
            }
        }
        Ok(out)
    }

    /// Unlink one identity of the user. The primary identity (the database identity whose
    /// subject is the user id) and the last identity are never removed (409).
    pub async fn mgmt_user_identity_unlink(
        &self,
        tenant: &Tenant,
        id: &UserId,
        connection: &ConnectionId,
        subject: &str,
        meta: &RequestMeta,
    ) -> Result<(), CoreError> {
        let mut tx = self.store.begin().await?;
        let user = live_user(&mut *tx, tenant, id).await?;
        let identities = tx.identity_list(&tenant.id, &user.id).await?;
        if !identities
            .iter()
            .any(|i| &i.connection_id == connection && i.subject == subject)
        {
            return Err(CoreError::NotFound("identity"));
        }
        if subject == user.id.as_str() {
            return Err(CoreError::Conflict(
                "the user's primary identity cannot be unlinked".into(),
            ));
        }
        if identities.len() <= 1 {
            return Err(CoreError::Conflict(
                "this is the user's only identity; delete the user instead".into(),
            ));
        }
        if !tx.identity_delete(&tenant.id, connection, subject).await? {
            return Err(CoreError::NotFound("identity"));
        }
        let mut context: JsonMap = user_context(&user);
        context.insert("connection_id".into(), json!(connection.as_str()));
        let event = self.audit_event(
            &tenant.id,
            "user.identity.unlinked",
            Default::default(),
            None,
            context,
            meta,
        );
        self.audit_in(&mut *tx, event).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Every Api of the tenant.
async fn all_apis(tx: &mut dyn Tx, tenant: &Tenant) -> Result<Vec<Api>, CoreError> {
    let mut out = Vec::new();
    let mut page = Page::first();
    loop {
        let batch = tx.api_list(&tenant.id, page).await?;
        let done = batch.len() < page.limit() as usize;
        out.extend(batch);
        if done {
            return Ok(out);
        }
        page = page.next();
    }
}
