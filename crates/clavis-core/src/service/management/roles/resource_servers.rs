//! Resource servers (Apis) through the Management API, shaped after Auth0's
//! `resource-servers`: create, list, read, change and delete them.
//!
//! Rules enforced here:
//! - `identifier` (the audience) is an absolute URI of at most 600 characters, without
//!   spaces or fragment, unique in the tenant (409 otherwise) and immutable after creation;
//! - `scopes` (`[{value, description}]`) are the Api's permissions: values of 1–280
//!   characters without spaces, each listed once; a PATCH replaces them all. A scope that
//!   is removed is removed from every role holding it and from every client grant of the
//!   Api in the same transaction (the tenant's authorization version is bumped), so no
//!   role or grant keeps a permission the Api no longer defines;
//! - `token_lifetime` is between 1 second and the tenant's `max_token_lifetime`;
//!   `enforce_policies` is RBAC, `token_dialect` `access_token_authz` puts the user's
//!   permissions in access tokens (`access_token` does not);
//! - the Management API's own Api (the *system* Api, identified by the caller) cannot be
//!   deleted, and nothing of it but `token_lifetime` can change;
//! - every change and its audit event (`resource_server.created|updated|deleted`) are
//!   written in one transaction.

use std::collections::BTreeSet;

use clavis_types::{ApiId, SigningAlg};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{optional_text, record, required_text};
use crate::declarative::DEFAULT_API_TOKEN_LIFETIME;
use crate::model::{Api, JsonMap, Page, Permission, Tenant};
use crate::ports::Tx;
use crate::service::{Core, RequestMeta};
use crate::{CoreError, StoreError};

/// Longest Api identifier.
pub const MAX_IDENTIFIER: usize = 600;
/// Longest Api name.
pub const MAX_API_NAME: usize = 255;
/// Longest scope value.
pub const MAX_SCOPE_VALUE: usize = 280;
/// Longest scope description.
pub const MAX_SCOPE_DESCRIPTION: usize = 500;
/// Most scopes one Api may define.
pub const MAX_SCOPES: usize = 500;
/// `token_dialect` without permissions in access tokens.
pub const DIALECT_PLAIN: &str = "access_token";
/// `token_dialect` with the user's permissions in access tokens.
pub const DIALECT_AUTHZ: &str = "access_token_authz";

/// One scope (permission) of an Api.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScopeInput {
    /// 1–280 characters, no spaces.
    #[schema(min_length = 1, max_length = 280)]
    pub value: String,
    /// At most 500 characters.
    #[serde(default)]
    pub description: Option<String>,
}

/// What an administrator submits to create an Api.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResourceServerInput {
    /// Defaults to the identifier.
    #[serde(default)]
    pub name: Option<String>,
    /// The audience of the Api's access tokens: an absolute URI, unique in the tenant,
    /// immutable.
    #[schema(min_length = 1, max_length = 600)]
    pub identifier: String,
    #[serde(default)]
    pub scopes: Option<Vec<ScopeInput>>,
    /// `RS256` (default), `ES256` or `EdDSA`.
    #[serde(default)]
    pub signing_alg: Option<String>,
    /// Access-token lifetime in seconds (default 3600).
    #[serde(default)]
    pub token_lifetime: Option<i64>,
    /// Role-based access control: user tokens carry only the permissions their roles
    /// grant (default false).
    #[serde(default)]
    pub enforce_policies: Option<bool>,
    /// `access_token` (default) or `access_token_authz` (permissions in the token).
    #[serde(default)]
    pub token_dialect: Option<String>,
    /// Whether refresh tokens may be issued for the Api (default false).
    #[serde(default)]
    pub allow_offline_access: Option<bool>,
    /// Skip the consent page for first-party applications (default false).
    #[serde(default)]
    pub skip_consent_for_verifiable_first_party_clients: Option<bool>,
}

/// A change to an Api: absent fields stay as they are; `scopes` replaces them all.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResourceServerPatch {
    pub name: Option<String>,
    /// Immutable: accepted only when equal to the current identifier.
    pub identifier: Option<String>,
    pub scopes: Option<Vec<ScopeInput>>,
    pub signing_alg: Option<String>,
    pub token_lifetime: Option<i64>,
    pub enforce_policies: Option<bool>,
    pub token_dialect: Option<String>,
    pub allow_offline_access: Option<bool>,
    pub skip_consent_for_verifiable_first_party_clients: Option<bool>,
}

/// One scope as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ScopeView {
    pub value: String,
    pub description: String,
}

/// An Api as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ResourceServerView {
    pub id: String,
    pub name: String,
    pub identifier: String,
    pub scopes: Vec<ScopeView>,
    pub signing_alg: String,
    pub token_lifetime: i64,
    pub enforce_policies: bool,
    pub token_dialect: String,
    pub allow_offline_access: bool,
    pub skip_consent_for_verifiable_first_party_clients: bool,
    /// The Management API's own Api: built in, its scopes cannot change, it cannot be
    /// deleted.
    pub is_system: bool,
    pub created_at: String,
    pub updated_at: String,
}

impl ResourceServerView {
    /// The view of `api`; `system` is the identifier of the tenant's Management API.
    pub fn new(api: &Api, system: &str) -> Self {
        Self {
            id: api.id.to_string(),
            name: api.name.clone(),
            identifier: api.identifier.clone(),
            scopes: api
                .permissions
                .iter()
                .map(|p| ScopeView {
                    value: p.value.clone(),
                    description: p.description.clone(),
                })
                .collect(),
            signing_alg: api.signing_alg.as_str().to_owned(),
            token_lifetime: api.token_lifetime,
            enforce_policies: api.rbac_enabled,
            token_dialect: dialect(api).to_owned(),
            allow_offline_access: api.allow_offline_access,
            skip_consent_for_verifiable_first_party_clients: api.skip_consent,
            is_system: api.identifier == system,
            created_at: api.created_at.to_rfc3339(),
            updated_at: api.updated_at.to_rfc3339(),
        }
    }
}

fn dialect(api: &Api) -> &'static str {
    if api.permissions_in_token {
        DIALECT_AUTHZ
    } else {
        DIALECT_PLAIN
    }
}

/// An absolute URI: a scheme, something after it, no whitespace, control characters or
/// fragment.
fn validate_identifier(s: &str) -> Result<String, CoreError> {
    let s = required_text("identifier", s, MAX_IDENTIFIER)?;
    let scheme_ok = s.split_once(':').is_some_and(|(scheme, rest)| {
        !rest.is_empty()
            && scheme
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    });
    if !scheme_ok {
        return Err(CoreError::invalid(
            "identifier",
            "must be an absolute URI (such as https://api.example.com/)",
        ));
    }
    if s.chars().any(char::is_whitespace) {
        return Err(CoreError::invalid("identifier", "must not contain spaces"));
    }
    if s.contains('#') {
        return Err(CoreError::invalid(
            "identifier",
            "must not contain a fragment (`#`)",
        ));
    }
    Ok(s)
}

fn validate_scopes(scopes: &[ScopeInput]) -> Result<Vec<Permission>, CoreError> {
    if scopes.len() > MAX_SCOPES {
        return Err(CoreError::invalid(
            "scopes",
            format!("at most {MAX_SCOPES} scopes"),
        ));
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::with_capacity(scopes.len());
    for (i, s) in scopes.iter().enumerate() {
        let value = required_text(&format!("scopes[{i}].value"), &s.value, MAX_SCOPE_VALUE)?;
        if value.chars().any(char::is_whitespace) {
            return Err(CoreError::invalid(
                format!("scopes[{i}].value"),
                "a scope must not contain spaces",
            ));
        }
        if !seen.insert(value.clone()) {
            return Err(CoreError::invalid(
                format!("scopes[{i}].value"),
                format!("scope `{value}` is listed twice"),
            ));
        }
        let description = optional_text(
            &format!("scopes[{i}].description"),
            s.description.as_deref().unwrap_or_default(),
            MAX_SCOPE_DESCRIPTION,
        )?;
        out.push(Permission { value, description });
    }
    out.sort();
    Ok(out)
}

fn validate_lifetime(tenant: &Tenant, n: i64) -> Result<i64, CoreError> {
    let max = tenant.settings.max_token_lifetime;
    if n < 1 || n > max {
        return Err(CoreError::invalid(
            "token_lifetime",
            format!("must be between 1 and the tenant's max_token_lifetime ({max} seconds)"),
        ));
    }
    Ok(n)
}

fn parse_dialect(s: &str) -> Result<bool, CoreError> {
    match s.trim() {
        DIALECT_PLAIN => Ok(false),
        DIALECT_AUTHZ => Ok(true),
        _ => Err(CoreError::invalid(
            "token_dialect",
            format!("expected `{DIALECT_PLAIN}` or `{DIALECT_AUTHZ}`"),
        )),
    }
}

fn parse_alg(s: &str) -> Result<SigningAlg, CoreError> {
    SigningAlg::parse(s.trim()).map_err(|e| CoreError::invalid("signing_alg", e.reason))
}

fn identifier_conflict(e: StoreError, identifier: &str) -> CoreError {
    match e {
        StoreError::Conflict(_) => CoreError::Conflict(format!(
            "an Api with the identifier `{identifier}` already exists"
        )),
        other => other.into(),
    }
}

fn api_context(a: &Api) -> JsonMap {
    JsonMap::from_iter([
        ("resource_server_id".to_owned(), json!(a.id)),
        ("identifier".to_owned(), json!(a.identifier)),
        ("name".to_owned(), json!(a.name)),
    ])
}

/// The settings of an Api that audit events show before and after a change.
fn settings(a: &Api) -> JsonMap {
    JsonMap::from_iter([
        ("name".to_owned(), json!(a.name)),
        ("signing_alg".to_owned(), json!(a.signing_alg.as_str())),
        ("token_lifetime".to_owned(), json!(a.token_lifetime)),
        ("enforce_policies".to_owned(), json!(a.rbac_enabled)),
        ("token_dialect".to_owned(), json!(dialect(a))),
        (
            "allow_offline_access".to_owned(),
            json!(a.allow_offline_access),
        ),
        (
            "skip_consent_for_verifiable_first_party_clients".to_owned(),
            json!(a.skip_consent),
        ),
    ])
}

async fn load(tx: &mut dyn Tx, tenant: &Tenant, id: &ApiId) -> Result<Api, CoreError> {
    tx.api_get(&tenant.id, id)
        .await?
        .ok_or(CoreError::NotFound("resource server"))
}

/// Take `removed` scopes out of every client grant of `api`.
async fn prune_grants(
    tx: &mut dyn Tx,
    tenant: &Tenant,
    api: &ApiId,
    removed: &BTreeSet<String>,
    now: clavis_types::Timestamp,
) -> Result<(), CoreError> {
    let mut page = Page::first();
    loop {
        let grants = tx
            .client_grant_search(&tenant.id, None, Some(api), page)
            .await?;
        for mut g in grants.iter().cloned() {
            let before = g.scope.len();
            g.scope.retain(|s| !removed.contains(s));
            if g.scope.len() != before {
                g.updated_at = now;
                tx.client_grant_update(&g).await?;
            }
        }
        if grants.len() < page.limit() as usize {
            return Ok(());
        }
        page = page.next();
    }
}

impl Core {
    /// Create an Api.
    pub async fn mgmt_resource_server_create(
        &self,
        tenant: &Tenant,
        input: ResourceServerInput,
        meta: &RequestMeta,
    ) -> Result<Api, CoreError> {
        let identifier = validate_identifier(&input.identifier)?;
        let name = match &input.name {
            Some(n) => required_text("name", n, MAX_API_NAME)?,
            None => identifier.chars().take(MAX_API_NAME).collect(),
        };
        let permissions = validate_scopes(input.scopes.as_deref().unwrap_or_default())?;
        let signing_alg = match &input.signing_alg {
            Some(a) => parse_alg(a)?,
            None => SigningAlg::Rs256,
        };
        let token_lifetime = validate_lifetime(
            tenant,
            input
                .token_lifetime
                .unwrap_or(DEFAULT_API_TOKEN_LIFETIME.min(tenant.settings.max_token_lifetime)),
        )?;
        let permissions_in_token = match &input.token_dialect {
            Some(d) => parse_dialect(d)?,
            None => false,
        };
        let now = self.now();
        let api = Api {
            tenant_id: tenant.id.clone(),
            id: ApiId::generate(now, &*self.rng),
            identifier,
            name,
            signing_alg,
            token_lifetime,
            rbac_enabled: input.enforce_policies.unwrap_or(false),
            permissions_in_token,
            allow_offline_access: input.allow_offline_access.unwrap_or(false),
            skip_consent: input
                .skip_consent_for_verifiable_first_party_clients
                .unwrap_or(false),
            permissions,
            created_at: now,
            updated_at: now,
        };
        let mut tx = self.store.begin().await?;
        if tx
            .api_get_by_identifier(&tenant.id, &api.identifier)
            .await?
            .is_some()
        {
            return Err(identifier_conflict(
                StoreError::Conflict(String::new()),
                &api.identifier,
            ));
        }
        tx.api_insert(&api)
            .await
            .map_err(|e| identifier_conflict(e, &api.identifier))?;
        let mut context = api_context(&api);
        context.extend(settings(&api));
        let scopes: Vec<&str> = api.permissions.iter().map(|p| p.value.as_str()).collect();
        context.insert("scopes".to_owned(), json!(scopes));
        record(
            self,
            &mut *tx,
            tenant,
            "resource_server.created",
            context,
            meta,
        )
        .await?;
        tx.commit().await?;
        Ok(api)
    }

    /// One page of the tenant's Apis; with `with_total`, also how many there are.
    pub async fn mgmt_resource_server_list(
        &self,
        tenant: &Tenant,
        page: Page,
        with_total: bool,
    ) -> Result<(Vec<Api>, i64), CoreError> {
        let mut tx = self.store.read().await?;
        let apis = tx.api_list(&tenant.id, page).await?;
        let total = if with_total {
            tx.api_count(&tenant.id).await?
        } else {
            0
        };
        Ok((apis, total))
    }

    /// One Api.
    pub async fn mgmt_resource_server_get(
        &self,
        tenant: &Tenant,
        id: &ApiId,
    ) -> Result<Api, CoreError> {
        let mut tx = self.store.read().await?;
        load(&mut *tx, tenant, id).await
    }

    /// Change an Api; `system` is the identifier of the tenant's Management API, of which
    /// only `token_lifetime` can change.
    pub async fn mgmt_resource_server_update(
        &self,
        tenant: &Tenant,
        id: &ApiId,
        patch: ResourceServerPatch,
        system: &str,
        meta: &RequestMeta,
    ) -> Result<Api, CoreError> {
        let scopes = match &patch.scopes {
            Some(s) => Some(validate_scopes(s)?),
            None => None,
        };
        let mut tx = self.store.begin().await?;
        let old = load(&mut *tx, tenant, id).await?;
        if let Some(i) = &patch.identifier
            && i.trim() != old.identifier
        {
            return Err(CoreError::invalid(
                "identifier",
                "an Api's identifier cannot be changed after creation",
            ));
        }
        let mut api = old.clone();
        if let Some(n) = &patch.name {
            api.name = required_text("name", n, MAX_API_NAME)?;
        }
        if let Some(a) = &patch.signing_alg {
            api.signing_alg = parse_alg(a)?;
        }
        if let Some(n) = patch.token_lifetime {
            api.token_lifetime = validate_lifetime(tenant, n)?;
        }
        if let Some(d) = &patch.token_dialect {
            api.permissions_in_token = parse_dialect(d)?;
        }
        api.rbac_enabled = patch.enforce_policies.unwrap_or(api.rbac_enabled);
        api.allow_offline_access = patch
            .allow_offline_access
            .unwrap_or(api.allow_offline_access);
        api.skip_consent = patch
            .skip_consent_for_verifiable_first_party_clients
            .unwrap_or(api.skip_consent);
        if old.identifier == system {
            // Built in: only the lifetime of its tokens is the tenant's to choose.
            let mut same = api.clone();
            same.token_lifetime = old.token_lifetime;
            if same != old {
                return Err(CoreError::invalid(
                    "id",
                    "this is the Management API's own Api: only its `token_lifetime` can be \
                     changed",
                ));
            }
        }
        let mut added = Vec::new();
        let mut removed = BTreeSet::new();
        // Compared in one order, whatever order the store returned them in.
        let mut old_scopes = old.permissions.clone();
        old_scopes.sort();
        let mut scopes_changed = false;
        if let Some(scopes) = scopes {
            scopes_changed = scopes != old_scopes;
            if scopes_changed && old.identifier == system {
                return Err(CoreError::invalid(
                    "scopes",
                    "this is the Management API's own Api: its scopes are built in and \
                     cannot be changed",
                ));
            }
            added = scopes
                .iter()
                .filter(|p| !old.permissions.iter().any(|o| o.value == p.value))
                .map(|p| p.value.clone())
                .collect();
            removed = old
                .permissions
                .iter()
                .filter(|o| !scopes.iter().any(|p| p.value == o.value))
                .map(|o| o.value.clone())
                .collect();
            api.permissions = scopes;
        }
        let (before, after) = (settings(&old), settings(&api));
        let changed: Vec<&String> = after
            .iter()
            .filter(|(k, v)| before.get(*k) != Some(*v))
            .map(|(k, _)| k)
            .collect();
        if changed.is_empty() && !scopes_changed {
            return Ok(old);
        }
        api.updated_at = self.now();
        if !tx.api_update(&api).await? {
            return Err(CoreError::NotFound("resource server"));
        }
        if scopes_changed {
            tx.api_permissions_set(&tenant.id, id, &api.permissions)
                .await?;
            if !removed.is_empty() {
                prune_grants(&mut *tx, tenant, id, &removed, api.updated_at).await?;
            }
        }
        let mut context = api_context(&api);
        let pick = |m: &JsonMap| -> JsonMap {
            changed
                .iter()
                .filter_map(|k| m.get(*k).map(|v| ((*k).clone(), v.clone())))
                .collect()
        };
        context.insert("changed".to_owned(), json!(changed));
        context.insert(
            "before".to_owned(),
            serde_json::Value::Object(pick(&before)),
        );
        context.insert("after".to_owned(), serde_json::Value::Object(pick(&after)));
        if scopes_changed {
            context.insert("scopes_added".to_owned(), json!(added));
            context.insert("scopes_removed".to_owned(), json!(removed));
        }
        record(
            self,
            &mut *tx,
            tenant,
            "resource_server.updated",
            context,
            meta,
        )
        .await?;
        tx.commit().await?;
        self.caches
            .apis
            .remove(&(tenant.id.clone(), api.identifier.clone()));
        Ok(api)
    }

    /// Delete an Api: its permissions leave every role, its client grants go with it.
    /// `system` is the identifier of the tenant's Management API, which cannot be deleted.
    pub async fn mgmt_resource_server_delete(
        &self,
        tenant: &Tenant,
        id: &ApiId,
        system: &str,
        meta: &RequestMeta,
    ) -> Result<(), CoreError> {
        let mut tx = self.store.begin().await?;
        let api = load(&mut *tx, tenant, id).await?;
        if api.identifier == system {
            return Err(CoreError::invalid(
                "id",
                "this is the Management API's own Api: it is built in and cannot be deleted",
            ));
        }
        if !tx.api_delete(&tenant.id, id).await? {
            return Err(CoreError::NotFound("resource server"));
        }
        record(
            self,
            &mut *tx,
            tenant,
            "resource_server.deleted",
            api_context(&api),
            meta,
        )
        .await?;
        tx.commit().await?;
        self.caches
            .apis
            .remove(&(tenant.id.clone(), api.identifier.clone()));
        Ok(())
    }
}
