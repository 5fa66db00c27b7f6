//! Members of an organization and the roles they hold inside it. Adding members honours
//! the organization's `user_limit`; removing a member also ends its team memberships and
//! roles in the organization (the store cascades). Membership and role changes bump the
//! tenant's authorization version (the store does it).

use serde::{Deserialize, Serialize};
use serde_json::json;

use clavis_types::{ConnectionStrategy, OrgId, UserId};

use super::{Listed, OrgRoleRef, audit_org, load_org, resolve_roles, resolve_users};
use crate::CoreError;
use crate::model::{AuditActor, JsonMap, Organization, Page, Tenant};
use crate::ports::Tx;
use crate::service::{Core, RequestMeta};

/// `{"members": ["usr_…", …]}`: the users to add or remove.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrgMembersBody {
    /// 1 to 100 user ids.
    pub members: Vec<String>,
}

/// `{"roles": ["rol_…", …]}`: the roles to assign or remove.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrgRolesBody {
    /// 1 to 100 role ids.
    pub roles: Vec<String>,
}

/// A member as the API lists it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OrgMemberView {
    pub user_id: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub picture: Option<String>,
}

/// The views of `ids`, in order (a user record that vanished shows only its id).
pub(crate) async fn member_views(
    tx: &mut dyn Tx,
    tenant: &Tenant,
    ids: &[UserId],
) -> Result<Vec<OrgMemberView>, CoreError> {
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let user = tx.user_get(&tenant.id, id).await?;
        out.push(OrgMemberView {
            user_id: id.to_string(),
            email: user
                .as_ref()
                .and_then(|u| u.email.as_ref().map(ToString::to_string)),
            name: user.as_ref().and_then(|u| u.profile.name.clone()),
            picture: user.as_ref().and_then(|u| u.profile.picture.clone()),
        });
    }
    Ok(out)
}

/// Whether `user` is a member of `org`.
pub(crate) async fn is_member(
    tx: &mut dyn Tx,
    tenant: &Tenant,
    org: &OrgId,
    user: &UserId,
) -> Result<bool, CoreError> {
    Ok(tx.member_orgs(&tenant.id, user).await?.contains(org))
}

fn member_context(org: &Organization, user: &UserId) -> JsonMap {
    let mut c = JsonMap::new();
    c.insert("org_id".into(), json!(org.id.to_string()));
    c.insert("user_id".into(), json!(user.to_string()));
    c
}

impl Core {
    /// Membership on login (Auth0's auto-membership): when the user is not a member of
    /// `org` but logged in with a connection the organization enabled with
    /// `assign_membership_on_login`, add them. The connection is told by the session's
    /// `amr`: `otp` sessions come from an `email` connection — one of the organization's
    /// auto-membership `email` connections at which the user has an identity (a code login
    /// records it; sessions do not record their connection) — the others from the
    /// tenant's database connection. Added
    /// in a transaction of its own (token issuance must not compute permissions after an
    /// uncommitted membership change). `false` when nothing was added: no such
    /// connection, or the organization is full.
    pub async fn join_on_login(
        &self,
        tenant: &Tenant,
        org: &Organization,
        user: &UserId,
        amr: &[String],
        meta: &RequestMeta,
    ) -> Result<bool, CoreError> {
        let mut tx = self.store.begin().await?;
        let enabled = if amr.iter().any(|m| m == "otp") {
            // Only a connection the user has logged in through: their identity at it
            // (a code login records it). Another organization's `email` connection does
            // not make the user a member of this one.
            let identities = tx.identity_list(&tenant.id, user).await?;
            let mut any = false;
            for oc in tx
                .org_connection_list(&tenant.id, &org.id, Page::new(0, 100))
                .await?
                .into_iter()
                .filter(|oc| oc.assign_membership_on_login)
                .filter(|oc| {
                    identities
                        .iter()
                        .any(|i| i.connection_id == oc.connection_id)
                })
            {
                any |= tx
                    .connection_get(&tenant.id, &oc.connection_id)
                    .await?
                    .is_some_and(|c| c.strategy == ConnectionStrategy::Email);
            }
            any
        } else {
            let Some(connection) = tx
                .connection_get_by_name(&tenant.id, crate::service::DEFAULT_CONNECTION)
                .await?
            else {
                return Ok(false);
            };
            tx.org_connection_get(&tenant.id, &org.id, &connection.id)
                .await?
                .is_some_and(|c| c.assign_membership_on_login)
        };
        if !enabled || !tx.member_add(&tenant.id, &org.id, user, self.now()).await? {
            return Ok(false);
        }
        if let Some(limit) = org.user_limit
            && tx.member_count(&tenant.id, &org.id).await? > limit
        {
            return Ok(false);
        }
        let mut context = member_context(org, user);
        context.insert("reason".into(), json!("assign_membership_on_login"));
        let event = self.audit_event(
            &tenant.id,
            "organization.member.added",
            AuditActor {
                user_id: Some(user.to_string()),
                ..AuditActor::default()
            },
            Some(audit_org(org)),
            context,
            meta,
        );
        self.audit_in(&mut *tx, event).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// One page of an organization's members, by user id.
    pub async fn org_member_list(
        &self,
        tenant: &Tenant,
        org: &OrgId,
        page: Page,
    ) -> Result<Listed<OrgMemberView>, CoreError> {
        let mut tx = self.store.read().await?;
        let org = load_org(&mut *tx, tenant, org).await?;
        let ids = tx.member_list(&tenant.id, &org.id, page).await?;
        let total = tx.member_count(&tenant.id, &org.id).await?;
        let items = member_views(&mut *tx, tenant, &ids).await?;
        Ok(Listed { items, total })
    }

    /// Add users as members (those already members are left as they are). 409 when the
    /// organization would exceed its `user_limit`.
    pub async fn org_members_add(
        &self,
        tenant: &Tenant,
        org: &OrgId,
        body: OrgMembersBody,
        meta: &RequestMeta,
    ) -> Result<(), CoreError> {
        let mut tx = self.store.begin().await?;
        let org = load_org(&mut *tx, tenant, org).await?;
        let users = resolve_users(&mut *tx, tenant, &body.members, true).await?;
        let now = self.now();
        let mut added = Vec::new();
        for u in &users {
            if tx.member_add(&tenant.id, &org.id, u, now).await? {
                added.push(u);
            }
        }
        if let Some(limit) = org.user_limit {
            let n = tx.member_count(&tenant.id, &org.id).await?;
            if n > limit {
                return Err(CoreError::Conflict(format!(
                    "the organization allows at most {limit} members (user_limit); \
                     adding these would make {n}"
                )));
            }
        }
        for u in added {
            let event = self.audit_event(
                &tenant.id,
                "organization.member.added",
                AuditActor::default(),
                Some(audit_org(&org)),
                member_context(&org, u),
                meta,
            );
            self.audit_in(&mut *tx, event).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Remove members (users who are not members are ignored), with their team
    /// memberships and roles in the organization.
    pub async fn org_members_remove(
        &self,
        tenant: &Tenant,
        org: &OrgId,
        body: OrgMembersBody,
        meta: &RequestMeta,
    ) -> Result<(), CoreError> {
        let mut tx = self.store.begin().await?;
        let org = load_org(&mut *tx, tenant, org).await?;
        let users = resolve_users(&mut *tx, tenant, &body.members, false).await?;
        for u in &users {
            if tx.member_remove(&tenant.id, &org.id, u).await? {
                let event = self.audit_event(
                    &tenant.id,
                    "organization.member.removed",
                    AuditActor::default(),
                    Some(audit_org(&org)),
                    member_context(&org, u),
                    meta,
                );
                self.audit_in(&mut *tx, event).await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// The roles a member holds in the organization, by name.
    pub async fn org_member_roles(
        &self,
        tenant: &Tenant,
        org: &OrgId,
        user: &UserId,
        page: Page,
    ) -> Result<Listed<OrgRoleRef>, CoreError> {
        let mut tx = self.store.read().await?;
        let org = load_org(&mut *tx, tenant, org).await?;
        if !is_member(&mut *tx, tenant, &org.id, user).await? {
            return Err(CoreError::NotFound("organization member"));
        }
        let ids = tx.member_roles(&tenant.id, &org.id, user).await?;
        let mut roles = Vec::with_capacity(ids.len());
        for id in &ids {
            if let Some(r) = tx.role_get(&tenant.id, id).await? {
                roles.push(OrgRoleRef::from(&r));
            }
        }
        roles.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.id.cmp(&b.id)));
        let (items, total) = page.window(roles);
        Ok(Listed { items, total })
    }

    /// Assign roles to a member inside the organization.
    pub async fn org_member_roles_add(
        &self,
        tenant: &Tenant,
        org: &OrgId,
        user: &UserId,
        body: OrgRolesBody,
        meta: &RequestMeta,
    ) -> Result<(), CoreError> {
        self.org_member_roles_change(tenant, org, user, body, true, meta)
            .await
    }

    /// Remove roles from a member inside the organization (roles not held are ignored).
    pub async fn org_member_roles_remove(
        &self,
        tenant: &Tenant,
        org: &OrgId,
        user: &UserId,
        body: OrgRolesBody,
        meta: &RequestMeta,
    ) -> Result<(), CoreError> {
        self.org_member_roles_change(tenant, org, user, body, false, meta)
            .await
    }

    async fn org_member_roles_change(
        &self,
        tenant: &Tenant,
        org: &OrgId,
        user: &UserId,
        body: OrgRolesBody,
        add: bool,
        meta: &RequestMeta,
    ) -> Result<(), CoreError> {
        let mut tx = self.store.begin().await?;
        let org = load_org(&mut *tx, tenant, org).await?;
        if !is_member(&mut *tx, tenant, &org.id, user).await? {
            return Err(CoreError::NotFound("organization member"));
        }
        let roles = resolve_roles(&mut *tx, tenant, &body.roles, false).await?;
        let now = self.now();
        let mut changed = Vec::new();
        for r in &roles {
            let done = if add {
                tx.member_role_add(&tenant.id, &org.id, user, &r.id, now)
                    .await?
            } else {
                tx.member_role_remove(&tenant.id, &org.id, user, &r.id)
                    .await?
            };
            if done {
                changed.push(r.id.to_string());
            }
        }
        if changed.is_empty() {
            return Ok(());
        }
        let mut context = member_context(&org, user);
        context.insert("roles".into(), json!(changed));
        let event_type = if add {
            "organization.member.roles.assigned"
        } else {
            "organization.member.roles.removed"
        };
        let event = self.audit_event(
            &tenant.id,
            event_type,
            AuditActor::default(),
            Some(audit_org(&org)),
            context,
            meta,
        );
        self.audit_in(&mut *tx, event).await?;
        tx.commit().await?;
        Ok(())
    }
}
