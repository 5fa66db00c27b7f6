//! What an administrator may send for an application, in Auth0's shape, and how it maps
//! onto [`Application`]: `jwt_configuration.lifetime_in_seconds` is the ID-token
//! lifetime; `refresh_token` maps onto [`RefreshPolicy`] (`rotation_type`,
//! `token_lifetime` = absolute, `idle_token_lifetime` = idle; refresh tokens always
//! expire here). Validation reuses the declarative configuration's rules and names the
//! field in this API's terms.

use clavis_crypto::{JwkSet, Verifier};
use clavis_types::{AppType, OrganizationUsage};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

use crate::CoreError;
use crate::declarative::{ApplicationDoc, RefreshTokenDoc, validate_application};
use crate::model::{Application, RefreshPolicy, Tenant};

/// Most entries of each URL or grant-type list.
const MAX_LIST: usize = 100;
/// Most public keys an application may register.
const MAX_KEYS: usize = 10;
/// Longest refresh-token lifetime accepted (ten years).
const MAX_REFRESH_LIFETIME: i64 = 10 * 365 * 86_400;
/// JWK members that hold private key material.
const PRIVATE_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "k", "oth"];

/// A new application.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientInput {
    /// 1–255 characters.
    pub name: String,
    /// `spa`, `native`, `web` (or Auth0's `regular_web`), `m2m` (or `non_interactive`).
    pub app_type: String,
    #[serde(default)]
    pub callbacks: Option<Vec<String>>,
    #[serde(default)]
    pub allowed_logout_urls: Option<Vec<String>>,
    #[serde(default)]
    pub web_origins: Option<Vec<String>>,
    /// Defaults by type: `authorization_code` + `refresh_token`, or `client_credentials`
    /// for `m2m`.
    #[serde(default)]
    pub grant_types: Option<Vec<String>>,
    /// Defaults to `none` for `spa`/`native`, `client_secret_basic` otherwise;
    /// `private_key_jwt` needs `jwks`.
    #[serde(default)]
    pub token_endpoint_auth_method: Option<String>,
    #[serde(default)]
    pub jwt_configuration: Option<JwtConfiguration>,
    #[serde(default)]
    pub refresh_token: Option<RefreshTokenConfig>,
    /// `deny` (default), `allow` or `require`.
    #[serde(default)]
    pub organization_usage: Option<String>,
    /// Require PKCE (S256); default `true`, always on for public applications.
    #[serde(default)]
    pub pkce_required: Option<bool>,
    /// First-party applications skip the consent page; default `true`. Third-party
    /// applications ask each user once for the scopes they request.
    #[serde(default)]
    pub is_first_party: Option<bool>,
    /// Public keys (`{"keys": [...]}`) for `private_key_jwt`.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub jwks: Option<serde_json::Value>,
}

/// A change to an application: absent fields stay as they are. Lists are replaced as a
/// whole; `jwks: {"keys": []}` removes the keys.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientPatch {
    pub name: Option<String>,
    /// Switching between a public and a confidential type resets the authentication
    /// method and grant types the patch leaves out to the new type's defaults.
    pub app_type: Option<String>,
    pub callbacks: Option<Vec<String>>,
    pub allowed_logout_urls: Option<Vec<String>>,
    pub web_origins: Option<Vec<String>>,
    pub grant_types: Option<Vec<String>>,
    pub token_endpoint_auth_method: Option<String>,
    pub jwt_configuration: Option<JwtConfiguration>,
    pub refresh_token: Option<RefreshTokenConfig>,
    pub organization_usage: Option<String>,
    pub pkce_required: Option<bool>,
    pub is_first_party: Option<bool>,
    #[schema(value_type = Option<Object>)]
    pub jwks: Option<serde_json::Value>,
}

impl ClientInput {
    /// Everything but the type, as a patch of an application with defaults.
    pub(super) fn into_patch(self) -> ClientPatch {
        ClientPatch {
            name: Some(self.name),
            app_type: None,
            callbacks: self.callbacks,
            allowed_logout_urls: self.allowed_logout_urls,
            web_origins: self.web_origins,
            grant_types: self.grant_types,
            token_endpoint_auth_method: self.token_endpoint_auth_method,
            jwt_configuration: self.jwt_configuration,
            refresh_token: self.refresh_token,
            organization_usage: self.organization_usage,
            pkce_required: self.pkce_required,
            is_first_party: self.is_first_party,
            jwks: self.jwks,
        }
    }
}

/// ID-token settings.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JwtConfiguration {
    /// ID-token lifetime in seconds; at most the tenant's `max_token_lifetime`.
    pub lifetime_in_seconds: Option<i64>,
}

/// ID-token settings as shown.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct JwtConfigurationView {
    pub lifetime_in_seconds: i64,
}

/// Refresh-token policy, in Auth0's terms.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshTokenConfig {
    /// `rotating` (each use issues a new one; reuse revokes the family) or `non-rotating`.
    pub rotation_type: Option<String>,
    /// Only `expiring`: refresh tokens always expire here.
    pub expiration_type: Option<String>,
    /// Seconds from the first login after which the token family ends.
    pub token_lifetime: Option<i64>,
    /// Seconds a refresh token may go unused; at most `token_lifetime`.
    pub idle_token_lifetime: Option<i64>,
    /// Only `false`.
    pub infinite_token_lifetime: Option<bool>,
    /// Only `false`.
    pub infinite_idle_token_lifetime: Option<bool>,
}

/// Refresh-token policy as shown.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RefreshTokenView {
    /// `rotating` or `non-rotating`.
    pub rotation_type: String,
    /// Always `expiring`.
    pub expiration_type: String,
    pub token_lifetime: i64,
    pub idle_token_lifetime: i64,
    pub infinite_token_lifetime: bool,
    pub infinite_idle_token_lifetime: bool,
}

impl From<&RefreshPolicy> for RefreshTokenView {
    fn from(r: &RefreshPolicy) -> Self {
        Self {
            rotation_type: if r.rotation {
                "rotating"
            } else {
                "non-rotating"
            }
            .to_owned(),
            expiration_type: "expiring".to_owned(),
            token_lifetime: r.absolute_lifetime,
            idle_token_lifetime: r.idle_lifetime,
            infinite_token_lifetime: false,
            infinite_idle_token_lifetime: false,
        }
    }
}

/// Our type names, and Auth0's where they differ.
pub(super) fn parse_app_type(s: &str) -> Result<AppType, CoreError> {
    match s.trim() {
        "spa" => Ok(AppType::Spa),
        "native" => Ok(AppType::Native),
        "web" | "regular_web" => Ok(AppType::Web),
        "m2m" | "non_interactive" => Ok(AppType::M2m),
        _ => Err(CoreError::invalid(
            "app_type",
            "expected spa, native, web (regular_web) or m2m (non_interactive)",
        )),
    }
}

fn list(field: &str, v: Vec<String>) -> Result<Vec<String>, CoreError> {
    if v.len() > MAX_LIST {
        return Err(CoreError::invalid(
            field,
            format!("at most {MAX_LIST} entries"),
        ));
    }
    Ok(v)
}

/// Set what the patch gives (the type is handled by the caller).
pub(super) fn apply(app: &mut Application, p: ClientPatch) -> Result<(), CoreError> {
    if let Some(n) = p.name {
        app.name = n.trim().to_owned();
    }
    if let Some(v) = p.callbacks {
        app.callbacks = list("callbacks", v)?;
    }
    if let Some(v) = p.allowed_logout_urls {
        app.logout_urls = list("allowed_logout_urls", v)?;
    }
    if let Some(v) = p.web_origins {
        app.web_origins = list("web_origins", v)?;
    }
    if let Some(v) = p.grant_types {
        app.grant_types = list("grant_types", v)?;
    }
    if let Some(m) = p.token_endpoint_auth_method {
        app.token_endpoint_auth_method = m.trim().to_owned();
    }
    if let Some(n) = p.jwt_configuration.and_then(|j| j.lifetime_in_seconds) {
        app.id_token_lifetime = n;
    }
    if let Some(r) = p.refresh_token {
        refresh(&mut app.refresh, r)?;
    }
    if let Some(u) = p.organization_usage {
        app.organization_usage = OrganizationUsage::parse(u.trim()).map_err(|_| {
            CoreError::invalid("organization_usage", "expected deny, allow or require")
        })?;
    }
    if let Some(b) = p.pkce_required {
        app.pkce_required = b;
    }
    if let Some(b) = p.is_first_party {
        app.is_first_party = b;
    }
    if let Some(v) = p.jwks {
        app.client_jwks = jwks(v)?;
    }
    Ok(())
}

fn refresh(policy: &mut RefreshPolicy, r: RefreshTokenConfig) -> Result<(), CoreError> {
    match r.rotation_type.as_deref().map(str::trim) {
        None => {}
        Some("rotating") => policy.rotation = true,
        Some("non-rotating") => policy.rotation = false,
        Some(_) => {
            return Err(CoreError::invalid(
                "refresh_token.rotation_type",
                "expected rotating or non-rotating",
            ));
        }
    }
    if let Some(e) = r.expiration_type.as_deref().map(str::trim)
        && e != "expiring"
    {
        return Err(CoreError::invalid(
            "refresh_token.expiration_type",
            "only `expiring` is supported: refresh tokens always expire",
        ));
    }
    for (field, v) in [
        (
            "refresh_token.infinite_token_lifetime",
            r.infinite_token_lifetime,
        ),
        (
            "refresh_token.infinite_idle_token_lifetime",
            r.infinite_idle_token_lifetime,
        ),
    ] {
        if v == Some(true) {
            return Err(CoreError::invalid(
                field,
                "refresh tokens always expire; only `false` is accepted",
            ));
        }
    }
    for (field, v) in [
        ("refresh_token.token_lifetime", r.token_lifetime),
        ("refresh_token.idle_token_lifetime", r.idle_token_lifetime),
    ] {
        if v.is_some_and(|n| n > MAX_REFRESH_LIFETIME) {
            return Err(CoreError::invalid(
                field,
                format!("must be at most {MAX_REFRESH_LIFETIME} seconds"),
            ));
        }
    }
    policy.absolute_lifetime = r.token_lifetime.unwrap_or(policy.absolute_lifetime);
    policy.idle_lifetime = r.idle_token_lifetime.unwrap_or(policy.idle_lifetime);
    Ok(())
}

/// Public keys for `private_key_jwt`: valid signature keys with distinct `kid`s and no
/// private members. An empty set means none.
fn jwks(v: serde_json::Value) -> Result<Option<JwkSet>, CoreError> {
    if let Some(keys) = v.get("keys").and_then(serde_json::Value::as_array) {
        for (i, k) in keys.iter().enumerate() {
            if let Some(m) = PRIVATE_MEMBERS.iter().find(|m| k.get(**m).is_some()) {
                return Err(CoreError::invalid(
                    format!("jwks.keys[{i}]"),
                    format!("holds private key material (`{m}`); give public keys only"),
                ));
            }
        }
    }
    let set: JwkSet = serde_json::from_value(v)
        .map_err(|e| CoreError::invalid("jwks", format!("not a JWK Set: {e}")))?;
    if set.keys.is_empty() {
        return Ok(None);
    }
    if set.keys.len() > MAX_KEYS {
        return Err(CoreError::invalid(
            "jwks.keys",
            format!("at most {MAX_KEYS} keys"),
        ));
    }
    let mut kids = HashSet::new();
    for (i, k) in set.keys.iter().enumerate() {
        let field = format!("jwks.keys[{i}]");
        if k.kid.is_empty() || k.kid.len() > 128 || k.kid.chars().any(char::is_control) {
            return Err(CoreError::invalid(
                field,
                "`kid` must be 1 to 128 characters",
            ));
        }
        if !kids.insert(k.kid.as_str()) {
            return Err(CoreError::invalid(
                field,
                format!("`kid` `{}` is listed twice", k.kid),
            ));
        }
        Verifier::from_jwk(k).map_err(|e| CoreError::invalid(field, e.to_string()))?;
    }
    Ok(Some(set))
}

/// The field of this API that a declarative-configuration path is about.
fn field_name(path: &str) -> String {
    const RENAMES: &[(&str, &str)] = &[
        ("logout_urls", "allowed_logout_urls"),
        ("id_token_lifetime", "jwt_configuration.lifetime_in_seconds"),
        (
            "refresh_token.idle_lifetime",
            "refresh_token.idle_token_lifetime",
        ),
        (
            "refresh_token.absolute_lifetime",
            "refresh_token.token_lifetime",
        ),
    ];
    if path.is_empty() {
        return "client".to_owned();
    }
    RENAMES
        .iter()
        .find_map(|(from, to)| path.strip_prefix(from).map(|rest| format!("{to}{rest}")))
        .unwrap_or_else(|| path.to_owned())
}

/// Check the whole application as `apply` checks an entry of a file, then what files
/// cannot express (`private_key_jwt`) and the tenant's `max_token_lifetime`.
pub(super) fn check(tenant: &Tenant, a: &Application) -> Result<(), CoreError> {
    let key_jwt = a.token_endpoint_auth_method == "private_key_jwt";
    let doc = ApplicationDoc {
        name: a.name.clone(),
        client_id: None,
        app_type: a.app_type,
        callbacks: Some(a.callbacks.clone()),
        logout_urls: Some(a.logout_urls.clone()),
        web_origins: Some(a.web_origins.clone()),
        grant_types: Some(a.grant_types.clone()),
        organization_usage: Some(a.organization_usage),
        id_token_lifetime: Some(a.id_token_lifetime),
        refresh_token: Some(RefreshTokenDoc {
            rotation: Some(a.refresh.rotation),
            idle_lifetime: Some(a.refresh.idle_lifetime),
            absolute_lifetime: Some(a.refresh.absolute_lifetime),
        }),
        token_endpoint_auth_method: (!key_jwt).then(|| a.token_endpoint_auth_method.clone()),
        pkce_required: Some(a.pkce_required),
        is_first_party: Some(a.is_first_party),
        grants: Vec::new(),
    };
    validate_application(&doc).map_err(|e| CoreError::invalid(field_name(&e.path), e.reason))?;
    if key_jwt {
        if !a.app_type.is_confidential() {
            return Err(CoreError::invalid(
                "token_endpoint_auth_method",
                format!(
                    "a `{}` application is public and must use `none`",
                    a.app_type
                ),
            ));
        }
        if a.client_jwks.is_none() {
            return Err(CoreError::invalid(
                "jwks",
                "private_key_jwt needs the application's public keys",
            ));
        }
    }
    let max = tenant.settings.max_token_lifetime;
    if a.id_token_lifetime > max {
        return Err(CoreError::invalid(
            "jwt_configuration.lifetime_in_seconds",
            format!(
                "ID token lifetime of {} s exceeds the tenant's max_token_lifetime of {max} s",
                a.id_token_lifetime
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declarative_paths_become_api_fields() {
        assert_eq!(field_name("logout_urls[2]"), "allowed_logout_urls[2]");
        assert_eq!(
            field_name("refresh_token.idle_lifetime"),
            "refresh_token.idle_token_lifetime"
        );
        assert_eq!(field_name("callbacks[0]"), "callbacks[0]");
        assert_eq!(field_name(""), "client");
    }

    #[test]
    fn auth0_type_names_are_accepted() {
        assert_eq!(parse_app_type("regular_web").ok(), Some(AppType::Web));
        assert_eq!(parse_app_type("non_interactive").ok(), Some(AppType::M2m));
        assert!(parse_app_type("SPA").is_err());
    }

    #[test]
    fn private_key_material_is_refused() {
        let v = serde_json::json!({"keys": [{"kty": "OKP", "use": "sig", "alg": "EdDSA",
            "kid": "k", "crv": "Ed25519", "x": "AAAA", "d": "BBBB"}]});
        let err = jwks(v).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("jwks.keys[0]") && err.contains("`d`"), "{err}");
    }
}
