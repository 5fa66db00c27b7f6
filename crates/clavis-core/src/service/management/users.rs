//! Users of a tenant through the Management API: create (with a database identity and an
//! optional password), read, list, change (profile, email, password, blocking, metadata)
//! and soft-delete them; their tenant-wide roles, organizations, effective permissions and
//! identities live in [`links`].
//!
//! Rules enforced here:
//! - every text field is trimmed, bounded and free of control characters; errors name the
//!   field;
//! - passwords are hashed with argon2id on the bounded hashing pool and never returned,
//!   logged or written to an audit event;
//! - `user_metadata` and `app_metadata` are merged at the top level on update, as Auth0
//!   does: a key set to `null` is removed, and an empty object clears all keys;
//! - blocking, unblocking and deletion change what the user may do, and the store bumps
//!   the tenant's authorization version in the same transaction;
//! - every change appends its audit event in the same transaction: `user.created`,
//!   `user.updated` (the names of the changed fields only), `user.password.changed`,
//!   `user.blocked`, `user.unblocked`, `user.deleted`. The target user's id is the
//!   event's `context.user_id`, so personal data in the event is sealed under that user's
//!   key.

pub mod links;

use clavis_crypto::hash_password;
use clavis_types::{ConnectionStrategy, Email, UserId};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Value, json};
use std::collections::HashMap;

use crate::declarative::Secret;
use crate::model::{Connection, Identity, JsonMap, Page, Tenant, User, UserProfile};
use crate::ports::Tx;
use crate::service::{Core, DEFAULT_CONNECTION, RequestMeta};
use crate::{CoreError, StoreError};

/// Shortest password accepted (as for users created by `clavis apply`).
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Longest password accepted (bounds the hashing work of one request).
pub const MAX_PASSWORD_CHARS: usize = 256;
/// Largest `user_metadata` or `app_metadata`, as serialised JSON.
pub const MAX_METADATA_BYTES: usize = 16 * 1024;
/// Deepest nesting of a metadata value.
const MAX_METADATA_DEPTH: usize = 10;
/// Longest profile text (`name`, `given_name`, …).
const MAX_PROFILE_CHARS: usize = 300;
/// Longest `picture` URL.
const MAX_PICTURE_CHARS: usize = 2048;

/// What an administrator submits to create a user (Auth0's `POST /users`).
#[derive(Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserInput {
    /// The user's address; unique among the tenant's users that are not deleted.
    pub email: String,
    /// Optional initial password (8–256 characters); without one the user cannot log in
    /// with a password until one is set.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Password)]
    pub password: Option<Secret>,
    /// The connection of the user's identity: a database connection — the tenant's
    /// default (`Username-Password-Authentication`) when absent — or an `email`
    /// (passwordless) connection, for a user without a password.
    #[serde(default)]
    pub connection: Option<String>,
    #[serde(default)]
    pub email_verified: bool,
    /// Create the user blocked (unable to log in).
    #[serde(default)]
    pub blocked: bool,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub given_name: Option<String>,
    #[serde(default)]
    pub family_name: Option<String>,
    #[serde(default)]
    pub nickname: Option<String>,
    /// An `https://` (or `http://`) URL.
    #[serde(default)]
    pub picture: Option<String>,
    /// Data the user may edit.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub user_metadata: JsonMap,
    /// Data only applications and administrators may edit.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub app_metadata: JsonMap,
}

/// A change to a user: absent fields stay as they are; a profile field set to `null` is
/// cleared. Metadata objects are merged at the top level (`null` removes a key, `{}`
/// clears all).
#[derive(Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    #[serde(default)]
    pub email: Option<String>,
    /// When the email changes and this is absent, the new address is unverified.
    #[serde(default)]
    pub email_verified: Option<bool>,
    /// A new password (8–256 characters).
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Password)]
    pub password: Option<Secret>,
    /// `true` blocks the user (no login, no token, every decision denied); `false`
    /// unblocks.
    #[serde(default)]
    pub blocked: Option<bool>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub name: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub given_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub family_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub nickname: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub picture: Option<Option<String>>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub user_metadata: Option<JsonMap>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub app_metadata: Option<JsonMap>,
}

/// A present field, `null` included (`Some(None)`), as opposed to an absent one (`None`).
fn nullable<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// One identity of a user, shaped after Auth0's `identities[]`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct IdentityView {
    /// The connection's name.
    pub connection: String,
    pub connection_id: String,
    /// The subject at the connection (for database connections, the user id).
    pub user_id: String,
    /// The connection's strategy.
    pub provider: String,
    #[serde(rename = "isSocial")]
    pub is_social: bool,
}

/// A user as the API shows it. Never a password or its hash.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UserView {
    pub user_id: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub nickname: Option<String>,
    pub picture: Option<String>,
    pub blocked: bool,
    #[schema(value_type = Object)]
    pub user_metadata: JsonMap,
    #[schema(value_type = Object)]
    pub app_metadata: JsonMap,
    pub identities: Vec<IdentityView>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
    /// RFC 3339; `null` before the first login.
    pub last_login: Option<String>,
}

/// A page of users and the total, when asked for.
#[derive(Debug, Clone)]
pub struct UserPage {
    pub users: Vec<UserView>,
    pub total: i64,
}

impl Core {
    /// Create a user with an identity on a database connection (and its password if
    /// given) or on an `email` connection (never a password).
    pub async fn mgmt_user_create(
        &self,
        tenant: &Tenant,
        input: UserInput,
        meta: &RequestMeta,
    ) -> Result<UserView, CoreError> {
        let email = parse_email("email", &input.email)?;
        let profile = UserProfile {
            name: opt_text("name", input.name.as_deref(), MAX_PROFILE_CHARS)?,
            given_name: opt_text("given_name", input.given_name.as_deref(), MAX_PROFILE_CHARS)?,
            family_name: opt_text(
                "family_name",
                input.family_name.as_deref(),
                MAX_PROFILE_CHARS,
            )?,
            nickname: opt_text("nickname", input.nickname.as_deref(), MAX_PROFILE_CHARS)?,
            picture: opt_picture(input.picture.as_deref())?,
            locale: None,
        };
        check_metadata("user_metadata", &input.user_metadata)?;
        check_metadata("app_metadata", &input.app_metadata)?;
        let connection_name = match input.connection.as_deref().map(str::trim) {
            None | Some("") => DEFAULT_CONNECTION.to_owned(),
            Some(c) => text("connection", c, 128)?,
        };
        let hash = match &input.password {
            Some(pw) => Some(self.hash_new_password(pw).await?),
            None => None,
        };
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let connection = tx
            .connection_get_by_name(&tenant.id, &connection_name)
            .await?
            .ok_or_else(|| {
                CoreError::invalid("connection", "no connection of this tenant has that name")
            })?;
        match connection.strategy {
            ConnectionStrategy::Database => {}
            // Passwordless: the user logs in with a code emailed to the address.
            ConnectionStrategy::Email if hash.is_none() => {}
            ConnectionStrategy::Email => {
                return Err(CoreError::invalid(
                    "password",
                    "a user of an email connection logs in with an emailed code and has no password",
                ));
            }
        }
        if tx.user_get_by_email(&tenant.id, &email).await?.is_some() {
            return Err(email_taken());
        }
        let user = User {
            tenant_id: tenant.id.clone(),
            id: UserId::generate(now, &*self.rng),
            email: Some(email.clone()),
            email_verified: input.email_verified,
            profile,
            user_metadata: input.user_metadata,
            app_metadata: input.app_metadata,
            blocked: input.blocked,
            created_at: now,
            updated_at: now,
            last_login_at: None,
            deleted_at: None,
        };
        tx.user_insert(&user).await.map_err(email_conflict)?;
        if let Some(h) = &hash {
            tx.password_set(&tenant.id, &user.id, h, now).await?;
        }
        let identity = Identity {
            tenant_id: tenant.id.clone(),
            user_id: user.id.clone(),
            connection_id: connection.id.clone(),
            subject: user.id.to_string(),
            profile_data: JsonMap::new(),
            created_at: now,
        };
        tx.identity_insert(&identity).await?;
        let mut context = user_context(&user);
        context.insert("email".into(), json!(email.as_str()));
        context.insert("connection".into(), json!(connection.name));
        context.insert("email_verified".into(), json!(user.email_verified));
        context.insert("blocked".into(), json!(user.blocked));
        context.insert("has_password".into(), json!(hash.is_some()));
        let event = self.audit_event(
            &tenant.id,
            "user.created",
            Default::default(),
            None,
            context,
            meta,
        );
        self.audit_in(&mut *tx, event).await?;
        tx.commit().await?;
        Ok(view(&user, &[identity], &[connection]))
    }

    /// One user that is not deleted.
    pub async fn mgmt_user_get(&self, tenant: &Tenant, id: &UserId) -> Result<UserView, CoreError> {
        let mut tx = self.store.read().await?;
        let user = live_user(&mut *tx, tenant, id).await?;
        let connections = all_connections(&mut *tx, tenant).await?;
        let identities = tx.identity_list(&tenant.id, &user.id).await?;
        Ok(view(&user, &identities, &connections))
    }

    /// A page of the tenant's users (oldest first), or the user with `email`.
    pub async fn mgmt_user_list(
        &self,
        tenant: &Tenant,
        email: Option<&str>,
        page: Page,
        with_total: bool,
    ) -> Result<UserPage, CoreError> {
        let mut tx = self.store.read().await?;
        let (users, total) = match email {
            Some(e) => {
                let e = parse_email("email", e)?;
                let found: Vec<User> = tx
                    .user_get_by_email(&tenant.id, &e)
                    .await?
                    .into_iter()
                    .collect();
                let total = i64::try_from(found.len()).unwrap_or(0);
                let skip = usize::try_from(page.offset()).unwrap_or(usize::MAX);
                (found.into_iter().skip(skip).collect(), total)
            }
            None => {
                let users = tx.user_list(&tenant.id, page).await?;
                let total = if with_total {
                    tx.user_count(&tenant.id).await?
                } else {
                    0
                };
                (users, total)
            }
        };
        let connections = all_connections(&mut *tx, tenant).await?;
        let mut out = Vec::with_capacity(users.len());
        for u in &users {
            let identities = tx.identity_list(&tenant.id, &u.id).await?;
            out.push(view(u, &identities, &connections));
        }
        Ok(UserPage { users: out, total })
    }

    /// The users whose address is `email` (Auth0's `GET /users-by-email`): zero or one.
    pub async fn mgmt_users_by_email(
        &self,
        tenant: &Tenant,
        email: &str,
    ) -> Result<Vec<UserView>, CoreError> {
        Ok(self
            .mgmt_user_list(tenant, Some(email), Page::first(), false)
            .await?
            .users)
    }

    /// Change a user. Blocking and unblocking, a new password and other changes each
    /// append their own event, all in one transaction.
    pub async fn mgmt_user_update(
        &self,
        tenant: &Tenant,
        id: &UserId,
        patch: UserPatch,
        meta: &RequestMeta,
    ) -> Result<UserView, CoreError> {
        let hash = match &patch.password {
            Some(pw) => Some(self.hash_new_password(pw).await?),
            None => None,
        };
        let mut tx = self.store.begin().await?;
        let old = live_user(&mut *tx, tenant, id).await?;
        let mut user = old.clone();
        let mut changed: Vec<&str> = Vec::new();
        if let Some(e) = &patch.email {
            let e = parse_email("email", e)?;
            if user.email.as_ref() != Some(&e) {
                if tx
                    .user_get_by_email(&tenant.id, &e)
                    .await?
                    .is_some_and(|other| other.id != user.id)
                {
                    return Err(email_taken());
                }
                user.email = Some(e);
                user.email_verified = false;
                changed.push("email");
            }
        }
        if let Some(v) = patch.email_verified {
            user.email_verified = v;
        }
        if user.email_verified != old.email_verified {
            changed.push("email_verified");
        }
        let p = &mut user.profile;
        for (field, value, slot) in [
            ("name", &patch.name, &mut p.name),
            ("given_name", &patch.given_name, &mut p.given_name),
            ("family_name", &patch.family_name, &mut p.family_name),
            ("nickname", &patch.nickname, &mut p.nickname),
        ] {
            if let Some(v) = value {
                let v = opt_text(field, v.as_deref(), MAX_PROFILE_CHARS)?;
                if *slot != v {
                    *slot = v;
                    changed.push(field);
                }
            }
        }
        if let Some(v) = &patch.picture {
            let v = opt_picture(v.as_deref())?;
            if p.picture != v {
                p.picture = v;
                changed.push("picture");
            }
        }
        for (field, patch_map, slot) in [
            (
                "user_metadata",
                &patch.user_metadata,
                &mut user.user_metadata,
            ),
            ("app_metadata", &patch.app_metadata, &mut user.app_metadata),
        ] {
            if let Some(m) = patch_map {
                let merged = merge_metadata(slot, m);
                check_metadata(field, &merged)?;
                if *slot != merged {
                    *slot = merged;
                    changed.push(field);
                }
            }
        }
        if let Some(b) = patch.blocked {
            user.blocked = b;
        }
        let block_changed = user.blocked != old.blocked;
        if changed.is_empty() && !block_changed && hash.is_none() {
            drop(tx);
            return self.mgmt_user_get(tenant, id).await;
        }
        let now = self.now();
        user.updated_at = now;
        if !tx.user_update(&user).await.map_err(email_conflict)? {
            return Err(CoreError::NotFound("user"));
        }
        if let Some(h) = &hash {
            tx.password_set(&tenant.id, &user.id, h, now).await?;
        }
        let mut events = Vec::new();
        if !changed.is_empty() {
            let mut context = user_context(&user);
            context.insert("changed".into(), json!(changed));
            events.push(("user.updated", context));
        }
        if hash.is_some() {
            events.push(("user.password.changed", user_context(&user)));
        }
        if block_changed {
            let kind = if user.blocked {
                "user.blocked"
            } else {
                "user.unblocked"
            };
            events.push((kind, user_context(&user)));
        }
        for (kind, context) in events {
            let event = self.audit_event(&tenant.id, kind, Default::default(), None, context, meta);
            self.audit_in(&mut *tx, event).await?;
        }
        let connections = all_connections(&mut *tx, tenant).await?;
        let identities = tx.identity_list(&tenant.id, &user.id).await?;
        tx.commit().await?;
        Ok(view(&user, &identities, &connections))
    }

    /// Soft-delete a user: their tokens, sessions and decisions stop working at once (the
    /// store bumps the authorization version), and the address may be used again. The
    /// user leaves every organization (with their team memberships and roles there, which
    /// the store cascades), so a deleted user neither holds a seat under `user_limit` nor
    /// shows among the members; each organization records `organization.member.removed`.
    pub async fn mgmt_user_delete(
        &self,
        tenant: &Tenant,
        id: &UserId,
        meta: &RequestMeta,
    ) -> Result<(), CoreError> {
        let mut tx = self.store.begin().await?;
        let user = live_user(&mut *tx, tenant, id).await?;
        if !tx
            .user_soft_delete(&tenant.id, &user.id, self.now())
            .await?
        {
            return Err(CoreError::NotFound("user"));
        }
        let orgs = tx.member_orgs(&tenant.id, &user.id).await?;
        for o in &orgs {
            if !tx.member_remove(&tenant.id, o, &user.id).await? {
                continue;
            }
            let org = tx.org_get(&tenant.id, o).await?;
            let mut context = user_context(&user);
            context.insert("org_id".into(), json!(o.as_str()));
            context.insert("reason".into(), json!("user.deleted"));
            let event = self.audit_event(
                &tenant.id,
                "organization.member.removed",
                Default::default(),
                org.as_ref().map(super::organizations::audit_org),
                context,
                meta,
            );
            self.audit_in(&mut *tx, event).await?;
        }
        let mut context = user_context(&user);
        context.insert(
            "organizations".into(),
            json!(orgs.iter().map(|o| o.as_str()).collect::<Vec<_>>()),
        );
        let event = self.audit_event(
            &tenant.id,
            "user.deleted",
            Default::default(),
            None,
            context,
            meta,
        );
        self.audit_in(&mut *tx, event).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Check a new password's length and hash it on the bounded pool.
    async fn hash_new_password(&self, pw: &Secret) -> Result<String, CoreError> {
        let n = pw.expose().chars().count();
        if n < MIN_PASSWORD_CHARS {
            return Err(CoreError::invalid(
                "password",
                format!("must be at least {MIN_PASSWORD_CHARS} characters"),
            ));
        }
        if n > MAX_PASSWORD_CHARS {
            return Err(CoreError::invalid(
                "password",
                format!("must be at most {MAX_PASSWORD_CHARS} characters"),
            ));
        }
        let pw = pw.clone();
        let rng = self.rng.clone();
        Ok(self
            .on_hash_pool(move || hash_password(pw.expose(), &*rng))
            .await??)
    }
}

/// The user, unless absent or soft-deleted.
pub(crate) async fn live_user(
    tx: &mut dyn Tx,
    tenant: &Tenant,
    id: &UserId,
) -> Result<User, CoreError> {
    tx.user_get(&tenant.id, id)
        .await?
        .filter(|u| u.deleted_at.is_none())
        .ok_or(CoreError::NotFound("user"))
}

/// Every connection of the tenant (a handful), to name identities.
async fn all_connections(tx: &mut dyn Tx, tenant: &Tenant) -> Result<Vec<Connection>, CoreError> {
    let mut out = Vec::new();
    let mut page = Page::first();
    loop {
        let batch = tx.connection_list(&tenant.id, page).await?;
        let done = batch.len() < page.limit() as usize;
        out.extend(batch);
        if done {
            return Ok(out);
        }
        page = page.next();
    }
}

/// The API's view of a user with their identities.
pub(crate) fn view(user: &User, identities: &[Identity], connections: &[Connection]) -> UserView {
    let by_id: HashMap<&str, &Connection> =
        connections.iter().map(|c| (c.id.as_str(), c)).collect();
    UserView {
        user_id: user.id.to_string(),
        email: user.email.as_ref().map(ToString::to_string),
        email_verified: user.email_verified,
        name: user.profile.name.clone(),
        given_name: user.profile.given_name.clone(),
        family_name: user.profile.family_name.clone(),
        nickname: user.profile.nickname.clone(),
        picture: user.profile.picture.clone(),
        blocked: user.blocked,
        user_metadata: user.user_metadata.clone(),
        app_metadata: user.app_metadata.clone(),
        identities: identities
            .iter()
            .map(|i| {
                let c = by_id.get(i.connection_id.as_str());
                IdentityView {
                    connection: c.map(|c| c.name.clone()).unwrap_or_default(),
                    connection_id: i.connection_id.to_string(),
                    user_id: i.subject.clone(),
                    provider: c.map_or("database", |c| c.strategy.as_str()).to_owned(),
                    is_social: false,
                }
            })
            .collect(),
        created_at: user.created_at.to_rfc3339(),
        updated_at: user.updated_at.to_rfc3339(),
        last_login: user.last_login_at.map(|t| t.to_rfc3339()),
    }
}

/// The context every user event starts from: the target user (the subject whose key
/// seals personal data in the event).
pub(crate) fn user_context(user: &User) -> JsonMap {
    JsonMap::from_iter([("user_id".to_owned(), json!(user.id.as_str()))])
}

fn email_taken() -> CoreError {
    CoreError::Conflict("a user with this email already exists".into())
}

fn email_conflict(e: StoreError) -> CoreError {
    match e {
        StoreError::Conflict(_) => email_taken(),
        other => other.into(),
    }
}

fn parse_email(field: &str, s: &str) -> Result<Email, CoreError> {
    if s.chars().any(char::is_control) {
        return Err(CoreError::invalid(
            field,
            "must not contain control characters",
        ));
    }
    Email::parse(s).map_err(|e| CoreError::invalid(field, e.reason))
}

/// A required text: trimmed, not empty, at most `max` characters, no control characters.
pub(crate) fn text(field: &str, s: &str, max: usize) -> Result<String, CoreError> {
    let s = s.trim();
    if s.is_empty() {
        return Err(CoreError::invalid(field, "must not be empty"));
    }
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
    Ok(s.to_owned())
}

/// An optional text; blank means absent.
fn opt_text(field: &str, s: Option<&str>, max: usize) -> Result<Option<String>, CoreError> {
    match s.map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) => text(field, s, max).map(Some),
    }
}

/// An optional picture URL: `https://` or `http://`, no spaces.
fn opt_picture(s: Option<&str>) -> Result<Option<String>, CoreError> {
    let Some(url) = opt_text("picture", s, MAX_PICTURE_CHARS)? else {
        return Ok(None);
    };
    let lower = url.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"));
    match rest {
        Some(r) if !r.is_empty() && !r.starts_with('/') && !url.contains(char::is_whitespace) => {
            Ok(Some(url))
        }
        _ => Err(CoreError::invalid(
            "picture",
            "must be an https:// or http:// URL without spaces",
        )),
    }
}

/// Bound a metadata object: size, nesting depth, key names.
fn check_metadata(field: &str, m: &JsonMap) -> Result<(), CoreError> {
    let size = serde_json::to_vec(m).map(|v| v.len()).unwrap_or(usize::MAX);
    if size > MAX_METADATA_BYTES {
        return Err(CoreError::invalid(
            field,
            format!("must be at most {MAX_METADATA_BYTES} bytes of JSON"),
        ));
    }
    for (k, v) in m {
        if k.trim().is_empty() || k.chars().count() > 255 {
            return Err(CoreError::invalid(
                field,
                "keys must be 1-255 characters and not blank",
            ));
        }
        if depth(v) > MAX_METADATA_DEPTH {
            return Err(CoreError::invalid(
                format!("{field}.{k}"),
                format!("must not nest deeper than {MAX_METADATA_DEPTH} levels"),
            ));
        }
    }
    Ok(())
}

fn depth(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        Value::Object(o) => 1 + o.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// Auth0's metadata update: top-level keys replace, `null` removes, `{}` clears all.
fn merge_metadata(old: &JsonMap, patch: &JsonMap) -> JsonMap {
    if patch.is_empty() {
        return JsonMap::new();
    }
    let mut out = old.clone();
    for (k, v) in patch {
        if v.is_null() {
            out.remove(k);
        } else {
            out.insert(k.clone(), v.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_merges_at_the_top_level() {
        let old: JsonMap =
            serde_json::from_value(json!({"a": 1, "b": {"x": 1}, "c": 3})).unwrap_or_default();
        let patch: JsonMap =
            serde_json::from_value(json!({"b": {"y": 2}, "c": null, "d": 4})).unwrap_or_default();
        let merged = merge_metadata(&old, &patch);
        assert_eq!(
            Value::Object(merged),
            json!({"a": 1, "b": {"y": 2}, "d": 4})
        );
        assert!(merge_metadata(&old, &JsonMap::new()).is_empty());
    }

    #[test]
    fn pictures_must_be_web_urls() {
        assert!(opt_picture(Some("https://example.com/a.png")).is_ok());
        assert!(opt_picture(Some("javascript:alert(1)")).is_err());
        assert!(opt_picture(Some("https:///x")).is_err());
        assert_eq!(opt_picture(Some("  ")).ok(), Some(None));
    }
}
