//! The directory half of `apply`: users (with their tenant-wide roles) and organizations
//! (with members, member roles and teams). Assignments are only ever added.

use clavis_crypto::hash_password;
use clavis_types::{Email, OrgId, TeamId, UserId};
use std::collections::HashSet;

use super::ResourceKind;
use super::apply::Run;
use super::document::{OrganizationDoc, TeamDoc, TenantDoc, UserDoc};
use crate::CoreError;
use crate::model::{Identity, JsonMap, Organization, Team, User, UserProfile};
use crate::service::DEFAULT_CONNECTION;

/// Copy the managed fields the entry gives onto `u`.
fn set_user_fields(u: &mut User, d: &UserDoc) {
    u.email_verified = d.email_verified.unwrap_or(u.email_verified);
    u.blocked = d.blocked.unwrap_or(u.blocked);
    let profile = [
        (&mut u.profile.name, &d.name),
        (&mut u.profile.given_name, &d.given_name),
        (&mut u.profile.family_name, &d.family_name),
        (&mut u.profile.nickname, &d.nickname),
        (&mut u.profile.picture, &d.picture),
        (&mut u.profile.locale, &d.locale),
    ];
    for (field, value) in profile {
        if value.is_some() {
            field.clone_from(value);
        }
    }
    if let Some(m) = &d.user_metadata {
        u.user_metadata.clone_from(m);
    }
    if let Some(m) = &d.app_metadata {
        u.app_metadata.clone_from(m);
    }
}

impl Run<'_> {
    async fn user_id(&mut self, email: &Email) -> Result<UserId, CoreError> {
        if let Some(id) = self.users.get(email) {
            return Ok(id.clone());
        }
        let user = self
            .tx
            .user_get_by_email(&self.tenant.id, email)
            .await?
            .ok_or(CoreError::NotFound("user"))?;
        self.users.insert(email.clone(), user.id.clone());
        Ok(user.id)
    }

    pub(super) async fn users(&mut self, t: &TenantDoc) -> Result<(), CoreError> {
        for (ui, u) in t.users.iter().enumerate() {
            let key = self.key(u.email.as_str());
            let (id, created, mut changed) =
                match self.tx.user_get_by_email(&self.tenant.id, &u.email).await? {
                    Some(old) => {
                        let mut new = old.clone();
                        set_user_fields(&mut new, u);
                        let changed = new != old;
                        if changed {
                            new.updated_at = self.now;
                            self.tx.user_update(&new).await?;
                        }
                        (old.id, false, changed)
                    }
                    None => (self.create_user(ui, u).await?, true, false),
                };
            self.users.insert(u.email.clone(), id.clone());
            let have = if created {
                Vec::new()
            } else {
                self.tx.user_roles(&self.tenant.id, &id).await?
            };
            for name in &u.roles {
                let role = self.role_id(name).await?;
                if !have.contains(&role) {
                    self.tx
                        .user_role_add(&self.tenant.id, &id, &role, self.now)
                        .await?;
                    changed = true;
                }
            }
            self.report
                .record(ResourceKind::User, key, created, changed);
        }
        Ok(())
    }

    /// A new user with their initial password (if any) and an identity on the tenant's
    /// database connection.
    async fn create_user(&mut self, ui: usize, u: &UserDoc) -> Result<UserId, CoreError> {
        let mut user = User {
            tenant_id: self.tenant.id.clone(),
            id: UserId::generate(self.now, &*self.core.rng),
            email: Some(u.email.clone()),
            email_verified: false,
            profile: UserProfile::default(),
            user_metadata: JsonMap::new(),
            app_metadata: JsonMap::new(),
            blocked: false,
            created_at: self.now,
            updated_at: self.now,
            last_login_at: None,
            deleted_at: None,
        };
        set_user_fields(&mut user, u);
        let hash = match (&u.password, &u.password_hash) {
            (Some(pw), _) => Some(match self.hashes.get(&(self.ti, ui)) {
                Some(h) => h.clone(),
                // The user appeared between the pre-hash read and this transaction.
                None => hash_password(pw.expose(), &*self.core.rng)?,
            }),
            (None, Some(h)) => Some(h.expose().trim().to_owned()),
            (None, None) => None,
        };
        let connection = self
            .tx
            .connection_get_by_name(&self.tenant.id, DEFAULT_CONNECTION)
            .await?
            .ok_or(CoreError::NotFound("connection"))?;
        self.tx.user_insert(&user).await?;
        if let Some(hash) = hash {
            self.tx
                .password_set(&self.tenant.id, &user.id, &hash, self.now)
                .await?;
        }
        self.tx
            .identity_insert(&Identity {
                tenant_id: self.tenant.id.clone(),
                user_id: user.id.clone(),
                connection_id: connection.id,
                subject: user.id.to_string(),
                profile_data: JsonMap::new(),
                created_at: self.now,
            })
            .await?;
        Ok(user.id)
    }

    pub(super) async fn organizations(&mut self, t: &TenantDoc) -> Result<(), CoreError> {
        for o in &t.organizations {
            let key = self.key(o.slug.as_str());
            let (org, created, mut changed) = self.organization_row(o).await?;
            for m in &o.members {
                let user = self.user_id(&m.email).await?;
                let was_member = !created
                    && self
                        .tx
                        .member_orgs(&self.tenant.id, &user)
                        .await?
                        .contains(&org.id);
                if !was_member {
                    self.tx
                        .member_add(&self.tenant.id, &org.id, &user, self.now)
                        .await?;
                    changed = true;
                }
                if m.roles.is_empty() {
                    continue;
                }
                let have = if was_member {
                    self.tx
                        .member_roles(&self.tenant.id, &org.id, &user)
                        .await?
                } else {
                    Vec::new()
                };
                for name in &m.roles {
                    let role = self.role_id(name).await?;
                    if !have.contains(&role) {
                        self.tx
                            .member_role_add(&self.tenant.id, &org.id, &user, &role, self.now)
                            .await?;
                        changed = true;
                    }
                }
            }
            self.report
                .record(ResourceKind::Organization, key, created, changed);
            for team in &o.teams {
                self.team(&org, team).await?;
            }
        }
        Ok(())
    }

    /// Create the organization or update its fields; returns (org, created, updated).
    async fn organization_row(
        &mut self,
        o: &OrganizationDoc,
    ) -> Result<(Organization, bool, bool), CoreError> {
        match self.tx.org_get_by_slug(&self.tenant.id, &o.slug).await? {
            Some(old) => {
                let mut new = old.clone();
                if let Some(d) = &o.display_name {
                    new.display_name.clone_from(d);
                }
                if let Some(m) = &o.metadata {
                    new.metadata.clone_from(m);
                }
                if o.user_limit.is_some() {
                    new.user_limit = o.user_limit;
                }
                let changed = new != old;
                if changed {
                    new.updated_at = self.now;
                    self.tx.org_update(&new).await?;
                }
                Ok((new, false, changed))
            }
            None => {
                let org = Organization {
                    tenant_id: self.tenant.id.clone(),
                    id: OrgId::generate(self.now, &*self.core.rng),
                    slug: o.slug.clone(),
                    display_name: o.display_name.clone().unwrap_or_else(|| o.slug.to_string()),
                    metadata: o.metadata.clone().unwrap_or_default(),
                    user_limit: o.user_limit,
                    created_at: self.now,
                    updated_at: self.now,
                };
                self.tx.org_insert(&org).await?;
                Ok((org, true, false))
            }
        }
    }

    async fn team(&mut self, org: &Organization, d: &TeamDoc) -> Result<(), CoreError> {
        let key = format!("{}/{}/{}", self.tenant.slug, org.slug, d.slug);
        let (team, created, mut changed) = match self
            .tx
            .team_get_by_slug(&self.tenant.id, &org.id, &d.slug)
            .await?
        {
            Some(old) => {
                let mut new = old.clone();
                if let Some(n) = &d.display_name {
                    new.display_name.clone_from(n);
                }
                if let Some(n) = &d.description {
                    new.description.clone_from(n);
                }
                let changed = new != old;
                if changed {
                    new.updated_at = self.now;
                    self.tx.team_update(&new).await?;
                }
                (new, false, changed)
            }
            None => {
                let team = Team {
                    tenant_id: self.tenant.id.clone(),
                    org_id: org.id.clone(),
                    id: TeamId::generate(self.now, &*self.core.rng),
                    slug: d.slug.clone(),
                    display_name: d.display_name.clone().unwrap_or_else(|| d.slug.to_string()),
                    description: d.description.clone().unwrap_or_default(),
                    created_at: self.now,
                    updated_at: self.now,
                };
                self.tx.team_insert(&team).await?;
                (team, true, false)
            }
        };
        if !d.members.is_empty() {
            let have: HashSet<UserId> = if created {
                HashSet::new()
            } else {
                let (tx, tid) = (&mut *self.tx, &self.tenant.id);
                all_pages!(|page| tx.team_member_list(tid, &team.id, page))
                    .into_iter()
                    .collect()
            };
            for e in &d.members {
                let user = self.user_id(e).await?;
                if !have.contains(&user) {
                    self.tx
                        .team_member_add(&self.tenant.id, &team.id, &user, self.now)
                        .await?;
                    changed = true;
                }
            }
        }
        if !d.roles.is_empty() {
            let have = if created {
                Vec::new()
            } else {
                self.tx.team_roles(&self.tenant.id, &team.id).await?
            };
            for name in &d.roles {
                let role = self.role_id(name).await?;
                if !have.contains(&role) {
                    self.tx
                        .team_role_add(&self.tenant.id, &team.id, &role, self.now)
                        .await?;
                    changed = true;
                }
            }
        }
        self.report
            .record(ResourceKind::Team, key, created, changed);
        Ok(())
    }
}
