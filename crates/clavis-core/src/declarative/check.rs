//! The checks of `apply` that need the database, run before anything is written: every
//! reference must resolve in the file or in the stored tenant (roles, Apis and the
//! permissions that roles and client grants name, users, organization memberships), role
//! inheritance must stay acyclic over the resulting graph, lifetimes must fit the tenant's
//! `max_token_lifetime`, user limits must hold, each application entry must designate
//! at most one stored application, and the login settings blocks (`password_policy`,
//! `attack_protection`, `universal_login`) must stay within their bounds once laid over the
//! stored settings.

use clavis_types::{ClientId, Email, OrgId, RoleId};
use std::collections::{HashMap, HashSet};

use super::document::TenantDoc;
use super::inheritance::find_cycle;
use super::source::{Path, Source};
use super::{DEFAULT_API_TOKEN_LIFETIME, DEFAULT_ID_TOKEN_LIFETIME};
use crate::model::{Api, Application, Organization, Tenant, TenantSettings};
use crate::ports::Tx;
use crate::service::DEFAULT_CONNECTION;
use crate::{Core, CoreError};

/// What the checks learned that the writes need.
pub(super) struct TenantPlan {
    /// The stored tenant, or `None` when the apply creates it.
    pub existing: Option<Tenant>,
    /// Per application entry of the file: the stored application it designates, or `None`
    /// to create one.
    pub apps: Vec<Option<ClientId>>,
}

/// A stored user the file refers to, and the organizations they belong to.
struct StoredUser {
    orgs: HashSet<OrgId>,
}

impl Core {
    pub(super) async fn check_tenant(
        &self,
        tx: &mut dyn Tx,
        src: &Source,
        ti: usize,
        t: &TenantDoc,
    ) -> Result<TenantPlan, CoreError> {
        let p = Path::tenant(ti);
        let err = |path: &Path, reason: String| -> CoreError { src.error(path, reason).into() };
        let existing = tx.tenant_get_by_slug(&t.slug).await?;
        let tid = existing.as_ref().map(|x| x.id.clone());
        let (db_roles, db_apis, db_apps, db_conns) = match &tid {
            Some(id) => (
                all_pages!(|page| tx.role_list(id, page)),
                all_pages!(|page| tx.api_list(id, page)),
                all_pages!(|page| tx.app_list(id, page)),
                all_pages!(|page| tx.connection_list(id, page)),
            ),
            None => Default::default(),
        };
        let not_here = |what: &str, name: &str| {
            format!(
                "{what} `{name}` is not defined in this file or in tenant `{}`",
                t.slug
            )
        };

        // Roles referenced anywhere must exist in the file or the database.
        let roles: HashSet<&str> = t
            .roles
            .iter()
            .map(|r| r.name.as_str())
            .chain(db_roles.iter().map(|r| r.name.as_str()))
            .collect();
        let mut refs: Vec<(Path, &String)> = Vec::new();
        for (ri, r) in t.roles.iter().enumerate() {
            for (k, n) in r.inherits.iter().flatten().enumerate() {
                refs.push((p.at("roles", ri).at("inherits", k), n));
            }
        }
        for (ui, u) in t.users.iter().enumerate() {
            refs.extend(
                u.roles
                    .iter()
                    .enumerate()
                    .map(|(k, n)| (p.at("users", ui).at("roles", k), n)),
            );
        }
        for (oi, o) in t.organizations.iter().enumerate() {
            let po = p.at("organizations", oi);
            for (mi, m) in o.members.iter().enumerate() {
                refs.extend(
                    m.roles
                        .iter()
                        .enumerate()
                        .map(|(k, n)| (po.at("members", mi).at("roles", k), n)),
                );
            }
            for (ki, team) in o.teams.iter().enumerate() {
                refs.extend(
                    team.roles
                        .iter()
                        .enumerate()
                        .map(|(k, n)| (po.at("teams", ki).at("roles", k), n)),
                );
            }
        }
        if let Some((path, name)) = refs.into_iter().find(|(_, n)| !roles.contains(n.as_str())) {
            return Err(err(&path, not_here("role", name)));
        }

        // Role permissions must name a permission of an Api (in the file or stored).
        let mut perms: HashMap<&str, HashSet<&str>> = HashMap::new();
        for a in &db_apis {
            perms
                .entry(a.identifier.as_str())
                .or_default()
                .extend(a.permissions.iter().map(|x| x.value.as_str()));
        }
        for a in &t.apis {
            perms
                .entry(a.identifier.as_str())
                .or_default()
                .extend(a.permissions.iter().map(|x| x.value.as_str()));
        }
        for (ri, r) in t.roles.iter().enumerate() {
            for (k, x) in r.permissions.iter().flatten().enumerate() {
                let pk = p.at("roles", ri).at("permissions", k);
                match perms.get(x.api.as_str()) {
                    None => return Err(err(&pk.key("api"), not_here("Api", &x.api))),
                    Some(set) if !set.contains(x.permission.as_str()) => {
                        return Err(err(
                            &pk.key("permission"),
                            format!(
                                "Api `{}` defines no permission `{}` (in this file or stored)",
                                x.api, x.permission
                            ),
                        ));
                    }
                    Some(_) => {}
                }
            }
        }

        // Client grants likewise: a known Api, and permissions it defines.
        for (ai, a) in t.applications.iter().enumerate() {
            for (gi, g) in a.grants.iter().enumerate() {
                let pg = p.at("applications", ai).at("grants", gi);
                let Some(set) = perms.get(g.api.as_str()) else {
                    return Err(err(&pg.key("api"), not_here("Api", &g.api)));
                };
                if let Some((k, s)) = g
                    .scope
                    .iter()
                    .enumerate()
                    .find(|(_, s)| !set.contains(s.as_str()))
                {
                    return Err(err(
                        &pg.at("scope", k),
                        format!(
                            "Api `{}` defines no permission `{s}` (in this file or stored)",
                            g.api
                        ),
                    ));
                }
            }
        }

        // Inheritance must stay acyclic once the file's lists replace the stored ones.
        if let Some(id) = &tid
            && t.roles.iter().any(|r| r.inherits.is_some())
        {
            let names: HashMap<&RoleId, &str> =
                db_roles.iter().map(|r| (&r.id, r.name.as_str())).collect();
            let mut stored = HashMap::new();
            for r in &db_roles {
                let parents = tx.role_inherits(id, &r.id).await?;
                let parents = parents
                    .iter()
                    .filter_map(|x| names.get(x).map(|n| (*n).to_owned()));
                stored.insert(r.name.clone(), parents.collect());
            }
            if let Some((ri, cycle)) = find_cycle(t, &stored) {
                return Err(err(
                    &p.at("roles", ri).key("inherits"),
                    format!("role inheritance cycle: {}", cycle.join(" -> ")),
                ));
            }
        }

        let apps = resolve_apps(src, &p, t, &db_apps)?;
        check_lifetimes(src, &p, t, existing.as_ref(), &db_apis, &db_apps, &apps)?;
        check_login_settings(src, &p, t, existing.as_ref())?;

        // Users referenced by memberships must exist; team members must be org members.
        let mut stored_users: HashMap<&Email, StoredUser> = HashMap::new();
        if let Some(id) = &tid {
            let emails = t
                .users
                .iter()
                .map(|u| &u.email)
                .chain(t.organizations.iter().flat_map(|o| {
                    o.members
                        .iter()
                        .map(|m| &m.email)
                        .chain(o.teams.iter().flat_map(|x| &x.members))
                }));
            for e in emails {
                if stored_users.contains_key(e) {
                    continue;
                }
                if let Some(u) = tx.user_get_by_email(id, e).await? {
                    let orgs = tx.member_orgs(id, &u.id).await?.into_iter().collect();
                    stored_users.insert(e, StoredUser { orgs });
                }
            }
        }
        let file_users: HashSet<&Email> = t.users.iter().map(|u| &u.email).collect();
        for (oi, o) in t.organizations.iter().enumerate() {
            let po = p.at("organizations", oi);
            let org: Option<Organization> = match &tid {
                Some(id) => tx.org_get_by_slug(id, &o.slug).await?,
                None => None,
            };
            let is_member = |e: &Email| {
                org.as_ref()
                    .is_some_and(|g| stored_users.get(e).is_some_and(|u| u.orgs.contains(&g.id)))
            };
            for (mi, m) in o.members.iter().enumerate() {
                if !file_users.contains(&m.email) && !stored_users.contains_key(&m.email) {
                    return Err(err(
                        &po.at("members", mi).key("email"),
                        not_here("user", m.email.as_str()),
                    ));
                }
            }
            for (ki, team) in o.teams.iter().enumerate() {
                for (k, e) in team.members.iter().enumerate() {
                    if !o.members.iter().any(|m| &m.email == e) && !is_member(e) {
                        return Err(err(
                            &po.at("teams", ki).at("members", k),
                            format!(
                                "`{e}` is not a member of organization `{}`; list them under its members",
                                o.slug
                            ),
                        ));
                    }
                }
            }
            if let Some(limit) = o.user_limit.or(org.as_ref().and_then(|g| g.user_limit)) {
                let current = match (&tid, &org) {
                    (Some(id), Some(g)) => tx.member_count(id, &g.id).await?,
                    _ => 0,
                };
                let added = o.members.iter().filter(|m| !is_member(&m.email)).count();
                let total = current.saturating_add(i64::try_from(added).unwrap_or(i64::MAX));
                if total > limit {
                    return Err(err(
                        &po.key("members"),
                        format!(
                            "organization `{}` would have {total} members, over its user_limit of {limit}",
                            o.slug
                        ),
                    ));
                }
            }
        }

        // Created users get an identity on the tenant's database connection.
        if tid.is_some()
            && !db_conns.iter().any(|c| c.name == DEFAULT_CONNECTION)
            && !t.connections.iter().any(|c| c.name == DEFAULT_CONNECTION)
            && let Some(ui) = t
                .users
                .iter()
                .position(|u| !stored_users.contains_key(&u.email))
        {
            return Err(err(
                &p.at("users", ui),
                format!(
                    "new users get an identity on the `{DEFAULT_CONNECTION}` connection, \
                     which tenant `{}` does not have",
                    t.slug
                ),
            ));
        }
        Ok(TenantPlan { existing, apps })
    }
}

/// Token lifetimes must not exceed the tenant's `max_token_lifetime`: retired signing keys
/// leave the JWKS after that long. Checked for every lifetime the file sets or a created
/// resource takes by default, and for every stored one when the file sets the maximum (a
/// stored inconsistency the file does not touch is not the file's fault).
fn check_lifetimes(
    src: &Source,
    p: &Path,
    t: &TenantDoc,
    existing: Option<&Tenant>,
    db_apis: &[Api],
    db_apps: &[Application],
    apps: &[Option<ClientId>],
) -> Result<(), CoreError> {
    let max_in_file = t.max_token_lifetime.is_some();
    let max = t.max_token_lifetime.unwrap_or_else(|| {
        existing.map_or(TenantSettings::default().max_token_lifetime, |x| {
            x.settings.max_token_lifetime
        })
    });
    let check = |path: Path, what: String, n: i64| -> Result<(), CoreError> {
        if n <= max {
            return Ok(());
        }
        let at = if max_in_file {
            p.key("max_token_lifetime")
        } else {
            path
        };
        let reason =
            format!("{what} lifetime of {n} s exceeds the tenant's max_token_lifetime of {max} s");
        Err(src.error(&at, reason).into())
    };
    for (ai, a) in t.apis.iter().enumerate() {
        let stored = db_apis.iter().find(|x| x.identifier == a.identifier);
        if a.token_lifetime.is_some() || stored.is_none() || max_in_file {
            let n = a
                .token_lifetime
                .or(stored.map(|x| x.token_lifetime))
                .unwrap_or(DEFAULT_API_TOKEN_LIFETIME);
            let what = format!("Api `{}` token", a.identifier);
            check(p.at("apis", ai).key("token_lifetime"), what, n)?;
        }
    }
    for (ai, (a, found)) in t.applications.iter().zip(apps).enumerate() {
        let stored = found
            .as_ref()
            .and_then(|c| db_apps.iter().find(|x| &x.client_id == c));
        if a.id_token_lifetime.is_some() || stored.is_none() || max_in_file {
            let n = a
                .id_token_lifetime
                .or(stored.map(|x| x.id_token_lifetime))
                .unwrap_or(DEFAULT_ID_TOKEN_LIFETIME);
            let what = format!("application `{}` ID token", a.name);
            check(p.at("applications", ai).key("id_token_lifetime"), what, n)?;
        }
    }
    if max_in_file {
        let api_only = db_apis
            .iter()
            .filter(|x| !t.apis.iter().any(|a| a.identifier == x.identifier))
            .map(|x| (format!("Api `{}` token", x.identifier), x.token_lifetime));
        let app_only = db_apps
            .iter()
            .filter(|x| !apps.iter().flatten().any(|c| c == &x.client_id))
            .map(|x| {
                (
                    format!("application `{}` ID token", x.name),
                    x.id_token_lifetime,
                )
            });
        for (what, n) in api_only.chain(app_only) {
            check(p.key("max_token_lifetime"), what, n)?;
        }
    }
    Ok(())
}

/// Languages the hosted pages and emails are offered in.
pub(crate) const LOCALES: [&str; 2] = ["en", "fr"];

/// Bounds of the login settings blocks, for each field the file sets; `lockout_max_secs`
/// must be at least `lockout_secs` once the file's values are laid over the stored ones.
fn check_login_settings(
    src: &Source,
    p: &Path,
    t: &TenantDoc,
    existing: Option<&Tenant>,
) -> Result<(), CoreError> {
    let err = |path: Path, reason: String| -> CoreError { src.error(&path, reason).into() };
    let range = |path: Path, v: Option<i64>, lo: i64, hi: i64, unit: &str| match v {
        Some(v) if !(lo..=hi).contains(&v) => Err(err(
            path,
            format!("must be between {lo} and {hi}{unit}, not {v}"),
        )),
        _ => Ok(()),
    };
    if let Some(d) = &t.password_policy {
        let pp = p.key("password_policy");
        range(
            pp.key("min_length"),
            d.min_length.map(i64::from),
            8,
            128,
            " characters",
        )?;
        range(
            pp.key("min_strength"),
            d.min_strength.map(i64::from),
            0,
            4,
            "",
        )?;
        range(
            pp.key("history"),
            d.history.map(i64::from),
            0,
            24,
            " passwords",
        )?;
    }
    if let Some(d) = &t.attack_protection {
        let pa = p.key("attack_protection");
        let n = |v: Option<u32>| v.map(i64::from);
        range(
            pa.key("auth_per_ip_per_minute"),
            n(d.auth_per_ip_per_minute),
            1,
            10_000,
            "",
        )?;
        range(
            pa.key("failed_logins_per_hour"),
            n(d.failed_logins_per_hour),
            1,
            1_000,
            "",
        )?;
        range(
            pa.key("lockout_secs"),
            d.lockout_secs,
            60,
            86_400,
            " seconds",
        )?;
        range(
            pa.key("lockout_max_secs"),
            d.lockout_max_secs,
            60,
            30 * 86_400,
            " seconds",
        )?;
        let refresh = n(d.refresh_per_user_per_hour);
        range(pa.key("refresh_per_user_per_hour"), refresh, 1, 100_000, "")?;
        let suspicious = n(d.suspicious_ip_failures_per_day);
        range(
            pa.key("suspicious_ip_failures_per_day"),
            suspicious,
            1,
            1_000_000,
            "",
        )?;
        if d.lockout_secs.is_some() || d.lockout_max_secs.is_some() {
            let mut merged = existing.map_or_else(TenantSettings::default, |x| x.settings.clone());
            super::apply::merge_login_settings(t, &mut merged);
            let a = &merged.attack_protection;
            if a.lockout_max_secs < a.lockout_secs {
                let at = if d.lockout_max_secs.is_some() {
                    "lockout_max_secs"
                } else {
                    "lockout_secs"
                };
                return Err(err(
                    pa.key(at),
                    format!(
                        "lockout_max_secs ({} s) must be at least lockout_secs ({} s)",
                        a.lockout_max_secs, a.lockout_secs
                    ),
                ));
            }
        }
    }
    if let Some(l) = t
        .universal_login
        .as_ref()
        .and_then(|d| d.default_locale.as_deref())
        && !LOCALES.contains(&l)
    {
        return Err(err(
            p.key("universal_login").key("default_locale"),
            format!("must be one of {}, not `{l}`", LOCALES.join(", ")),
        ));
    }
    Ok(())
}

/// Which stored application each entry designates: by `client_id` when given, else by
/// name (refused when several stored applications share it).
fn resolve_apps(
    src: &Source,
    p: &Path,
    t: &TenantDoc,
    db_apps: &[Application],
) -> Result<Vec<Option<ClientId>>, CoreError> {
    let mut claimed: HashSet<&ClientId> = HashSet::new();
    let mut out = Vec::with_capacity(t.applications.len());
    for (ai, a) in t.applications.iter().enumerate() {
        let pa = p.at("applications", ai);
        let found = match &a.client_id {
            Some(c) => db_apps.iter().find(|x| &x.client_id == c),
            None => {
                let mut same = db_apps.iter().filter(|x| x.name == a.name);
                let first = same.next();
                if first.is_some() && same.next().is_some() {
                    return Err(src
                        .error(
                            &pa.key("name"),
                            format!(
                                "several applications of tenant `{}` are named `{}`; \
                                 add the `client_id` of the one to manage",
                                t.slug, a.name
                            ),
                        )
                        .into());
                }
                first
            }
        };
        if let Some(x) = found
            && !claimed.insert(&x.client_id)
        {
            return Err(src
                .error(
                    &pa,
                    format!("designates application `{}` a second time", x.client_id),
                )
                .into());
        }
        out.push(found.map(|x| x.client_id.clone()));
    }
    Ok(out)
}
