//! `Core::apply`: check the whole document, then create or update tenants, connections,
//! Apis, roles, applications and their client grants (users and organizations are in
//! `apply_directory`), in one transaction. A record is written only when its managed fields differ from the stored
//! ones, so a second apply of the same document writes nothing. Each tenant that changed
//! gets one `config.applied` audit event in that transaction.

use clavis_crypto::{b64url, hash_password};
use clavis_types::{
    ApiId, ClientGrantId, ClientId, ConnectionId, ConnectionStrategy, Email, RoleId, Timestamp,
    UserId,
};
use std::collections::HashMap;
use zeroize::Zeroizing;

use super::document::{
    ApplicationDoc, AttackProtectionDoc, Document, PasswordPolicyDoc, Secret, TenantDoc,
    UniversalLoginDoc,
};
use super::validate::{default_auth_method, default_grant_types, validate};
use super::{
    ApplyReport, DEFAULT_API_TOKEN_LIFETIME, DEFAULT_ID_TOKEN_LIFETIME, IssuedSecret, ResourceKind,
};
use crate::model::{
    Api, Application, AttackProtection, ClientGrant, Connection, PasswordPolicy, Permission,
    RefreshPolicy, Role, RolePermission, Tenant, TenantSettings, UniversalLogin,
};
use crate::ports::Tx;
use crate::service::management::connections::validate_options;
use crate::{Core, CoreError};

impl Core {
    /// Make the database match `doc`: create what is missing, update managed fields that
    /// differ, delete nothing. All or nothing, in one transaction; every reference is
    /// checked before the first write. Applying the same document again reports no change
    /// and writes nothing.
    pub async fn apply(&self, doc: &Document) -> Result<ApplyReport, CoreError> {
        validate(doc)?;
        // Hash initial passwords before taking the write transaction (argon2 is slow).
        let hashes = self.prehash(doc).await?;
        let mut tx = self.store.begin().await?;
        let mut plans = Vec::with_capacity(doc.tenants.len());
        for (ti, t) in doc.tenants.iter().enumerate() {
            plans.push(self.check_tenant(&mut *tx, &doc.source, ti, t).await?);
        }
        let mut report = ApplyReport::default();
        for ((ti, t), plan) in doc.tenants.iter().enumerate().zip(plans) {
            let first_change = report.changes.len();
            let tenant = self
                .apply_tenant_row(&mut *tx, t, plan.existing, &mut report)
                .await?;
            let mut run = Run {
                core: self,
                tx: &mut *tx,
                now: self.now(),
                tenant,
                report: &mut report,
                hashes: &hashes,
                ti,
                roles: HashMap::new(),
                apis: HashMap::new(),
                users: HashMap::new(),
            };
            run.connections(t).await?;
            run.apis(t).await?;
            run.roles(t).await?;
            run.applications(t, &plan.apps).await?;
            run.users(t).await?;
            run.organizations(t).await?;
            let (tenant, users) = (run.tenant, run.users);
            let changes = report.changes.get(first_change..).unwrap_or_default();
            if !changes.is_empty() {
                let event = super::audit::config_applied(self, &tenant, changes, &users);
                self.audit_in(&mut *tx, event).await?;
            }
        }
        tx.commit().await?;
        Ok(report)
    }

    /// argon2id hashes of the initial passwords of users that do not exist yet, keyed by
    /// (tenant index, user index).
    async fn prehash(&self, doc: &Document) -> Result<HashMap<(usize, usize), String>, CoreError> {
        let mut out = HashMap::new();
        let mut tx = None;
        for (ti, t) in doc.tenants.iter().enumerate() {
            let mut tenant = None;
            for (ui, u) in t.users.iter().enumerate() {
                let Some(pw) = &u.password else { continue };
                let tx = match &mut tx {
                    Some(tx) => tx,
                    None => tx.insert(self.store.read().await?),
                };
                if tenant.is_none() {
                    tenant = Some(tx.tenant_get_by_slug(&t.slug).await?);
                }
                let exists = match tenant.as_ref().and_then(Option::as_ref) {
                    Some(x) => tx.user_get_by_email(&x.id, &u.email).await?.is_some(),
                    None => false,
                };
                if !exists {
                    out.insert((ti, ui), hash_password(pw.expose(), &*self.rng)?);
                }
            }
        }
        Ok(out)
    }

    async fn apply_tenant_row(
        &self,
        tx: &mut dyn Tx,
        t: &TenantDoc,
        existing: Option<Tenant>,
        report: &mut ApplyReport,
    ) -> Result<Tenant, CoreError> {
        let key = t.slug.to_string();
        let set = |s: &mut TenantSettings| {
            if let Some(a) = t.signing_alg {
                s.signing_alg = a;
            }
            if let Some(m) = t.max_token_lifetime {
                s.max_token_lifetime = m;
            }
            if let Some(d) = t.audit_retention_days {
                s.audit_retention_days = d;
            }
            if let Some(r) = &t.org_assignable_roles {
                s.org_assignable_roles.clone_from(r);
            }
            if let Some(a) = &t.phi_audiences {
                s.phi_audiences.clone_from(a);
            }
            merge_login_settings(t, s);
        };
        match existing {
            Some(old) => {
                let mut new = old.clone();
                if let Some(d) = &t.display_name {
                    new.display_name.clone_from(d);
                }
                set(&mut new.settings);
                let changed = new != old;
                if changed {
                    new.updated_at = self.now();
                    tx.tenant_update(&new).await?;
                }
                report.record(ResourceKind::Tenant, key, false, changed);
                Ok(new)
            }
            None => {
                let mut settings = TenantSettings::default();
                set(&mut settings);
                let name = t.display_name.as_deref().unwrap_or(t.slug.as_str());
                let tenant = self.create_tenant(tx, &t.slug, name, settings).await?;
                report.record(ResourceKind::Tenant, key, true, false);
                Ok(tenant)
            }
        }
    }
}

/// The state of applying one tenant.
pub(super) struct Run<'a> {
    pub core: &'a Core,
    pub tx: &'a mut dyn Tx,
    pub now: Timestamp,
    pub tenant: Tenant,
    pub report: &'a mut ApplyReport,
    pub hashes: &'a HashMap<(usize, usize), String>,
    /// Index of the tenant in the document.
    pub ti: usize,
    pub roles: HashMap<String, RoleId>,
    pub apis: HashMap<String, ApiId>,
    pub users: HashMap<Email, UserId>,
}

fn sorted<T: Ord + Clone>(v: &[T]) -> Vec<T> {
    let mut v = v.to_vec();
    v.sort();
    v.dedup();
    v
}

impl Run<'_> {
    pub(super) fn key(&self, name: &str) -> String {
        format!("{}/{name}", self.tenant.slug)
    }

    pub(super) async fn role_id(&mut self, name: &str) -> Result<RoleId, CoreError> {
        if let Some(id) = self.roles.get(name) {
            return Ok(id.clone());
        }
        let role = self
            .tx
            .role_get_by_name(&self.tenant.id, name)
            .await?
            .ok_or(CoreError::NotFound("role"))?;
        self.roles.insert(name.to_owned(), role.id.clone());
        Ok(role.id)
    }

    async fn api_id(&mut self, identifier: &str) -> Result<ApiId, CoreError> {
        if let Some(id) = self.apis.get(identifier) {
            return Ok(id.clone());
        }
        let api = self
            .tx
            .api_get_by_identifier(&self.tenant.id, identifier)
            .await?
            .ok_or(CoreError::NotFound("api"))?;
        self.apis.insert(identifier.to_owned(), api.id.clone());
        Ok(api.id)
    }

    async fn connections(&mut self, t: &TenantDoc) -> Result<(), CoreError> {
        for c in &t.connections {
            let key = self.key(&c.name);
            match self
                .tx
                .connection_get_by_name(&self.tenant.id, &c.name)
                .await?
            {
                Some(old) => {
                    let mut new = old.clone();
                    if let Some(s) = c.strategy {
                        new.strategy = s;
                    }
                    if let Some(o) = &c.options {
                        new.options.clone_from(o);
                    }
                    let changed = new != old;
                    if changed {
                        validate_options(new.strategy, &new.options)?;
                        new.updated_at = self.now;
                        self.tx.connection_update(&new).await?;
                    }
                    self.report
                        .record(ResourceKind::Connection, key, false, changed);
                }
                None => {
                    let strategy = c.strategy.unwrap_or(ConnectionStrategy::Database);
                    let options = c.options.clone().unwrap_or_default();
                    validate_options(strategy, &options)?;
                    self.tx
                        .connection_insert(&Connection {
                            tenant_id: self.tenant.id.clone(),
                            id: ConnectionId::generate(self.now, &*self.core.rng),
                            name: c.name.clone(),
                            strategy,
                            options,
                            created_at: self.now,
                            updated_at: self.now,
                        })
                        .await?;
                    self.report
                        .record(ResourceKind::Connection, key, true, false);
                }
            }
        }
        Ok(())
    }

    async fn apis(&mut self, t: &TenantDoc) -> Result<(), CoreError> {
        for a in &t.apis {
            let key = self.key(&a.identifier);
            let old = self
                .tx
                .api_get_by_identifier(&self.tenant.id, &a.identifier)
                .await?;
            let created = old.is_none();
            let old = old.unwrap_or_else(|| Api {
                tenant_id: self.tenant.id.clone(),
                id: ApiId::generate(self.now, &*self.core.rng),
                identifier: a.identifier.clone(),
                name: a.identifier.clone(),
                signing_alg: self.tenant.settings.signing_alg,
                token_lifetime: DEFAULT_API_TOKEN_LIFETIME,
                rbac_enabled: false,
                permissions_in_token: false,
                allow_offline_access: false,
                skip_consent: false,
                permissions: Vec::new(),
                created_at: self.now,
                updated_at: self.now,
            });
            let mut new = old.clone();
            if let Some(n) = &a.name {
                new.name.clone_from(n);
            }
            new.signing_alg = a.signing_alg.unwrap_or(new.signing_alg);
            new.token_lifetime = a.token_lifetime.unwrap_or(new.token_lifetime);
            new.rbac_enabled = a.rbac.unwrap_or(new.rbac_enabled);
            new.permissions_in_token = a.permissions_in_token.unwrap_or(new.permissions_in_token);
            new.allow_offline_access = a.allow_offline_access.unwrap_or(new.allow_offline_access);
            new.skip_consent = a.skip_consent.unwrap_or(new.skip_consent);
            for p in &a.permissions {
                match new.permissions.iter_mut().find(|x| x.value == p.value) {
                    Some(x) => {
                        if let Some(d) = &p.description {
                            x.description.clone_from(d);
                        }
                    }
                    None => new.permissions.push(Permission {
                        value: p.value.clone(),
                        description: p.description.clone().unwrap_or_default(),
                    }),
                }
            }
            self.apis.insert(a.identifier.clone(), new.id.clone());
            if created {
                self.tx.api_insert(&new).await?;
                self.report.record(ResourceKind::Api, key, true, false);
                continue;
            }
            let perms_changed = sorted(&new.permissions) != sorted(&old.permissions);
            let fields_changed = Api {
                permissions: old.permissions.clone(),
                ..new.clone()
            } != old;
            if fields_changed || perms_changed {
                new.updated_at = self.now;
                self.tx.api_update(&new).await?;
                if perms_changed {
                    self.tx
                        .api_permissions_set(&self.tenant.id, &new.id, &new.permissions)
                        .await?;
                }
                self.report.record(ResourceKind::Api, key, false, true);
            }
        }
        Ok(())
    }

    async fn roles(&mut self, t: &TenantDoc) -> Result<(), CoreError> {
        // First every role of the file exists (inheritance may point at any of them)…
        let mut states = Vec::with_capacity(t.roles.len());
        for r in &t.roles {
            let (old, created) = match self.tx.role_get_by_name(&self.tenant.id, &r.name).await? {
                Some(old) => (old, false),
                None => {
                    let role = Role {
                        tenant_id: self.tenant.id.clone(),
                        id: RoleId::generate(self.now, &*self.core.rng),
                        name: r.name.clone(),
                        description: r.description.clone().unwrap_or_default(),
                        created_at: self.now,
                        updated_at: self.now,
                    };
                    self.tx.role_insert(&role).await?;
                    (role, true)
                }
            };
            self.roles.insert(r.name.clone(), old.id.clone());
            states.push((old, created));
        }
        // …then their fields, permissions and parents.
        for (r, (old, created)) in t.roles.iter().zip(states) {
            let mut new = old.clone();
            if let Some(d) = &r.description {
                new.description.clone_from(d);
            }
            let mut changed = new != old;
            if let Some(perms) = &r.permissions {
                let mut want = Vec::with_capacity(perms.len());
                for x in perms {
                    want.push(RolePermission {
                        api_id: self.api_id(&x.api).await?,
                        permission: x.permission.clone(),
                    });
                }
                let want = sorted(&want);
                let have = if created {
                    Vec::new()
                } else {
                    sorted(&self.tx.role_permissions(&self.tenant.id, &old.id).await?)
                };
                if want != have {
                    self.tx
                        .role_permissions_set(&self.tenant.id, &old.id, &want)
                        .await?;
                    changed = true;
                }
            }
            if let Some(parents) = &r.inherits {
                let mut want = Vec::with_capacity(parents.len());
                for name in parents {
                    want.push(self.role_id(name).await?);
                }
                let want = sorted(&want);
                let have = if created {
                    Vec::new()
                } else {
                    sorted(&self.tx.role_inherits(&self.tenant.id, &old.id).await?)
                };
                if want != have {
                    self.tx
                        .role_inherits_set(&self.tenant.id, &old.id, &want)
                        .await?;
                    changed = true;
                }
            }
            if changed && !created {
                new.updated_at = self.now;
                self.tx.role_update(&new).await?;
            }
            let key = self.key(&r.name);
            self.report
                .record(ResourceKind::Role, key, created, changed);
        }
        Ok(())
    }

    async fn applications(
        &mut self,
        t: &TenantDoc,
        found: &[Option<ClientId>],
    ) -> Result<(), CoreError> {
        for (a, found) in t.applications.iter().zip(found) {
            let key = self.key(&a.name);
            let old = match found {
                Some(id) => Some(
                    self.tx
                        .app_get(&self.tenant.id, id)
                        .await?
                        .ok_or(CoreError::NotFound("application"))?,
                ),
                None => None,
            };
            let created = old.is_none();
            let old = old.unwrap_or_else(|| self.new_application(a));
            let mut new = old.clone();
            new.name.clone_from(&a.name);
            if new.app_type.is_confidential() != a.app_type.is_confidential() {
                // Public <-> confidential: what the file leaves unmanaged follows the type.
                new.token_endpoint_auth_method = default_auth_method(a.app_type).to_owned();
                new.grant_types = default_grant_types(a.app_type);
            }
            new.app_type = a.app_type;
            set_app_fields(&mut new, a);
            let mut secret = None;
            if !new.app_type.is_confidential() {
                new.client_secret_digest = None;
            } else if new.client_secret_digest.is_none() {
                let (s, digest) = self.new_client_secret().await?;
                new.client_secret_digest = Some(digest);
                secret = Some(s);
            }
            let changed = !created && new != old;
            if created {
                self.tx.app_insert(&new).await?;
            } else if changed {
                new.updated_at = self.now;
                self.tx.app_update(&new).await?;
            }
            self.report
                .record(ResourceKind::Application, key, created, changed);
            if let Some(client_secret) = secret {
                self.report.secrets.push(IssuedSecret {
                    tenant: self.tenant.slug.clone(),
                    application: new.name.clone(),
                    client_id: new.client_id.clone(),
                    client_secret,
                });
            }
            self.client_grants(&new.client_id, created, a).await?;
        }
        Ok(())
    }

    /// Create each grant the entry lists, or set its scope to exactly the listed one when
    /// it differs (as a set). Grants the entry does not list are left alone.
    async fn client_grants(
        &mut self,
        client_id: &ClientId,
        app_created: bool,
        a: &ApplicationDoc,
    ) -> Result<(), CoreError> {
        for g in &a.grants {
            let key = format!("{}/{}/{}", self.tenant.slug, a.name, g.api);
            let api_id = self.api_id(&g.api).await?;
            let scope = sorted(&g.scope);
            let old = if app_created {
                None
            } else {
                self.tx
                    .client_grant_get(&self.tenant.id, client_id, &api_id)
                    .await?
            };
            let (grant, created) = match old {
                Some(old) if sorted(&old.scope) == scope => continue,
                Some(old) => (
                    ClientGrant {
                        scope,
                        updated_at: self.now,
                        ..old
                    },
                    false,
                ),
                None => (
                    ClientGrant {
                        tenant_id: self.tenant.id.clone(),
                        id: ClientGrantId::generate(self.now, &*self.core.rng),
                        client_id: client_id.clone(),
                        api_id,
                        scope,
                        created_at: self.now,
                        updated_at: self.now,
                    },
                    true,
                ),
            };
            self.tx.client_grant_upsert(&grant).await?;
            self.report
                .record(ResourceKind::ClientGrant, key, created, !created);
        }
        Ok(())
    }

    /// An application of the entry's type with every default, before the file's fields.
    fn new_application(&self, a: &ApplicationDoc) -> Application {
        Application {
            tenant_id: self.tenant.id.clone(),
            client_id: a
                .client_id
                .clone()
                .unwrap_or_else(|| ClientId::generate(&*self.core.rng)),
            name: a.name.clone(),
            app_type: a.app_type,
            client_secret_digest: None,
            token_endpoint_auth_method: default_auth_method(a.app_type).to_owned(),
            callbacks: Vec::new(),
            logout_urls: Vec::new(),
            web_origins: Vec::new(),
            grant_types: default_grant_types(a.app_type),
            id_token_lifetime: DEFAULT_ID_TOKEN_LIFETIME,
            refresh: RefreshPolicy::default(),
            organization_usage: clavis_types::OrganizationUsage::Deny,
            pkce_required: true,
            is_first_party: true,
            client_jwks: None,
            created_at: self.now,
            updated_at: self.now,
        }
    }

    /// 32 random bytes, base64url; returns the secret and its keyed digest to store.
    async fn new_client_secret(&mut self) -> Result<(Secret, Vec<u8>), CoreError> {
        let dk = self.core.keyring.data_key(self.tx, &self.tenant.id).await?;
        let mut raw = Zeroizing::new([0u8; 32]);
        self.core.rng.fill(raw.as_mut_slice());
        let secret = Secret::new(b64url(raw.as_slice()));
        let digest = dk.secret_digest(secret.expose().as_bytes()).to_vec();
        Ok((secret, digest))
    }
}

fn set_app_fields(app: &mut Application, a: &ApplicationDoc) {
    let lists = [
        (&mut app.callbacks, &a.callbacks),
        (&mut app.logout_urls, &a.logout_urls),
        (&mut app.web_origins, &a.web_origins),
        (&mut app.grant_types, &a.grant_types),
    ];
    for (field, value) in lists {
        if let Some(v) = value {
            field.clone_from(v);
        }
    }
    if let Some(m) = &a.token_endpoint_auth_method {
        app.token_endpoint_auth_method.clone_from(m);
    }
    app.organization_usage = a.organization_usage.unwrap_or(app.organization_usage);
    app.id_token_lifetime = a.id_token_lifetime.unwrap_or(app.id_token_lifetime);
    app.pkce_required = a.pkce_required.unwrap_or(app.pkce_required);
    app.is_first_party = a.is_first_party.unwrap_or(app.is_first_party);
    if let Some(r) = &a.refresh_token {
        app.refresh.rotation = r.rotation.unwrap_or(app.refresh.rotation);
        app.refresh.idle_lifetime = r.idle_lifetime.unwrap_or(app.refresh.idle_lifetime);
        app.refresh.absolute_lifetime =
            r.absolute_lifetime.unwrap_or(app.refresh.absolute_lifetime);
    }
}

/// Lay the login settings blocks of `t` (only the fields present) over `s`.
pub(super) fn merge_login_settings(t: &TenantDoc, s: &mut TenantSettings) {
    if let Some(d) = &t.password_policy {
        merge_password_policy(d, &mut s.password_policy);
    }
    if let Some(d) = &t.attack_protection {
        merge_attack_protection(d, &mut s.attack_protection);
    }
    if let Some(d) = &t.universal_login {
        merge_universal_login(d, &mut s.universal_login);
    }
}

fn merge_password_policy(d: &PasswordPolicyDoc, p: &mut PasswordPolicy) {
    p.min_length = d.min_length.unwrap_or(p.min_length);
    p.min_strength = d.min_strength.unwrap_or(p.min_strength);
    p.history = d.history.unwrap_or(p.history);
    p.dictionary = d.dictionary.unwrap_or(p.dictionary);
    p.no_personal_info = d.no_personal_info.unwrap_or(p.no_personal_info);
}

fn merge_attack_protection(d: &AttackProtectionDoc, a: &mut AttackProtection) {
    a.auth_per_ip_per_minute = d.auth_per_ip_per_minute.unwrap_or(a.auth_per_ip_per_minute);
    a.failed_logins_per_hour = d.failed_logins_per_hour.unwrap_or(a.failed_logins_per_hour);
    a.lockout_secs = d.lockout_secs.unwrap_or(a.lockout_secs);
    a.lockout_max_secs = d.lockout_max_secs.unwrap_or(a.lockout_max_secs);
    a.refresh_per_user_per_hour = d
        .refresh_per_user_per_hour
        .unwrap_or(a.refresh_per_user_per_hour);
    a.suspicious_ip_failures_per_day = d
        .suspicious_ip_failures_per_day
        .unwrap_or(a.suspicious_ip_failures_per_day);
}

fn merge_universal_login(d: &UniversalLoginDoc, u: &mut UniversalLogin) {
    u.signup_enabled = d.signup_enabled.unwrap_or(u.signup_enabled);
    u.require_email_verification = d
        .require_email_verification
        .unwrap_or(u.require_email_verification);
    if let Some(l) = &d.default_locale {
        u.default_locale.clone_from(l);
    }
}
