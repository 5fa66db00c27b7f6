//! Checks a document can pass or fail on its own, without the database: texts, numbers,
//! URLs, duplicates, password fields, client grants on `m2m` applications only, and
//! role-inheritance cycles among the file's roles.
//! Also the per-type defaults of applications, shared with `apply` and `export`.

use clavis_crypto::validate_password_hash;
use clavis_types::AppType;
use std::collections::{HashMap, HashSet};
use std::hash::Hash;

use super::DeclError;
use super::document::{
    ApiDoc, ApplicationDoc, Document, OrganizationDoc, RoleDoc, TenantDoc, UserDoc,
};
use super::inheritance::find_cycle;
use super::source::{Path, Source};

/// Grant types an application may list.
pub(super) const GRANT_TYPES: &[&str] = &[
    "authorization_code",
    "refresh_token",
    "client_credentials",
    "urn:ietf:params:oauth:grant-type:device_code",
];
/// Token endpoint authentication methods an application may use.
pub(super) const AUTH_METHODS: &[&str] = &["none", "client_secret_basic", "client_secret_post"];
/// Shortest initial password accepted in a file.
pub(super) const MIN_PASSWORD_CHARS: usize = 8;

pub(crate) fn default_grant_types(t: AppType) -> Vec<String> {
    match t {
        AppType::M2m => vec!["client_credentials".to_owned()],
        AppType::Spa | AppType::Native | AppType::Web => {
            vec!["authorization_code".to_owned(), "refresh_token".to_owned()]
        }
    }
}

pub(crate) fn default_auth_method(t: AppType) -> &'static str {
    if t.is_confidential() {
        "client_secret_basic"
    } else {
        "none"
    }
}

/// Check everything that does not need the database.
pub(super) fn validate(doc: &Document) -> Result<(), DeclError> {
    let v = V { src: &doc.source };
    let mut seen = HashSet::new();
    for (ti, t) in doc.tenants.iter().enumerate() {
        let p = Path::tenant(ti);
        if !seen.insert(&t.slug) {
            return Err(v.err(
                &p.key("slug"),
                format!("tenant `{}` is listed twice", t.slug),
            ));
        }
        v.tenant(&p, t)?;
    }
    Ok(())
}

/// Check one application on its own, with the rules `apply` uses for each entry of a
/// file (for the Management API): the error's `path` is relative to the application
/// (`callbacks[1]`, `refresh_token.idle_lifetime`).
pub(crate) fn validate_application(a: &ApplicationDoc) -> Result<(), DeclError> {
    let src = Source::default();
    V { src: &src }.application(&Path::default(), a)
}

struct V<'a> {
    src: &'a Source,
}

fn first_duplicate<'a, T: Eq + Hash + 'a>(
    items: impl IntoIterator<Item = &'a T>,
) -> Option<(usize, &'a T)> {
    let mut seen = HashSet::new();
    items
        .into_iter()
        .enumerate()
        .find(|(_, x)| !seen.insert(*x))
}

impl V<'_> {
    fn err(&self, p: &Path, reason: impl Into<String>) -> DeclError {
        self.src.error(p, reason)
    }

    /// A name or title: not blank, at most `max` characters, no control characters.
    fn text(&self, p: &Path, s: &str, max: usize) -> Result<(), DeclError> {
        if s.trim().is_empty() {
            return Err(self.err(p, "must not be empty"));
        }
        if s.chars().count() > max {
            return Err(self.err(p, format!("must be at most {max} characters")));
        }
        if s.chars().any(char::is_control) {
            return Err(self.err(p, "must not contain control characters"));
        }
        Ok(())
    }

    fn positive(&self, p: &Path, n: Option<i64>) -> Result<(), DeclError> {
        match n {
            Some(n) if n <= 0 => {
                Err(self.err(p, format!("must be a positive number of seconds, not {n}")))
            }
            _ => Ok(()),
        }
    }

    /// Each item a non-empty name, none listed twice.
    fn names(&self, p: &Path, names: &[String], what: &str) -> Result<(), DeclError> {
        for (i, n) in names.iter().enumerate() {
            self.text(&p.idx(i), n, 255)?;
        }
        match first_duplicate(names) {
            Some((i, n)) => Err(self.err(&p.idx(i), format!("{what} `{n}` is listed twice"))),
            None => Ok(()),
        }
    }

    fn tenant(&self, p: &Path, t: &TenantDoc) -> Result<(), DeclError> {
        if let Some(d) = &t.display_name {
            self.text(&p.key("display_name"), d, 255)?;
        }
        self.positive(&p.key("max_token_lifetime"), t.max_token_lifetime)?;
        if let Some(d) = t.audit_retention_days
            && !(1..=36_500).contains(&d)
        {
            return Err(self.err(
                &p.key("audit_retention_days"),
                format!("must be between 1 and 36500 days, not {d}"),
            ));
        }
        if let Some(a) = &t.phi_audiences {
            self.names(&p.key("phi_audiences"), a, "audience")?;
        }
        if let Some(r) = &t.org_assignable_roles {
            self.names(&p.key("org_assignable_roles"), r, "role")?;
        }
        for (ci, c) in t.connections.iter().enumerate() {
            self.text(&p.at("connections", ci).key("name"), &c.name, 255)?;
        }
        if let Some((i, c)) = first_duplicate(t.connections.iter().map(|c| &c.name)) {
            return Err(self.err(
                &p.at("connections", i).key("name"),
                format!("connection `{c}` is listed twice"),
            ));
        }
        for (ai, a) in t.apis.iter().enumerate() {
            self.api(&p.at("apis", ai), a)?;
        }
        if let Some((i, a)) = first_duplicate(t.apis.iter().map(|a| &a.identifier)) {
            return Err(self.err(
                &p.at("apis", i).key("identifier"),
                format!("Api `{a}` is listed twice"),
            ));
        }
        for (ri, r) in t.roles.iter().enumerate() {
            self.role(&p.at("roles", ri), r)?;
        }
        if let Some((i, r)) = first_duplicate(t.roles.iter().map(|r| &r.name)) {
            return Err(self.err(
                &p.at("roles", i).key("name"),
                format!("role `{r}` is listed twice"),
            ));
        }
        if let Some((ri, cycle)) = find_cycle(t, &HashMap::new()) {
            return Err(self.err(
                &p.at("roles", ri).key("inherits"),
                format!("role inheritance cycle: {}", cycle.join(" -> ")),
            ));
        }
        self.applications(p, &t.applications)?;
        for (ui, u) in t.users.iter().enumerate() {
            self.user(&p.at("users", ui), u)?;
        }
        if let Some((i, e)) = first_duplicate(t.users.iter().map(|u| &u.email)) {
            return Err(self.err(
                &p.at("users", i).key("email"),
                format!("user `{e}` is listed twice"),
            ));
        }
        for (oi, o) in t.organizations.iter().enumerate() {
            self.organization(&p.at("organizations", oi), o)?;
        }
        if let Some((i, s)) = first_duplicate(t.organizations.iter().map(|o| &o.slug)) {
            return Err(self.err(
                &p.at("organizations", i).key("slug"),
                format!("organization `{s}` is listed twice"),
            ));
        }
        Ok(())
    }

    fn api(&self, p: &Path, a: &ApiDoc) -> Result<(), DeclError> {
        self.text(&p.key("identifier"), &a.identifier, 600)?;
        if let Some(n) = &a.name {
            self.text(&p.key("name"), n, 255)?;
        }
        self.positive(&p.key("token_lifetime"), a.token_lifetime)?;
        for (i, perm) in a.permissions.iter().enumerate() {
            let pp = p.at("permissions", i);
            self.text(&pp.key("value"), &perm.value, 280)?;
            if perm.value.chars().any(char::is_whitespace) {
                return Err(self.err(
                    &pp.key("value"),
                    "a permission (scope) must not contain spaces",
                ));
            }
            if let Some(d) = &perm.description
                && d.chars().count() > 500
            {
                return Err(self.err(&pp.key("description"), "must be at most 500 characters"));
            }
        }
        match first_duplicate(a.permissions.iter().map(|x| &x.value)) {
            Some((i, v)) => Err(self.err(
                &p.at("permissions", i).key("value"),
                format!("permission `{v}` is listed twice"),
            )),
            None => Ok(()),
        }
    }

    fn role(&self, p: &Path, r: &RoleDoc) -> Result<(), DeclError> {
        self.text(&p.key("name"), &r.name, 255)?;
        if let Some(inherits) = &r.inherits {
            self.names(&p.key("inherits"), inherits, "role")?;
        }
        if let Some(perms) = &r.permissions {
            for (i, x) in perms.iter().enumerate() {
                self.text(&p.at("permissions", i).key("api"), &x.api, 600)?;
                self.text(
                    &p.at("permissions", i).key("permission"),
                    &x.permission,
                    280,
                )?;
            }
            if let Some((i, x)) = first_duplicate(perms) {
                return Err(self.err(
                    &p.at("permissions", i),
                    format!(
                        "permission `{}` of `{}` is listed twice",
                        x.permission, x.api
                    ),
                ));
            }
        }
        Ok(())
    }

    fn applications(&self, p: &Path, apps: &[ApplicationDoc]) -> Result<(), DeclError> {
        for (i, a) in apps.iter().enumerate() {
            self.application(&p.at("applications", i), a)?;
        }
        let (mut ids, mut names) = (HashSet::new(), HashSet::new());
        for (i, a) in apps.iter().enumerate() {
            let pa = p.at("applications", i);
            match &a.client_id {
                Some(c) if !ids.insert(c) => {
                    return Err(self.err(
                        &pa.key("client_id"),
                        format!("client id `{c}` is listed twice"),
                    ));
                }
                None if !names.insert(&a.name) => {
                    return Err(self.err(
                        &pa.key("name"),
                        format!(
                            "application `{}` is listed twice; \
                             give each a `client_id` to keep both",
                            a.name
                        ),
                    ));
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn application(&self, p: &Path, a: &ApplicationDoc) -> Result<(), DeclError> {
        self.text(&p.key("name"), &a.name, 255)?;
        for (field, urls) in [("callbacks", &a.callbacks), ("logout_urls", &a.logout_urls)] {
            for (i, u) in urls.iter().flatten().enumerate() {
                if let Err(why) = check_redirect_url(u) {
                    return Err(self.err(&p.at(field, i), why));
                }
            }
        }
        for (i, o) in a.web_origins.iter().flatten().enumerate() {
            if let Err(why) = check_origin(o) {
                return Err(self.err(&p.at("web_origins", i), why));
            }
        }
        if let Some(grants) = &a.grant_types {
            for (i, g) in grants.iter().enumerate() {
                if !GRANT_TYPES.contains(&g.as_str()) {
                    return Err(self.err(
                        &p.at("grant_types", i),
                        format!("`{g}` is not one of: {}", GRANT_TYPES.join(", ")),
                    ));
                }
                if g == "client_credentials" && !a.app_type.is_confidential() {
                    return Err(self.err(
                        &p.at("grant_types", i),
                        format!(
                            "a `{}` application cannot hold a client secret, \
                             so it cannot use client_credentials",
                            a.app_type
                        ),
                    ));
                }
            }
            if let Some((i, g)) = first_duplicate(grants) {
                return Err(self.err(&p.at("grant_types", i), format!("`{g}` is listed twice")));
            }
        }
        if let Some(m) = &a.token_endpoint_auth_method {
            let pm = p.key("token_endpoint_auth_method");
            if !AUTH_METHODS.contains(&m.as_str()) {
                return Err(self.err(
                    &pm,
                    format!("`{m}` is not one of: {}", AUTH_METHODS.join(", ")),
                ));
            }
            if a.app_type.is_confidential() == (m == "none") {
                let why = if m == "none" {
                    format!(
                        "a `{}` application is confidential and must authenticate \
                         (client_secret_basic or client_secret_post)",
                        a.app_type
                    )
                } else {
                    format!(
                        "a `{}` application is public and must use `none`",
                        a.app_type
                    )
                };
                return Err(self.err(&pm, why));
            }
        }
        self.positive(&p.key("id_token_lifetime"), a.id_token_lifetime)?;
        self.grants(p, a)?;
        if let Some(r) = &a.refresh_token {
            let pr = p.key("refresh_token");
            self.positive(&pr.key("idle_lifetime"), r.idle_lifetime)?;
            self.positive(&pr.key("absolute_lifetime"), r.absolute_lifetime)?;
            if let (Some(idle), Some(abs)) = (r.idle_lifetime, r.absolute_lifetime)
                && idle > abs
            {
                return Err(self.err(
                    &pr.key("idle_lifetime"),
                    "must not exceed absolute_lifetime",
                ));
            }
        }
        Ok(())
    }

    /// Client grants: `m2m` applications only, each Api once, each permission once.
    fn grants(&self, p: &Path, a: &ApplicationDoc) -> Result<(), DeclError> {
        if a.grants.is_empty() {
            return Ok(());
        }
        if a.app_type != AppType::M2m {
            return Err(self.err(
                &p.key("grants"),
                format!(
                    "only `m2m` applications have client grants; `{}` is a `{}` application",
                    a.name, a.app_type
                ),
            ));
        }
        for (i, g) in a.grants.iter().enumerate() {
            let pg = p.at("grants", i);
            self.text(&pg.key("api"), &g.api, 600)?;
            for (j, s) in g.scope.iter().enumerate() {
                self.text(&pg.at("scope", j), s, 280)?;
            }
            if let Some((j, s)) = first_duplicate(&g.scope) {
                return Err(self.err(&pg.at("scope", j), format!("`{s}` is listed twice")));
            }
        }
        match first_duplicate(a.grants.iter().map(|g| &g.api)) {
            Some((i, api)) => Err(self.err(
                &p.at("grants", i).key("api"),
                format!("a grant on Api `{api}` is listed twice"),
            )),
            None => Ok(()),
        }
    }

    fn user(&self, p: &Path, u: &UserDoc) -> Result<(), DeclError> {
        if u.password.is_some() && u.password_hash.is_some() {
            return Err(self.err(p, "give either `password` or `password_hash`, not both"));
        }
        if let Some(pw) = &u.password
            && pw.expose().chars().count() < MIN_PASSWORD_CHARS
        {
            return Err(self.err(
                &p.key("password"),
                format!("must be at least {MIN_PASSWORD_CHARS} characters"),
            ));
        }
        if let Some(h) = &u.password_hash
            && let Err(e) = validate_password_hash(h.expose())
        {
            return Err(self.err(&p.key("password_hash"), e.to_string()));
        }
        for (field, value) in [
            ("name", &u.name),
            ("given_name", &u.given_name),
            ("family_name", &u.family_name),
            ("nickname", &u.nickname),
            ("picture", &u.picture),
            ("locale", &u.locale),
        ] {
            if let Some(v) = value {
                self.text(&p.key(field), v, 2048)?;
            }
        }
        self.names(&p.key("roles"), &u.roles, "role")
    }

    fn organization(&self, p: &Path, o: &OrganizationDoc) -> Result<(), DeclError> {
        if let Some(d) = &o.display_name {
            self.text(&p.key("display_name"), d, 255)?;
        }
        if let Some(limit) = o.user_limit {
            if limit < 0 {
                return Err(self.err(&p.key("user_limit"), "must not be negative"));
            }
            if usize::try_from(limit).is_ok_and(|l| o.members.len() > l) {
                return Err(self.err(
                    &p.key("members"),
                    format!(
                        "lists {} members but user_limit is {limit}",
                        o.members.len()
                    ),
                ));
            }
        }
        for (mi, m) in o.members.iter().enumerate() {
            self.names(&p.at("members", mi).key("roles"), &m.roles, "role")?;
        }
        if let Some((i, e)) = first_duplicate(o.members.iter().map(|m| &m.email)) {
            return Err(self.err(
                &p.at("members", i).key("email"),
                format!("member `{e}` is listed twice"),
            ));
        }
        for (i, t) in o.teams.iter().enumerate() {
            let pt = p.at("teams", i);
            if let Some(d) = &t.display_name {
                self.text(&pt.key("display_name"), d, 255)?;
            }
            if let Some(d) = &t.description
                && d.chars().count() > 2000
            {
                return Err(self.err(&pt.key("description"), "must be at most 2000 characters"));
            }
            if let Some((j, e)) = first_duplicate(&t.members) {
                return Err(self.err(
                    &pt.at("members", j),
                    format!("member `{e}` is listed twice"),
                ));
            }
            self.names(&pt.key("roles"), &t.roles, "role")?;
        }
        match first_duplicate(o.teams.iter().map(|t| &t.slug)) {
            Some((i, s)) => Err(self.err(
                &p.at("teams", i).key("slug"),
                format!("team `{s}` is listed twice"),
            )),
            None => Ok(()),
        }
    }
}

fn has_scheme(u: &str) -> bool {
    u.split_once(':').is_some_and(|(scheme, rest)| {
        !rest.is_empty()
            && scheme
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    })
}

/// An absolute URL without fragment, wildcard or whitespace (redirect and logout URLs are
/// compared exactly).
fn check_redirect_url(u: &str) -> Result<(), String> {
    if u.len() > 2048 {
        return Err("must be at most 2048 characters".to_owned());
    }
    if !has_scheme(u) {
        return Err(format!("`{u}` is not an absolute URL"));
    }
    if u.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("`{u}` must not contain spaces"));
    }
    if u.contains('#') {
        return Err(format!("`{u}` must not contain a fragment (`#`)"));
    }
    if u.contains('*') {
        return Err(format!("`{u}`: wildcards are not allowed"));
    }
    Ok(())
}

/// `scheme://host[:port]`, nothing after.
fn check_origin(o: &str) -> Result<(), String> {
    let Some((scheme, rest)) = o.split_once("://") else {
        return Err(format!("`{o}` is not an origin (scheme://host[:port])"));
    };
    let ok = matches!(scheme, "http" | "https")
        && !rest.is_empty()
        && rest
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-.:[]".contains(c));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{o}` is not an origin (http(s)://host[:port], no path)"
        ))
    }
}
