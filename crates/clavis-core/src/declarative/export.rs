//! `Core::export`: the stored configuration as a [`Document`], without secrets (no
//! password hashes, no client secrets). Fields equal to their create-time default and
//! empty lists are left out to keep files short; every list is sorted by its key so that
//! equal configurations export to equal files. Applying an export changes nothing.
//! Users without an email address cannot be keyed and are left out, with their
//! memberships; so are the client grants of applications that are not `m2m`, which a file
//! cannot hold.

use clavis_types::{ApiId, AppType, ConnectionStrategy, OrganizationUsage, RoleId, Slug, UserId};
use std::collections::HashMap;

use super::document::{
    ApiDoc, ApplicationDoc, AttackProtectionDoc, ClientGrantDoc, ConnectionDoc, Document,
    MemberDoc, OrganizationDoc, PasswordPolicyDoc, PermissionDoc, RefreshTokenDoc, RoleDoc,
    RolePermissionDoc, TeamDoc, TenantDoc, UniversalLoginDoc, UserDoc,
};
use super::validate::{default_auth_method, default_grant_types};
use super::{DEFAULT_API_TOKEN_LIFETIME, DEFAULT_ID_TOKEN_LIFETIME};
use crate::model::{
    Application, AttackProtection, OrgMetadata, PasswordPolicy, RefreshPolicy, Tenant,
    TenantSettings, UniversalLogin,
};
use crate::ports::Tx;
use crate::{Core, CoreError};

/// `Some(v)` unless `v` is the default `d`.
fn unless<T: PartialEq>(v: T, d: T) -> Option<T> {
    (v != d).then_some(v)
}

fn unless_empty<T>(v: Vec<T>) -> Option<Vec<T>> {
    (!v.is_empty()).then_some(v)
}

fn unless_blank(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

impl Core {
    /// Export one tenant (by slug) or every tenant.
    pub async fn export(&self, tenant: Option<&Slug>) -> Result<Document, CoreError> {
        let mut tx = self.store.read().await?;
        let tenants = match tenant {
            Some(slug) => vec![
                tx.tenant_get_by_slug(slug)
                    .await?
                    .ok_or(CoreError::NotFound("tenant"))?,
            ],
            None => all_pages!(|page| tx.tenant_list(page)),
        };
        let mut out = Vec::with_capacity(tenants.len());
        for t in &tenants {
            let mut doc = export_tenant(&mut *tx, t).await?;
            canonical_order(&mut doc);
            out.push(doc);
        }
        out.sort_by(|a, b| a.slug.cmp(&b.slug));
        Ok(Document::new(out))
    }
}

async fn export_tenant(tx: &mut dyn Tx, t: &Tenant) -> Result<TenantDoc, CoreError> {
    let id = &t.id;
    let mut doc = TenantDoc::new(t.slug.clone());
    doc.display_name = Some(t.display_name.clone());
    doc.signing_alg = Some(t.settings.signing_alg);
    doc.max_token_lifetime = unless(
        t.settings.max_token_lifetime,
        TenantSettings::default().max_token_lifetime,
    );
    doc.audit_retention_days = unless(
        t.settings.audit_retention_days,
        TenantSettings::default().audit_retention_days,
    );
    doc.phi_audiences =
        (!t.settings.phi_audiences.is_empty()).then(|| t.settings.phi_audiences.clone());
    doc.org_assignable_roles = (!t.settings.org_assignable_roles.is_empty())
        .then(|| t.settings.org_assignable_roles.clone());
    export_login_settings(&t.settings, &mut doc);

    for c in all_pages!(|page| tx.connection_list(id, page)) {
        doc.connections.push(ConnectionDoc {
            name: c.name,
            strategy: Some(c.strategy).filter(|s| *s != ConnectionStrategy::Database),
            options: (!c.options.is_empty()).then_some(c.options),
        });
    }

    let apis = all_pages!(|page| tx.api_list(id, page));
    let api_names: HashMap<ApiId, String> = apis
        .iter()
        .map(|a| (a.id.clone(), a.identifier.clone()))
        .collect();
    for a in apis {
        doc.apis.push(ApiDoc {
            name: Some(a.name),
            signing_alg: Some(a.signing_alg),
            token_lifetime: unless(a.token_lifetime, DEFAULT_API_TOKEN_LIFETIME),
            rbac: a.rbac_enabled.then_some(true),
            permissions_in_token: a.permissions_in_token.then_some(true),
            allow_offline_access: a.allow_offline_access.then_some(true),
            skip_consent: a.skip_consent.then_some(true),
            permissions: a
                .permissions
                .into_iter()
                .map(|p| PermissionDoc {
                    description: unless_blank(&p.description),
                    value: p.value,
                })
                .collect(),
            identifier: a.identifier,
        });
    }

    let roles = all_pages!(|page| tx.role_list(id, page));
    let role_names: HashMap<RoleId, String> = roles
        .iter()
        .map(|r| (r.id.clone(), r.name.clone()))
        .collect();
    let names_of = |ids: Vec<RoleId>| -> Vec<String> {
        ids.iter()
            .filter_map(|r| role_names.get(r).cloned())
            .collect()
    };
    for r in &roles {
        let permissions = tx
            .role_permissions(id, &r.id)
            .await?
            .into_iter()
            .filter_map(|p| {
                Some(RolePermissionDoc {
                    api: api_names.get(&p.api_id)?.clone(),
                    permission: p.permission,
                })
            })
            .collect();
        doc.roles.push(RoleDoc {
            name: r.name.clone(),
            description: unless_blank(&r.description),
            inherits: unless_empty(names_of(tx.role_inherits(id, &r.id).await?)),
            permissions: unless_empty(permissions),
        });
    }

    for a in all_pages!(|page| tx.app_list(id, page)) {
        let grants = if a.app_type == AppType::M2m {
            tx.client_grant_list(id, &a.client_id)
                .await?
                .into_iter()
                .filter_map(|g| {
                    Some(ClientGrantDoc {
                        api: api_names.get(&g.api_id)?.clone(),
                        scope: g.scope,
                    })
                })
                .collect()
        } else {
            Vec::new()
        };
        doc.applications.push(export_application(a, grants));
    }

    let users = all_pages!(|page| tx.user_list(id, page));
    let emails: HashMap<UserId, _> = users
        .iter()
        .filter_map(|u| Some((u.id.clone(), u.email.clone()?)))
        .collect();
    for u in users {
        let Some(email) = u.email else { continue };
        let p = u.profile;
        doc.users.push(UserDoc {
            email,
            email_verified: u.email_verified.then_some(true),
            name: p.name,
            given_name: p.given_name,
            family_name: p.family_name,
            nickname: p.nickname,
            picture: p.picture,
            locale: p.locale,
            password: None,
            password_hash: None,
            blocked: u.blocked.then_some(true),
            user_metadata: (!u.user_metadata.is_empty()).then_some(u.user_metadata),
            app_metadata: (!u.app_metadata.is_empty()).then_some(u.app_metadata),
            roles: names_of(tx.user_roles(id, &u.id).await?),
        });
    }

    for o in all_pages!(|page| tx.org_list(id, page)) {
        let mut org = OrganizationDoc {
            slug: o.slug.clone(),
            display_name: Some(o.display_name.clone()),
            metadata: unless(o.metadata.clone(), OrgMetadata::default()),
            user_limit: o.user_limit,
            members: Vec::new(),
            teams: Vec::new(),
        };
        for user in all_pages!(|page| tx.member_list(id, &o.id, page)) {
            let Some(email) = emails.get(&user) else {
                continue;
            };
            org.members.push(MemberDoc {
                email: email.clone(),
                roles: names_of(tx.member_roles(id, &o.id, &user).await?),
            });
        }
        for team in all_pages!(|page| tx.team_list(id, &o.id, page)) {
            let members = all_pages!(|page| tx.team_member_list(id, &team.id, page));
            org.teams.push(TeamDoc {
                display_name: Some(team.display_name),
                description: unless_blank(&team.description),
                members: members
                    .iter()
                    .filter_map(|u| emails.get(u).cloned())
                    .collect(),
                roles: names_of(tx.team_roles(id, &team.id).await?),
                slug: team.slug,
            });
        }
        doc.organizations.push(org);
    }
    Ok(doc)
}

/// Sort every list by its key, so that exports of equal configurations are equal (and diff
/// well) whatever the ids the resources got in each database.
fn canonical_order(t: &mut TenantDoc) {
    t.connections.sort_by(|a, b| a.name.cmp(&b.name));
    t.apis.sort_by(|a, b| a.identifier.cmp(&b.identifier));
    for a in &mut t.apis {
        a.permissions.sort_by(|x, y| x.value.cmp(&y.value));
    }
    t.roles.sort_by(|a, b| a.name.cmp(&b.name));
    for r in &mut t.roles {
        r.inherits.iter_mut().for_each(|v| v.sort());
        r.permissions.iter_mut().for_each(|v| v.sort());
    }
    t.applications
        .sort_by(|a, b| (&a.name, &a.client_id).cmp(&(&b.name, &b.client_id)));
    for a in &mut t.applications {
        a.grants.sort_by(|x, y| x.api.cmp(&y.api));
        for g in &mut a.grants {
            g.scope.sort();
            g.scope.dedup();
        }
    }
    t.users.sort_by(|a, b| a.email.cmp(&b.email));
    for u in &mut t.users {
        u.roles.sort();
    }
    t.organizations.sort_by(|a, b| a.slug.cmp(&b.slug));
    for o in &mut t.organizations {
        o.members.sort_by(|a, b| a.email.cmp(&b.email));
        for m in &mut o.members {
            m.roles.sort();
        }
        o.teams.sort_by(|a, b| a.slug.cmp(&b.slug));
        for team in &mut o.teams {
            team.members.sort();
            team.roles.sort();
        }
    }
}

fn export_application(a: Application, grants: Vec<ClientGrantDoc>) -> ApplicationDoc {
    let refresh = unless(a.refresh, RefreshPolicy::default()).map(|r| RefreshTokenDoc {
        rotation: Some(r.rotation),
        idle_lifetime: Some(r.idle_lifetime),
        absolute_lifetime: Some(r.absolute_lifetime),
    });
    ApplicationDoc {
        name: a.name,
        client_id: Some(a.client_id),
        app_type: a.app_type,
        callbacks: unless_empty(a.callbacks),
        logout_urls: unless_empty(a.logout_urls),
        web_origins: unless_empty(a.web_origins),
        grant_types: unless(a.grant_types, default_grant_types(a.app_type)),
        organization_usage: unless(a.organization_usage, OrganizationUsage::Deny),
        id_token_lifetime: unless(a.id_token_lifetime, DEFAULT_ID_TOKEN_LIFETIME),
        refresh_token: refresh,
        token_endpoint_auth_method: unless(
            a.token_endpoint_auth_method,
            default_auth_method(a.app_type).to_owned(),
        ),
        pkce_required: unless(a.pkce_required, true),
        is_first_party: unless(a.is_first_party, true),
        grants,
    }
}

/// The login settings blocks: fields that differ from their default; a block with none is
/// left out.
fn export_login_settings(s: &TenantSettings, doc: &mut TenantDoc) {
    let (p, dp) = (&s.password_policy, PasswordPolicy::default());
    let policy = PasswordPolicyDoc {
        min_length: unless(p.min_length, dp.min_length),
        min_strength: unless(p.min_strength, dp.min_strength),
        history: unless(p.history, dp.history),
        dictionary: unless(p.dictionary, dp.dictionary),
        no_personal_info: unless(p.no_personal_info, dp.no_personal_info),
    };
    doc.password_policy = unless(policy, PasswordPolicyDoc::default());
    let (a, da) = (&s.attack_protection, AttackProtection::default());
    let protection = AttackProtectionDoc {
        auth_per_ip_per_minute: unless(a.auth_per_ip_per_minute, da.auth_per_ip_per_minute),
        failed_logins_per_hour: unless(a.failed_logins_per_hour, da.failed_logins_per_hour),
        lockout_secs: unless(a.lockout_secs, da.lockout_secs),
        lockout_max_secs: unless(a.lockout_max_secs, da.lockout_max_secs),
        refresh_per_user_per_hour: unless(
            a.refresh_per_user_per_hour,
            da.refresh_per_user_per_hour,
        ),
        suspicious_ip_failures_per_day: unless(
            a.suspicious_ip_failures_per_day,
            da.suspicious_ip_failures_per_day,
        ),
    };
    doc.attack_protection = unless(protection, AttackProtectionDoc::default());
    let (u, du) = (&s.universal_login, UniversalLogin::default());
    let login = UniversalLoginDoc {
        signup_enabled: unless(u.signup_enabled, du.signup_enabled),
        require_email_verification: unless(
            u.require_email_verification,
            du.require_email_verification,
        ),
        default_locale: unless(u.default_locale.clone(), du.default_locale),
    };
    doc.universal_login = unless(login, UniversalLoginDoc::default());
}
