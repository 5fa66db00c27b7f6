//! Management API services: teams, a Clavis extension nested under organizations.
//!
//! A team belongs to one organization and is only ever reached through it: a team id of
//! another organization answers 404. `name` is a slug unique within the organization;
//! `display_name` defaults to it. Team members must be members of the organization (409
//! otherwise); leaving the organization ends team membership (the store cascades). Roles
//! held by a team apply to its members inside the organization. Every change and its
//! audit event (`team.*`, with the organization filled in) are written in one transaction.

use serde::{Deserialize, Serialize};
use serde_json::json;

use clavis_types::{OrgId, TeamId};

use super::organizations::{
    Listed, OrgMemberView, OrgMembersBody, OrgRoleRef, OrgRolesBody, audit_org, bounded, load_org,
    resolve_roles, resolve_users, slug, text,
};
use super::organizations::{is_member, member_views};
use crate::CoreError;
use crate::model::{AuditActor, JsonMap, Organization, Page, Team, Tenant};
use crate::ports::Tx;
use crate::service::{Core, RequestMeta};

/// Longest team description.
pub const MAX_TEAM_DESCRIPTION: usize = 2000;

/// What an administrator submits to create a team.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamInput {
    /// The slug: 1–63 characters of `a-z`, `0-9`, `-`, `_`; unique in the organization.
    pub name: String,
    /// Defaults to `name`; at most 255 characters.
    #[serde(default)]
    pub display_name: Option<String>,
    /// At most 2000 characters.
    #[serde(default)]
    pub description: Option<String>,
}

/// A change to a team: absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamPatch {
    pub name: Option<String>,
    pub display_name: Option<String>,
    pub description: Option<String>,
}

/// A team as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TeamView {
    pub id: String,
    pub organization_id: String,
    /// The slug.
    pub name: String,
    pub display_name: String,
    pub description: String,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&Team> for TeamView {
    fn from(t: &Team) -> Self {
        Self {
            id: t.id.to_string(),
            organization_id: t.org_id.to_string(),
            name: t.slug.to_string(),
            display_name: t.display_name.clone(),
            description: t.description.clone(),
            created_at: t.created_at.to_rfc3339(),
            updated_at: t.updated_at.to_rfc3339(),
        }
    }
}

fn description(s: &str) -> Result<String, CoreError> {
    let s = s.trim();
    bounded("description", s, MAX_TEAM_DESCRIPTION)?;
    Ok(s.to_owned())
}

fn team_context(t: &Team) -> JsonMap {
    let mut c = JsonMap::new();
    c.insert("org_id".into(), json!(t.org_id.to_string()));
    c.insert("team_id".into(), json!(t.id.to_string()));
    c.insert("slug".into(), json!(t.slug.to_string()));
    c.insert("display_name".into(), json!(t.display_name));
    c
}

fn name_taken(name: &clavis_types::Slug) -> CoreError {
    CoreError::Conflict(format!(
        "a team named `{name}` already exists in this organization"
    ))
}

/// The organization and its team `id` (404 when the team belongs to another).
async fn load(
    tx: &mut dyn Tx,
    tenant: &Tenant,
    org: &OrgId,
    id: &TeamId,
) -> Result<(Organization, Team), CoreError> {
    let org = load_org(tx, tenant, org).await?;
    let team = tx
        .team_get(&tenant.id, id)
        .await?
        .filter(|t| t.org_id == org.id)
        .ok_or(CoreError::NotFound("team"))?;
    Ok((org, team))
}

impl Core {
    /// Create a team in an organization.
    pub async fn team_create(
        &self,
        tenant: &Tenant,
        org: &OrgId,
        input: TeamInput,
        meta: &RequestMeta,
    ) -> Result<Team, CoreError> {
        let slug = slug("name", &input.name)?;
        let display_name = match &input.display_name {
            Some(d) => text("display_name", d, 255)?,
            None => slug.to_string(),
        };
        let description = description(input.description.as_deref().unwrap_or_default())?;
        let mut tx = self.store.begin().await?;
        let org = load_org(&mut *tx, tenant, org).await?;
        if tx
            .team_get_by_slug(&tenant.id, &org.id, &slug)
            .await?
            .is_some()
        {
            return Err(name_taken(&slug));
        }
        let now = self.now();
        let team = Team {
            tenant_id: tenant.id.clone(),
            org_id: org.id.clone(),
            id: TeamId::generate(now, &*self.rng),
            slug,
            display_name,
            description,
            created_at: now,
            updated_at: now,
        };
        tx.team_insert(&team).await.map_err(|e| match e {
            crate::StoreError::Conflict(_) => name_taken(&team.slug),
            other => other.into(),
        })?;
        self.team_event(&mut *tx, "team.created", &org, team_context(&team), meta)
            .await?;
        tx.commit().await?;
        Ok(team)
    }

    /// One page of an organization's teams, by id.
    pub async fn team_list(
        &self,
        tenant: &Tenant,
        org: &OrgId,
        page: Page,
    ) -> Result<Listed<Team>, CoreError> {
        let mut tx = self.store.read().await?;
        let org = load_org(&mut *tx, tenant, org).await?;
        let items = tx.team_list(&tenant.id, &org.id, page).await?;
        let total = tx.team_count(&tenant.id, &org.id).await?;
        Ok(Listed { items, total })
    }

    /// One team of an organization.
    pub async fn team_get(
        &self,
        tenant: &Tenant,
        org: &OrgId,
        id: &TeamId,
    ) -> Result<Team, CoreError> {
        let mut tx = self.store.read().await?;
        Ok(load(&mut *tx, tenant, org, id).await?.1)
    }

    /// Change a team.
    pub async fn team_update(
        &self,
        tenant: &Tenant,
        org: &OrgId,
        id: &TeamId,
        patch: TeamPatch,
        meta: &RequestMeta,
    ) -> Result<Team, CoreError> {
        let mut tx = self.store.begin().await?;
        let (org, mut team) = load(&mut *tx, tenant, org, id).await?;
        let before = team_context(&team);
        let mut changed = Vec::new();
        if let Some(name) = &patch.name {
            let s = slug("name", name)?;
            if s != team.slug {
                if tx
                    .team_get_by_slug(&tenant.id, &org.id, &s)
                    .await?
                    .is_some()
                {
                    return Err(name_taken(&s));
                }
                team.slug = s;
                changed.push("name");
            }
        }
        if let Some(d) = &patch.display_name {
            let d = text("display_name", d, 255)?;
            if d != team.display_name {
                team.display_name = d;
                changed.push("display_name");
            }
        }
        if let Some(d) = &patch.description {
            let d = description(d)?;
            if d != team.description {
                team.description = d;
                changed.push("description");
            }
        }
        if changed.is_empty() {
            return Ok(team);
        }
        team.updated_at = self.now();
        let slug = team.slug.clone();
        if !tx.team_update(&team).await.map_err(|e| match e {
            crate::StoreError::Conflict(_) => name_taken(&slug),
            other => other.into(),
        })? {
            return Err(CoreError::NotFound("team"));
        }
        let mut context = team_context(&team);
        context.insert("changed".into(), json!(changed));
        context.insert("before".into(), json!(before));
        self.team_event(&mut *tx, "team.updated", &org, context, meta)
            .await?;
        tx.commit().await?;
        Ok(team)
    }

    /// Delete a team with its memberships and roles.
    pub async fn team_delete(
        &self,
        tenant: &Tenant,
        org: &OrgId,
        id: &TeamId,
        meta: &RequestMeta,
    ) -> Result<(), CoreError> {
        let mut tx = self.store.begin().await?;
        let (org, team) = load(&mut *tx, tenant, org, id).await?;
        if !tx.team_delete(&tenant.id, &team.id).await? {
            return Err(CoreError::NotFound("team"));
        }
        self.team_event(&mut *tx, "team.deleted", &org, team_context(&team), meta)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// One page of a team's members, by user id.
    pub async fn team_member_list(
        &self,
        tenant: &Tenant,
        org: &OrgId,
        id: &TeamId,
        page: Page,
    ) -> Result<Listed<OrgMemberView>, CoreError> {
        let mut tx = self.store.read().await?;
        let (_, team) = load(&mut *tx, tenant, org, id).await?;
        let ids = tx.team_member_list(&tenant.id, &team.id, page).await?;
        let total = tx.team_member_count(&tenant.id, &team.id).await?;
        let items = member_views(&mut *tx, tenant, &ids).await?;
        Ok(Listed { items, total })
    }

    /// Add members of the organization to a team; 409 for a user who is not one.
    pub async fn team_members_add(
        &self,
        tenant: &Tenant,
        org: &OrgId,
        id: &TeamId,
        body: OrgMembersBody,
        meta: &RequestMeta,
    ) -> Result<(), CoreError> {
        let mut tx = self.store.begin().await?;
        let (org, team) = load(&mut *tx, tenant, org, id).await?;
        // Membership alone is checked: whether a user exists elsewhere in the tenant is
        // none of an organization administrator's business.
        let users = resolve_users(&mut *tx, tenant, &body.members, false).await?;
        for u in &users {
            if !is_member(&mut *tx, tenant, &org.id, u).await? {
                return Err(CoreError::Conflict(format!(
                    "user `{u}` is not a member of organization `{}`; add it to the \
                     organization first",
                    org.id
                )));
            }
        }
        let now = self.now();
        for u in &users {
            if tx.team_member_add(&tenant.id, &team.id, u, now).await? {
                let mut c = team_context(&team);
                c.insert("user_id".into(), json!(u.to_string()));
                self.team_event(&mut *tx, "team.member.added", &org, c, meta)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// Remove members from a team (users who are not in it are ignored).
    pub async fn team_members_remove(
        &self,
        tenant: &Tenant,
        org: &OrgId,
        id: &TeamId,
        body: OrgMembersBody,
        meta: &RequestMeta,
    ) -> Result<(), CoreError> {
        let mut tx = self.store.begin().await?;
        let (org, team) = load(&mut *tx, tenant, org, id).await?;
        let users = resolve_users(&mut *tx, tenant, &body.members, false).await?;
        for u in &users {
            if tx.team_member_remove(&tenant.id, &team.id, u).await? {
                let mut c = team_context(&team);
                c.insert("user_id".into(), json!(u.to_string()));
                self.team_event(&mut *tx, "team.member.removed", &org, c, meta)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// The roles a team holds, by name.
    pub async fn team_role_list(
        &self,
        tenant: &Tenant,
        org: &OrgId,
        id: &TeamId,
        page: Page,
    ) -> Result<Listed<OrgRoleRef>, CoreError> {
        let mut tx = self.store.read().await?;
        let (_, team) = load(&mut *tx, tenant, org, id).await?;
        let ids = tx.team_roles(&tenant.id, &team.id).await?;
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

    /// Assign roles to a team (`add`) or remove them (roles not held are ignored).
    pub async fn team_roles_change(
        &self,
        tenant: &Tenant,
        org: &OrgId,
        id: &TeamId,
        body: OrgRolesBody,
        add: bool,
        meta: &RequestMeta,
    ) -> Result<(), CoreError> {
        let mut tx = self.store.begin().await?;
        let (org, team) = load(&mut *tx, tenant, org, id).await?;
        let roles = resolve_roles(&mut *tx, tenant, &body.roles, false).await?;
        let now = self.now();
        let mut changed = Vec::new();
        for r in &roles {
            let done = if add {
                tx.team_role_add(&tenant.id, &team.id, &r.id, now).await?
            } else {
                tx.team_role_remove(&tenant.id, &team.id, &r.id).await?
            };
            if done {
                changed.push(r.id.to_string());
            }
        }
        if changed.is_empty() {
            return Ok(());
        }
        let mut c = team_context(&team);
        c.insert("roles".into(), json!(changed));
        let event_type = if add {
            "team.roles.assigned"
        } else {
            "team.roles.removed"
        };
        self.team_event(&mut *tx, event_type, &org, c, meta).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn team_event(
        &self,
        tx: &mut dyn Tx,
        event_type: &str,
        org: &Organization,
        context: JsonMap,
        meta: &RequestMeta,
    ) -> Result<(), CoreError> {
        let event = self.audit_event(
            &org.tenant_id,
            event_type,
            AuditActor::default(),
            Some(audit_org(org)),
            context,
            meta,
        );
        self.audit_in(tx, event).await
    }
}
