//! API keys of the Management API: long-lived bearer credentials for services that call
//! the Management API without running the client-credentials grant.
//!
//! Rules enforced here:
//! - a key is `clv_` followed by [`API_KEY_RANDOM_CHARS`] lowercase Crockford base32
//!   characters (260 bits of randomness), so secret scanners can recognise it with
//!   [`API_KEY_PATTERN`]; it is returned once, when created or rotated, and stored only as
//!   the tenant's keyed SHA-256 digest (the same keyed digest as client secrets);
//! - scopes are a subset of [`MANAGEMENT_SCOPES`]; an organization administrator's key
//!   (`org_id` set) holds only [`ORG_LEVEL_SCOPES`] and reaches only its organization;
//! - whoever creates, changes or rotates a key must hold every scope the key has (no
//!   privilege escalation), and an organization's caller manages only its own
//!   organization's keys;
//! - deleting a key revokes it at once; from then on it is "not found", except in a list
//!   that asks for revoked keys (`revoked: true`); the record stays for the audit trail;
//! - every change appends `api_key.created|updated|rotated|revoked` in the same
//!   transaction; the events never carry the key or its digest.

use clavis_types::{ApiKeyId, OrgId, Timestamp, random_base32};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::json;

use super::MANAGEMENT_SCOPES;
use crate::CoreError;
use crate::model::{ApiKey, AuditOrganization, JsonMap, Page, Tenant};
use crate::ports::Tx;
use crate::service::{Core, RequestMeta};

/// What every API key starts with.
pub const API_KEY_PREFIX: &str = "clv_";
/// Random characters after the prefix (5 bits each).
pub const API_KEY_RANDOM_CHARS: usize = 52;
/// A regular expression matching API keys, for secret scanners.
pub const API_KEY_PATTERN: &str = r"\bclv_[0-9a-hjkmnp-tv-z]{52}\b";
/// Characters after the prefix kept as the key's hint.
pub const HINT_CHARS: usize = 6;
/// Longest key name.
pub const MAX_NAME: usize = 100;
/// A `last_used_at` is written at most this often per key.
pub const TOUCH_INTERVAL_SECS: i64 = 60;

/// The scopes an organization administrator's key may hold: those of operations on one
/// organization (`/organizations/{id}/…`, its branding included; its email domains only
/// read, since a domain routes logins of the whole tenant), its audit events,
/// authorization checks and its own API keys.
pub const ORG_LEVEL_SCOPES: &[&str] = &[
    "read:organizations",
    "update:organizations",
    "read:organization_members",
    "create:organization_members",
    "delete:organization_members",
    "read:organization_member_roles",
    "create:organization_member_roles",
    "delete:organization_member_roles",
    "read:organization_invitations",
    "create:organization_invitations",
    "delete:organization_invitations",
    "read:organization_connections",
    "create:organization_connections",
    "update:organization_connections",
    "delete:organization_connections",
    "read:organization_domains",
    "read:branding",
    "update:branding",
    "delete:branding",
    "read:teams",
    "create:teams",
    "update:teams",
    "delete:teams",
    "read:logs",
    "read:authz",
    "read:api_keys",
    "create:api_keys",
    "update:api_keys",
    "delete:api_keys",
];

/// Who is managing keys: the scopes it holds and, for an organization's caller, the
/// organization it acts for.
#[derive(Debug, Clone, Copy)]
pub struct KeyHolder<'a> {
    pub scopes: &'a [String],
    pub org_id: Option<&'a str>,
}

impl KeyHolder<'_> {
    /// The first of `scopes` the holder does not hold.
    pub fn missing<'s>(&self, scopes: &'s [String]) -> Option<&'s str> {
        scopes
            .iter()
            .find(|s| !self.scopes.contains(s))
            .map(String::as_str)
    }
}

/// One Management API scope, in the spec: a string enumerating [`MANAGEMENT_SCOPES`].
pub struct ScopeName;

impl utoipa::PartialSchema for ScopeName {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::Type::String)
            .description(Some("A Management API scope"))
            .enum_values(Some(MANAGEMENT_SCOPES.iter().copied()))
            .into()
    }
}

impl utoipa::ToSchema for ScopeName {}

/// A new API key.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyInput {
    /// 1–100 characters, to tell keys apart.
    pub name: String,
    /// Management API scopes; the caller must hold each of them.
    #[schema(value_type = Vec<ScopeName>)]
    pub scopes: Vec<String>,
    /// Make it an organization administrator's key: it reaches only this organization and
    /// may hold only organization-level scopes. An organization's caller may only name
    /// its own organization (the default for it).
    #[serde(default)]
    pub org_id: Option<String>,
    /// When the key stops working (RFC 3339, in the future); none for no expiry.
    #[serde(default)]
    pub expires_at: Option<String>,
}

/// A change to a key: absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyPatch {
    pub name: Option<String>,
    /// Replaces all scopes; the caller must hold each of them.
    #[schema(value_type = Option<Vec<ScopeName>>)]
    pub scopes: Option<Vec<String>>,
    /// A new expiry (RFC 3339, in the future), or `null` for none.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub expires_at: Option<Option<String>>,
}

/// `Some(None)` for an explicit `null`, `None` (via `default`) when absent.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// A key as the API shows it: never the key or its digest.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ApiKeyView {
    /// `akey_…`
    pub id: String,
    pub name: String,
    /// `clv_` and the first characters of the key.
    pub hint: String,
    pub scopes: Vec<String>,
    /// The organization an organization administrator's key acts for.
    pub org_id: Option<String>,
    pub expires_at: Option<String>,
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub revoked: bool,
}

impl From<&ApiKey> for ApiKeyView {
    fn from(k: &ApiKey) -> Self {
        Self {
            id: k.id.to_string(),
            name: k.name.clone(),
            hint: format!("{API_KEY_PREFIX}{}", k.hint),
            scopes: k.scopes.clone(),
            org_id: k.org_id.as_ref().map(ToString::to_string),
            expires_at: k.expires_at.map(Timestamp::to_rfc3339),
            created_at: k.created_at.to_rfc3339(),
            last_used_at: k.last_used_at.map(Timestamp::to_rfc3339),
            revoked: k.revoked_at.is_some(),
        }
    }
}

/// A key just created or rotated: the view plus the key itself, shown this once.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ApiKeyIssued {
    /// The key (`clv_…`). It is not stored and cannot be shown again.
    pub key: String,
    pub id: String,
    pub name: String,
    pub hint: String,
    pub scopes: Vec<String>,
    pub org_id: Option<String>,
    pub expires_at: Option<String>,
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub revoked: bool,
}

impl ApiKeyIssued {
    fn new(k: &ApiKey, key: String) -> Self {
        let v = ApiKeyView::from(k);
        Self {
            key,
            id: v.id,
            name: v.name,
            hint: v.hint,
            scopes: v.scopes,
            org_id: v.org_id,
            expires_at: v.expires_at,
            created_at: v.created_at,
            last_used_at: v.last_used_at,
            revoked: v.revoked,
        }
    }
}

fn validate_name(name: &str) -> Result<String, CoreError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(CoreError::invalid("name", "must not be empty"));
    }
    if name.chars().count() > MAX_NAME {
        return Err(CoreError::invalid(
            "name",
            format!("at most {MAX_NAME} characters"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(CoreError::invalid(
            "name",
            "must not contain control characters",
        ));
    }
    Ok(name.to_owned())
}

/// Known, unrepeated Management API scopes, organization-level ones only for an
/// organization's key; in [`MANAGEMENT_SCOPES`] order.
fn validate_scopes(scopes: &[String], org_key: bool) -> Result<Vec<String>, CoreError> {
    if scopes.is_empty() {
        return Err(CoreError::invalid("scopes", "give at least one scope"));
    }
    for s in scopes {
        if !MANAGEMENT_SCOPES.contains(&s.as_str()) {
            return Err(CoreError::invalid(
                "scopes",
                format!("unknown scope `{}`", s.escape_debug()),
            ));
        }
        if org_key && !ORG_LEVEL_SCOPES.contains(&s.as_str()) {
            return Err(CoreError::invalid(
                "scopes",
                format!(
                    "`{s}` is not an organization-level scope; an organization's key cannot hold it"
                ),
            ));
        }
    }
    Ok(MANAGEMENT_SCOPES
        .iter()
        .filter(|m| scopes.iter().any(|s| s == *m))
        .map(|s| (*s).to_owned())
        .collect())
}

fn validate_expiry(s: &str, now: Timestamp) -> Result<Timestamp, CoreError> {
    let t = Timestamp::parse_rfc3339(s.trim())
        .ok_or_else(|| CoreError::invalid("expires_at", "expected an RFC 3339 time"))?;
    if t <= now {
        return Err(CoreError::invalid("expires_at", "must be in the future"));
    }
    Ok(t)
}

/// A caller that expires at `not_after` (an expiring API key) cannot make a key that
/// outlives it.
fn within_lifetime(
    not_after: Option<Timestamp>,
    expiry: Option<Timestamp>,
) -> Result<(), CoreError> {
    match (not_after, expiry) {
        (Some(limit), None) => Err(CoreError::invalid(
            "expires_at",
            format!(
                "required: the calling API key expires at {}, and a key it makes cannot outlive it",
                limit.to_rfc3339()
            ),
        )),
        (Some(limit), Some(e)) if e > limit => Err(CoreError::invalid(
            "expires_at",
            format!(
                "must be no later than {}, when the calling API key expires",
                limit.to_rfc3339()
            ),
        )),
        _ => Ok(()),
    }
}

fn escalation(holder: &KeyHolder<'_>, scopes: &[String]) -> Result<(), CoreError> {
    match holder.missing(scopes) {
        Some(s) => Err(CoreError::invalid(
            "scopes",
            format!("`{s}` is not held by the caller, so it cannot give it to a key"),
        )),
        None => Ok(()),
    }
}

fn key_context(k: &ApiKey) -> JsonMap {
    JsonMap::from_iter([
        ("api_key_id".to_owned(), json!(k.id.as_str())),
        ("name".to_owned(), json!(k.name)),
        (
            "hint".to_owned(),
            json!(format!("{API_KEY_PREFIX}{}", k.hint)),
        ),
        ("scopes".to_owned(), json!(k.scopes)),
        (
            "expires_at".to_owned(),
            json!(k.expires_at.map(Timestamp::to_rfc3339)),
        ),
    ])
}

impl Core {
    /// A fresh key and its keyed digest under the tenant's data key.
    async fn api_key_mint(
        &self,
        tx: &mut dyn Tx,
        tenant: &Tenant,
    ) -> Result<(String, String, Vec<u8>), CoreError> {
        let dk = self.keyring.data_key(tx, &tenant.id).await?;
        let random = random_base32(&*self.rng, API_KEY_RANDOM_CHARS);
        let hint = random.chars().take(HINT_CHARS).collect();
        let key = format!("{API_KEY_PREFIX}{random}");
        let digest = dk.secret_digest(key.as_bytes()).to_vec();
        Ok((key, hint, digest))
    }

    /// The live key `id`, when the holder may see it (an organization's caller sees only
    /// its organization's keys; others, and revoked keys, are "not found").
    async fn api_key_load(
        &self,
        tx: &mut dyn Tx,
        tenant: &Tenant,
        id: &str,
        holder: &KeyHolder<'_>,
    ) -> Result<ApiKey, CoreError> {
        let id = ApiKeyId::parse(id).map_err(|_| CoreError::NotFound("api key"))?;
        let key = tx
            .api_key_get(&tenant.id, &id)
            .await?
            .ok_or(CoreError::NotFound("api key"))?;
        match holder.org_id {
            _ if key.revoked_at.is_some() => Err(CoreError::NotFound("api key")),
            Some(own) if key.org_id.as_ref().map(OrgId::as_str) != Some(own) => {
                Err(CoreError::NotFound("api key"))
            }
            _ => Ok(key),
        }
    }

    async fn api_key_audit_org(
        &self,
        tx: &mut dyn Tx,
        tenant: &Tenant,
        k: &ApiKey,
    ) -> Result<Option<AuditOrganization>, CoreError> {
        let Some(org) = &k.org_id else {
            return Ok(None);
        };
        let name = tx
            .org_get(&tenant.id, org)
            .await?
            .map(|o| o.slug.to_string());
        Ok(Some(AuditOrganization {
            org_id: org.to_string(),
            name,
        }))
    }

    /// Create a key; returns it with the key itself, shown this once.
    pub async fn api_key_create(
        &self,
        tenant: &Tenant,
        input: ApiKeyInput,
        holder: &KeyHolder<'_>,
        meta: &RequestMeta,
    ) -> Result<ApiKeyIssued, CoreError> {
        self.api_key_create_within(tenant, input, holder, None, meta)
            .await
    }

    /// [`Core::api_key_create`] by a caller that stops working at `not_after` (an
    /// expiring API key): the new key must expire no later.
    pub async fn api_key_create_within(
        &self,
        tenant: &Tenant,
        input: ApiKeyInput,
        holder: &KeyHolder<'_>,
        not_after: Option<Timestamp>,
        meta: &RequestMeta,
    ) -> Result<ApiKeyIssued, CoreError> {
        let now = self.now();
        let name = validate_name(&input.name)?;
        let org_id = match (input.org_id.as_deref().map(str::trim), holder.org_id) {
            (None | Some(""), own) => own.map(str::to_owned),
            (Some(asked), Some(own)) if asked != own => {
                return Err(CoreError::invalid(
                    "org_id",
                    "an organization's caller can only create keys for its own organization",
                ));
            }
            (Some(asked), _) => Some(asked.to_owned()),
        };
        let org_id = org_id
            .map(|o| {
                OrgId::parse(&o).map_err(|_| {
                    CoreError::invalid("org_id", "expected an organization id starting with `org_`")
                })
            })
            .transpose()?;
        let scopes = validate_scopes(&input.scopes, org_id.is_some())?;
        escalation(holder, &scopes)?;
        let expires_at = input
            .expires_at
            .as_deref()
            .map(|e| validate_expiry(e, now))
            .transpose()?;
        within_lifetime(not_after, expires_at)?;
        let mut tx = self.store.begin().await?;
        if let Some(org) = &org_id
            && tx.org_get(&tenant.id, org).await?.is_none()
        {
            return Err(CoreError::invalid("org_id", "no such organization"));
        }
        let (key, hint, digest) = self.api_key_mint(&mut *tx, tenant).await?;
        let k = ApiKey {
            tenant_id: tenant.id.clone(),
            id: ApiKeyId::generate(now, &*self.rng),
            org_id,
            name,
            hint,
            digest,
            scopes,
            created_by: meta
                .caller
                .as_ref()
                .and_then(|c| c.client_id.clone().or_else(|| c.user_id.clone())),
            created_at: now,
            expires_at,
            last_used_at: None,
            revoked_at: None,
        };
        tx.api_key_insert(&k).await?;
        let org = self.api_key_audit_org(&mut *tx, tenant, &k).await?;
        let event = self.audit_event(
            &tenant.id,
            "api_key.created",
            crate::model::AuditActor::default(),
            org,
            key_context(&k),
            meta,
        );
        self.audit_in(&mut *tx, event).await?;
        tx.commit().await?;
        Ok(ApiKeyIssued::new(&k, key))
    }

    /// One page of keys, newest first, and the total; an organization's caller sees only
    /// its organization's keys; revoked keys only with `include_revoked`.
    pub async fn api_key_list(
        &self,
        tenant: &Tenant,
        holder: &KeyHolder<'_>,
        include_revoked: bool,
        page: Page,
        with_total: bool,
    ) -> Result<(Vec<ApiKeyView>, i64), CoreError> {
        let org = holder
            .org_id
            .map(|o| OrgId::parse(o).map_err(|_| CoreError::NotFound("organization")))
            .transpose()?;
        let mut tx = self.store.read().await?;
        let keys = tx
            .api_key_list(&tenant.id, org.as_ref(), include_revoked, page)
            .await?;
        let total = if with_total {
            tx.api_key_count(&tenant.id, org.as_ref(), include_revoked)
                .await?
        } else {
            0
        };
        Ok((keys.iter().map(ApiKeyView::from).collect(), total))
    }

    /// One key.
    pub async fn api_key_get(
        &self,
        tenant: &Tenant,
        id: &str,
        holder: &KeyHolder<'_>,
    ) -> Result<ApiKeyView, CoreError> {
        let mut tx = self.store.read().await?;
        let k = self.api_key_load(&mut *tx, tenant, id, holder).await?;
        Ok(ApiKeyView::from(&k))
    }

    /// Change a key's name, scopes or expiry. The caller must hold every scope the key
    /// has and will have.
    pub async fn api_key_update(
        &self,
        tenant: &Tenant,
        id: &str,
        patch: ApiKeyPatch,
        holder: &KeyHolder<'_>,
        meta: &RequestMeta,
    ) -> Result<ApiKeyView, CoreError> {
        self.api_key_update_within(tenant, id, patch, holder, None, meta)
            .await
    }

    /// [`Core::api_key_update`] by a caller that stops working at `not_after`: a new
    /// expiry must be no later.
    pub async fn api_key_update_within(
        &self,
        tenant: &Tenant,
        id: &str,
        patch: ApiKeyPatch,
        holder: &KeyHolder<'_>,
        not_after: Option<Timestamp>,
        meta: &RequestMeta,
    ) -> Result<ApiKeyView, CoreError> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let mut k = self.api_key_load(&mut *tx, tenant, id, holder).await?;
        escalation(holder, &k.scopes)?;
        let before = key_context(&k);
        let mut changed = Vec::new();
        if let Some(name) = &patch.name {
            let name = validate_name(name)?;
            if name != k.name {
                k.name = name;
                changed.push("name");
            }
        }
        if let Some(scopes) = &patch.scopes {
            let scopes = validate_scopes(scopes, k.org_id.is_some())?;
            escalation(holder, &scopes)?;
            if scopes != k.scopes {
                k.scopes = scopes;
                changed.push("scopes");
            }
        }
        if let Some(expiry) = &patch.expires_at {
            let expiry = expiry
                .as_deref()
                .map(|e| validate_expiry(e, now))
                .transpose()?;
            within_lifetime(not_after, expiry)?;
            if expiry != k.expires_at {
                k.expires_at = expiry;
                changed.push("expires_at");
            }
        }
        if changed.is_empty() {
            return Ok(ApiKeyView::from(&k));
        }
        if !tx.api_key_update(&k).await? {
            return Err(CoreError::NotFound("api key"));
        }
        let after = key_context(&k);
        let mut context = JsonMap::from_iter([
            ("api_key_id".to_owned(), json!(k.id.as_str())),
            ("changed".to_owned(), json!(changed)),
        ]);
        for field in &changed {
            context.insert(
                format!("{field}_before"),
                before.get(*field).cloned().unwrap_or_default(),
            );
            context.insert(
                format!("{field}_after"),
                after.get(*field).cloned().unwrap_or_default(),
            );
        }
        let org = self.api_key_audit_org(&mut *tx, tenant, &k).await?;
        let event = self.audit_event(
            &tenant.id,
            "api_key.updated",
            crate::model::AuditActor::default(),
            org,
            context,
            meta,
        );
        self.audit_in(&mut *tx, event).await?;
        tx.commit().await?;
        Ok(ApiKeyView::from(&k))
    }

    /// Replace a key's secret: the old key stops working at once. The caller must hold
    /// every scope of the key.
    pub async fn api_key_rotate(
        &self,
        tenant: &Tenant,
        id: &str,
        holder: &KeyHolder<'_>,
        meta: &RequestMeta,
    ) -> Result<ApiKeyIssued, CoreError> {
        let mut tx = self.store.begin().await?;
        let mut k = self.api_key_load(&mut *tx, tenant, id, holder).await?;
        escalation(holder, &k.scopes)?;
        let old_hint = format!("{API_KEY_PREFIX}{}", k.hint);
        let (key, hint, digest) = self.api_key_mint(&mut *tx, tenant).await?;
        k.hint = hint;
        k.digest = digest;
        if !tx.api_key_update(&k).await? {
            return Err(CoreError::NotFound("api key"));
        }
        let mut context = key_context(&k);
        context.insert("hint_before".to_owned(), json!(old_hint));
        let org = self.api_key_audit_org(&mut *tx, tenant, &k).await?;
        let event = self.audit_event(
            &tenant.id,
            "api_key.rotated",
            crate::model::AuditActor::default(),
            org,
            context,
            meta,
        );
        self.audit_in(&mut *tx, event).await?;
        tx.commit().await?;
        Ok(ApiKeyIssued::new(&k, key))
    }

    /// Revoke a key: it stops working at once on every node.
    pub async fn api_key_revoke(
        &self,
        tenant: &Tenant,
        id: &str,
        holder: &KeyHolder<'_>,
        meta: &RequestMeta,
    ) -> Result<(), CoreError> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let k = self.api_key_load(&mut *tx, tenant, id, holder).await?;
        if !tx.api_key_revoke(&tenant.id, &k.id, now).await? {
            return Err(CoreError::NotFound("api key"));
        }
        let org = self.api_key_audit_org(&mut *tx, tenant, &k).await?;
        let event = self.audit_event(
            &tenant.id,
            "api_key.revoked",
            crate::model::AuditActor::default(),
            org,
            key_context(&k),
            meta,
        );
        self.audit_in(&mut *tx, event).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The live key `presented` is, or `None` when it is unknown, revoked or expired. Read
    /// from the store on every call, so a revocation takes effect at once on every node;
    /// records the use at most once per [`TOUCH_INTERVAL_SECS`], never failing for it.
    pub async fn api_key_authenticate(
        &self,
        tenant: &Tenant,
        presented: &str,
    ) -> Result<Option<ApiKey>, CoreError> {
        let well_formed = presented.strip_prefix(API_KEY_PREFIX).is_some_and(|r| {
            r.len() == API_KEY_RANDOM_CHARS && r.bytes().all(|b| b.is_ascii_alphanumeric())
        });
        if !well_formed {
            return Ok(None);
        }
        let dk = self.tenant_data_key(tenant).await?;
        let digest = dk.secret_digest(presented.as_bytes());
        let found = {
            let mut tx = self.store.read().await?;
            tx.api_key_by_digest(&tenant.id, &digest).await?
        };
        let now = self.now();
        let Some(key) = found.filter(|k| {
            dk.verify_secret(presented.as_bytes(), &k.digest)
                && k.revoked_at.is_none()
                && k.expires_at.is_none_or(|e| e > now)
        }) else {
            return Ok(None);
        };
        let stale = key
            .last_used_at
            .is_none_or(|t| now.as_millis() - t.as_millis() >= TOUCH_INTERVAL_SECS * 1000);
        if stale {
            let touched = async {
                let mut tx = self.store.begin().await?;
                tx.api_key_touch(&tenant.id, &key.id, now).await?;
                tx.commit().await
            }
            .await;
            if let Err(e) = touched {
                tracing::warn!(error = %e, api_key = %key.id, "could not record an API key's use");
            }
        }
        Ok(Some(key))
    }
}
