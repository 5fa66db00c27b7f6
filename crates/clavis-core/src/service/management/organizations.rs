//! Management API services: organizations (Auth0's `organizations`), their members and
//! members' roles ([`members`]), invitations ([`invitations`]) and enabled connections
//! ([`connections`]).
//!
//! Rules enforced here:
//! - `name` is the organization's slug (what `organization=` on `/authorize` names),
//!   unique within the tenant; `display_name` defaults to it;
//! - `metadata` is the model's [`OrgMetadata`]: known keys plus at most 25 free string
//!   pairs, every string bounded and free of control characters;
//! - `user_limit` (a Clavis extension) caps the members; adding members beyond it, or
//!   lowering it below the current count, is a conflict;
//! - every change and its audit event (`organization.*`, with the organization filled in)
//!   are written in one transaction; events never hold a secret.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::json;

use clavis_types::{OrgId, RoleId, Slug, UserId};

use crate::CoreError;
use crate::model::{
    AuditActor, AuditOrganization, JsonMap, OrgMetadata, Organization, Page, Role, Tenant,
};
use crate::ports::Tx;
use crate::service::{Core, RequestMeta};

mod connections;
mod invitations;
mod members;

pub use connections::{
    OrgConnectionInput, OrgConnectionPatch, OrgConnectionRef, OrgConnectionView,
};
pub use invitations::{
    DEFAULT_INVITATION_TTL, InvitationCreated, InvitationInput, InvitationInvitee,
    InvitationInviter, InvitationView, MAX_INVITATION_TTL,
};
pub use members::{OrgMemberView, OrgMembersBody, OrgRolesBody};
pub(crate) use members::{is_member, member_views};

/// Most free-form `metadata.extra` pairs (as Auth0 allows for organization metadata).
pub const MAX_METADATA_PAIRS: usize = 25;
/// Most users or roles one request may add or remove.
pub const MAX_BATCH: usize = 100;
/// Largest `user_limit`.
pub const MAX_USER_LIMIT: i64 = 100_000_000;

/// What an administrator submits to create an organization.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrgInput {
    /// The slug: 1–63 characters of `a-z`, `0-9`, `-`, `_`, starting with a letter or
    /// digit; unique within the tenant.
    pub name: String,
    /// Shown to people; defaults to `name`. At most 255 characters.
    #[serde(default)]
    pub display_name: Option<String>,
    /// `subscription_tier`, `feature_flags`, `compliance_requirements`,
    /// `data_residency` and at most 25 free string pairs under `extra`.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<OrgMetadata>,
    /// Most members the organization may have; absent or null for no limit.
    #[serde(default)]
    #[schema(minimum = 0)]
    pub user_limit: Option<i64>,
}

/// A change to an organization: absent fields stay as they are; `user_limit: null`
/// removes the limit.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrgPatch {
    pub name: Option<String>,
    pub display_name: Option<String>,
    /// Replaces the whole metadata.
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<OrgMetadata>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>, minimum = 0)]
    pub user_limit: Option<Option<i64>>,
}

/// `Some(value)` when the field is present (even `null`), `None` when absent.
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// An organization as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OrgView {
    pub id: String,
    /// The slug.
    pub name: String,
    pub display_name: String,
    #[schema(value_type = Object)]
    pub metadata: OrgMetadata,
    /// Most members; null for no limit.
    pub user_limit: Option<i64>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&Organization> for OrgView {
    fn from(o: &Organization) -> Self {
        Self {
            id: o.id.to_string(),
            name: o.slug.to_string(),
            display_name: o.display_name.clone(),
            metadata: o.metadata.clone(),
            user_limit: o.user_limit,
            created_at: o.created_at.to_rfc3339(),
            updated_at: o.updated_at.to_rfc3339(),
        }
    }
}

/// A role as shown in member and team role lists.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OrgRoleRef {
    pub id: String,
    pub name: String,
    pub description: String,
}

impl From<&Role> for OrgRoleRef {
    fn from(r: &Role) -> Self {
        Self {
            id: r.id.to_string(),
            name: r.name.clone(),
            description: r.description.clone(),
        }
    }
}

/// One page of a list and the total over all pages.
#[derive(Debug, Clone)]
pub struct Listed<T> {
    pub items: Vec<T>,
    pub total: i64,
}

/// A trimmed, non-empty text of at most `max` characters without control characters.
pub(crate) fn text(field: &str, s: &str, max: usize) -> Result<String, CoreError> {
    let s = s.trim();
    if s.is_empty() {
        return Err(CoreError::invalid(field, "must not be empty"));
    }
    bounded(field, s, max)?;
    Ok(s.to_owned())
}

/// At most `max` characters and no control characters (may be empty).
pub(crate) fn bounded(field: &str, s: &str, max: usize) -> Result<(), CoreError> {
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
    Ok(())
}

/// A slug from `s` (trimmed), the error naming `field`.
pub(crate) fn slug(field: &str, s: &str) -> Result<Slug, CoreError> {
    Slug::parse(s.trim()).map_err(|e| CoreError::invalid(field, e.reason))
}

/// The organization of an audit event.
pub(crate) fn audit_org(o: &Organization) -> AuditOrganization {
    AuditOrganization {
        org_id: o.id.to_string(),
        name: Some(o.slug.to_string()),
    }
}

/// A JSON object of at most 16 KiB once serialised.
pub(crate) fn small_json(field: &str, m: &JsonMap) -> Result<(), CoreError> {
    if serde_json::to_vec(m).map_or(usize::MAX, |v| v.len()) > 16 * 1024 {
        return Err(CoreError::invalid(field, "must be at most 16 KiB of JSON"));
    }
    Ok(())
}

pub(crate) async fn load_org(
    tx: &mut dyn Tx,
    tenant: &Tenant,
    id: &OrgId,
) -> Result<Organization, CoreError> {
    tx.org_get(&tenant.id, id)
        .await?
        .ok_or(CoreError::NotFound("organization"))
}

/// Parse and look up the roles named in `ids` (field `roles[i]`), without duplicates.
pub(crate) async fn resolve_roles(
    tx: &mut dyn Tx,
    tenant: &Tenant,
    ids: &[String],
    allow_empty: bool,
) -> Result<Vec<Role>, CoreError> {
    if ids.is_empty() && !allow_empty {
        return Err(CoreError::invalid("roles", "must name at least one role"));
    }
    if ids.len() > MAX_BATCH {
        return Err(CoreError::invalid(
            "roles",
            format!("at most {MAX_BATCH} roles per request"),
        ));
    }
    let mut roles: Vec<Role> = Vec::with_capacity(ids.len());
    for (i, id) in ids.iter().enumerate() {
        let field = format!("roles[{i}]");
        let id = RoleId::parse(id.trim()).map_err(|e| CoreError::invalid(&field, e.reason))?;
        if roles.iter().any(|r| r.id == id) {
            continue;
        }
        let role = tx
            .role_get(&tenant.id, &id)
            .await?
            .ok_or_else(|| CoreError::invalid(&field, "no such role"))?;
        roles.push(role);
    }
    Ok(roles)
}

/// Parse the user ids of `ids` (field `members[i]`), without duplicates; with `exist`,
/// each must name a user of the tenant that is not deleted.
pub(crate) async fn resolve_users(
    tx: &mut dyn Tx,
    tenant: &Tenant,
    ids: &[String],
    exist: bool,
) -> Result<Vec<UserId>, CoreError> {
    if ids.is_empty() {
        return Err(CoreError::invalid("members", "must name at least one user"));
    }
    if ids.len() > MAX_BATCH {
        return Err(CoreError::invalid(
            "members",
            format!("at most {MAX_BATCH} users per request"),
        ));
    }
    let mut users: Vec<UserId> = Vec::with_capacity(ids.len());
    for (i, id) in ids.iter().enumerate() {
        let field = format!("members[{i}]");
        let id = UserId::parse(id.trim()).map_err(|e| CoreError::invalid(&field, e.reason))?;
        if users.contains(&id) {
            continue;
        }
        if exist {
            let found = tx.user_get(&tenant.id, &id).await?;
            if found.is_none_or(|u| u.deleted_at.is_some()) {
                return Err(CoreError::invalid(&field, "no such user"));
            }
        }
        users.push(id);
    }
    Ok(users)
}

fn validate_metadata(m: OrgMetadata) -> Result<OrgMetadata, CoreError> {
    let opt = |field: &str, v: Option<String>| -> Result<Option<String>, CoreError> {
        v.map(|s| text(field, &s, 255)).transpose()
    };
    let subscription_tier = opt("metadata.subscription_tier", m.subscription_tier)?;
    let data_residency = opt("metadata.data_residency", m.data_residency)?;
    if m.feature_flags.len() > 100 {
        return Err(CoreError::invalid(
            "metadata.feature_flags",
            "at most 100 flags",
        ));
    }
    for k in m.feature_flags.keys() {
        text("metadata.feature_flags", k, 255)?;
    }
    if m.compliance_requirements.len() > 50 {
        return Err(CoreError::invalid(
            "metadata.compliance_requirements",
            "at most 50 items",
        ));
    }
    let compliance_requirements = m
        .compliance_requirements
        .iter()
        .enumerate()
        .map(|(i, c)| text(&format!("metadata.compliance_requirements[{i}]"), c, 255))
        .collect::<Result<Vec<_>, _>>()?;
    if m.extra.len() > MAX_METADATA_PAIRS {
        return Err(CoreError::invalid(
            "metadata.extra",
            format!("at most {MAX_METADATA_PAIRS} pairs"),
        ));
    }
    for (k, v) in &m.extra {
        text("metadata.extra", k, 255)?;
        bounded(&format!("metadata.extra.{k}"), v, 255)?;
    }
    Ok(OrgMetadata {
        subscription_tier,
        feature_flags: m.feature_flags,
        compliance_requirements,
        data_residency,
        extra: m.extra,
    })
}

fn validate_limit(limit: Option<i64>) -> Result<Option<i64>, CoreError> {
    match limit {
        Some(n) if !(0..=MAX_USER_LIMIT).contains(&n) => Err(CoreError::invalid(
            "user_limit",
            format!("must be between 0 and {MAX_USER_LIMIT}"),
        )),
        other => Ok(other),
    }
}

fn org_context(o: &Organization) -> JsonMap {
    let mut c = JsonMap::new();
    c.insert("org_id".into(), json!(o.id.to_string()));
    c.insert("slug".into(), json!(o.slug.to_string()));
    c.insert("display_name".into(), json!(o.display_name));
    c.insert("user_limit".into(), json!(o.user_limit));
    c
}

fn name_taken(name: &Slug) -> CoreError {
    CoreError::Conflict(format!("an organization named `{name}` already exists"))
}

impl Core {
    /// For an organization's administrator: `Err` (the role's name) unless every role in
    /// `ids` is one the tenant lets organizations assign (`org_assignable_roles`).
    /// Malformed or unknown ids pass here; the operation itself reports them.
    pub async fn org_roles_assignable(
        &self,
        tenant: &Tenant,
        ids: &[String],
    ) -> Result<Result<(), String>, CoreError> {
        let allowed = &tenant.settings.org_assignable_roles;
        let mut tx = self.store.read().await?;
        for id in ids.iter().take(MAX_BATCH) {
            let Ok(id) = RoleId::parse(id.trim()) else {
                continue;
            };
            if let Some(role) = tx.role_get(&tenant.id, &id).await?
                && !allowed.contains(&role.name)
            {
                return Ok(Err(role.name));
            }
        }
        Ok(Ok(()))
    }
}

impl Core {
    /// Create an organization.
    pub async fn org_create(
        &self,
        tenant: &Tenant,
        input: OrgInput,
        meta: &RequestMeta,
    ) -> Result<Organization, CoreError> {
        let slug = slug("name", &input.name)?;
        let display_name = match &input.display_name {
            Some(d) => text("display_name", d, 255)?,
            None => slug.to_string(),
        };
        let metadata = validate_metadata(input.metadata.unwrap_or_default())?;
        let user_limit = validate_limit(input.user_limit)?;
        let now = self.now();
        let org = Organization {
            tenant_id: tenant.id.clone(),
            id: OrgId::generate(now, &*self.rng),
            slug,
            display_name,
            metadata,
            user_limit,
            created_at: now,
            updated_at: now,
        };
        let mut tx = self.store.begin().await?;
        if tx.org_get_by_slug(&tenant.id, &org.slug).await?.is_some() {
            return Err(name_taken(&org.slug));
        }
        tx.org_insert(&org).await.map_err(|e| match e {
            crate::StoreError::Conflict(_) => name_taken(&org.slug),
            other => other.into(),
        })?;
        let event = self.audit_event(
            &tenant.id,
            "organization.created",
            AuditActor::default(),
            Some(audit_org(&org)),
            org_context(&org),
            meta,
        );
        self.audit_in(&mut *tx, event).await?;
        tx.commit().await?;
        Ok(org)
    }

    /// One page of the tenant's organizations, by id.
    pub async fn org_list(
        &self,
        tenant: &Tenant,
        page: Page,
    ) -> Result<Listed<Organization>, CoreError> {
        let mut tx = self.store.read().await?;
        let items = tx.org_list(&tenant.id, page).await?;
        let total = tx.org_count(&tenant.id).await?;
        Ok(Listed { items, total })
    }

    /// One organization.
    pub async fn org_get(&self, tenant: &Tenant, id: &OrgId) -> Result<Organization, CoreError> {
        let mut tx = self.store.read().await?;
        load_org(&mut *tx, tenant, id).await
    }

    /// The organization with this `name` (slug).
    pub async fn org_get_by_name(
        &self,
        tenant: &Tenant,
        name: &str,
    ) -> Result<Organization, CoreError> {
        let slug = Slug::parse(name).map_err(|e| CoreError::invalid("name", e.reason))?;
        let mut tx = self.store.read().await?;
        tx.org_get_by_slug(&tenant.id, &slug)
            .await?
            .ok_or(CoreError::NotFound("organization"))
    }

    /// Change an organization.
    pub async fn org_update(
        &self,
        tenant: &Tenant,
        id: &OrgId,
        patch: OrgPatch,
        meta: &RequestMeta,
    ) -> Result<Organization, CoreError> {
        let mut tx = self.store.begin().await?;
        let mut org = load_org(&mut *tx, tenant, id).await?;
        let before = org_context(&org);
        let mut changed = Vec::new();
        if let Some(name) = &patch.name {
            let s = slug("name", name)?;
            if s != org.slug {
                if tx.org_get_by_slug(&tenant.id, &s).await?.is_some() {
                    return Err(name_taken(&s));
                }
                org.slug = s;
                changed.push("name");
            }
        }
        if let Some(d) = &patch.display_name {
            let d = text("display_name", d, 255)?;
            if d != org.display_name {
                org.display_name = d;
                changed.push("display_name");
            }
        }
        if let Some(m) = patch.metadata {
            let m = validate_metadata(m)?;
            if m != org.metadata {
                org.metadata = m;
                changed.push("metadata");
            }
        }
        if let Some(limit) = patch.user_limit {
            let limit = validate_limit(limit)?;
            if limit != org.user_limit {
                if let Some(n) = limit {
                    let members = tx.member_count(&tenant.id, &org.id).await?;
                    if members > n {
                        return Err(CoreError::Conflict(format!(
                            "the organization has {members} members, more than user_limit {n}"
                        )));
                    }
                }
                org.user_limit = limit;
                changed.push("user_limit");
            }
        }
        if changed.is_empty() {
            return Ok(org);
        }
        org.updated_at = self.now();
        let slug = org.slug.clone();
        if !tx.org_update(&org).await.map_err(|e| match e {
            crate::StoreError::Conflict(_) => name_taken(&slug),
            other => other.into(),
        })? {
            return Err(CoreError::NotFound("organization"));
        }
        let mut context = org_context(&org);
        context.insert("changed".into(), json!(changed));
        context.insert("before".into(), json!(before));
        let event = self.audit_event(
            &tenant.id,
            "organization.updated",
            AuditActor::default(),
            Some(audit_org(&org)),
            context,
            meta,
        );
        self.audit_in(&mut *tx, event).await?;
        tx.commit().await?;
        Ok(org)
    }

    /// Delete an organization with its memberships, member roles, teams, invitations,
    /// enabled connections and API keys.
    pub async fn org_delete(
        &self,
        tenant: &Tenant,
        id: &OrgId,
        meta: &RequestMeta,
    ) -> Result<(), CoreError> {
        let mut tx = self.store.begin().await?;
        let org = load_org(&mut *tx, tenant, id).await?;
        let members = tx.member_count(&tenant.id, &org.id).await?;
        if !tx.org_delete(&tenant.id, &org.id).await? {
            return Err(CoreError::NotFound("organization"));
        }
        let mut context = org_context(&org);
        context.insert("members".into(), json!(members));
        let event = self.audit_event(
            &tenant.id,
            "organization.deleted",
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
